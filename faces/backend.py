"""Where the recognition back-end is, and how to talk to it.

The back-end is `media_pipeline faces-serve` run by the `face-recognition-service` template: the
newest running run of it on the cluster FACES_CLUSTER names. On the local cluster each replica
is a process with a port of its own; on Kubernetes the replicas sit behind one Service, reached
through its cluster DNS name from inside the cluster or the API server's service proxy from
outside. The back-end is stateless: it detects and encodes, the panel matches.
"""

from __future__ import annotations

import base64
import json
import random
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import redis
import urllib3
from django.conf import settings

from clusters.selectors import cluster_get_by_ref
from faces.choices import SERVICE_TEMPLATE
from workloads.choices import RunState
from workloads.models import Run


class BackendError(Exception):
    """The back-end could not answer (down, timed out, 5xx): worth trying again later."""


class ImageRejected(Exception):
    """The back-end answered that this image cannot be used (unreadable, not an image, too
    large, not on the volume): retrying cannot help. The message is safe to show."""


@dataclass(frozen=True)
class Endpoint:
    """One back-end address. `name` keys its circuit breaker and stays the same for as long as
    the run that serves it."""

    name: str
    url: str
    # The API server proxy's bearer token: never printed (repr), like clusters.proxy.HttpTarget.
    headers: dict[str, str] = field(default_factory=dict, hash=False, compare=False, repr=False)
    ssl: ssl.SSLContext | bool = field(default=True, hash=False, compare=False)


@dataclass
class DetectedFace:
    box: list[int]
    encoding: np.ndarray


@dataclass
class Detection:
    faces: list[DetectedFace]
    width: int
    height: int
    thumbnail: bytes | None = None


def service_run() -> Run | None:
    """The run serving the back-end: the newest running `face-recognition-service` run."""
    cluster = cluster_get_by_ref(settings.FACES_CLUSTER)
    if cluster is None:
        return None
    return (
        Run.objects.select_related("cluster__credential")
        .filter(template__slug=SERVICE_TEMPLATE, cluster=cluster, state=RunState.RUNNING)
        .order_by("-created_at", "-id")
        .first()
    )


def endpoints(run: Run | None = None) -> list[Endpoint]:
    """Every address of the back-end now; empty while none runs."""
    run = run if run is not None else service_run()
    if run is None or not run.handle:
        return []
    if run.handle.get("runtime") == "local":
        # Keyed by pod name (`run-<id>-serve-<n>`): one circuit per replica process.
        return [
            Endpoint(pod, url.rstrip("/"))
            for pod, url in sorted((run.handle.get("endpoints") or {}).items())
        ]
    from clusters.proxy import service_target
    from clusters.runtimes.manifests import FACE_SERVICE_PORT, object_name

    namespace = run.handle.get("namespace") or run.cluster.namespace
    target = service_target(
        run.cluster, namespace, object_name(run.pk, "serve"), port=FACE_SERVICE_PORT
    )  # the Service spreads the calls over the replicas
    if target is None:
        return []
    name = object_name(run.pk, "serve")
    return [Endpoint(name, target.url.rstrip("/"), target.headers, target.ssl)]


# -- which back-end takes a call -------------------------------------------------------------
INFLIGHT_PREFIX = "faces:inflight"
# Longer than any call may last (the task's hard time limit): a call whose processor was killed
# stops counting after this.
CALL_COUNTED_S = 600

# Atomically, so two processors asking at once do not both take the same idle back-end: drop
# calls too old to be real, pick the back-end with the fewest calls in flight (the first of the
# fewest: the caller shuffles the order), and count this call on it.
_PICK = """
local best, fewest = 1, nil
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[2])
  local n = redis.call('ZCARD', key)
  if fewest == nil or n < fewest then best, fewest = i, n end
end
redis.call('ZADD', KEYS[best], ARGV[1], ARGV[3])
redis.call('EXPIRE', KEYS[best], ARGV[4])
return best
"""


@cache
def redis_client() -> redis.Redis:
    """The face service's Redis (breakers, calls in flight). Bytes, not str: pybreaker's Redis
    storage decodes what it reads itself."""
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )


def _inflight_key(endpoint: Endpoint) -> str:
    return f"{INFLIGHT_PREFIX}:{endpoint.name}"


@contextmanager
def least_busy(endpoints: list[Endpoint]) -> Iterator[Endpoint]:
    """The back-end with the fewest calls in flight from every processor, counted busy until
    the block ends. A random pick left one of two back-ends idle a fifth of the time while
    calls queued on the other (docs/BENCHMARKS.md). Without Redis: a random pick."""
    order = random.sample(endpoints, len(endpoints))
    if len(order) == 1:
        yield order[0]
        return
    client, call, now = redis_client(), uuid.uuid4().hex, time.time()
    keys = [_inflight_key(endpoint) for endpoint in order]
    try:
        index = client.eval(
            _PICK, len(keys), *keys, now, now - CALL_COUNTED_S, call, CALL_COUNTED_S
        )
    except redis.RedisError:
        yield order[0]
        return
    endpoint = order[int(index) - 1]
    try:
        yield endpoint
    finally:
        try:
            client.zrem(_inflight_key(endpoint), call)
        except redis.RedisError:
            pass  # it stops counting after CALL_COUNTED_S


_pools: dict[str, urllib3.PoolManager] = {}
_pools_lock = threading.Lock()


def _pool(endpoint: Endpoint) -> urllib3.PoolManager:
    with _pools_lock:
        pool = _pools.get(endpoint.name)
        if pool is None:
            options: dict = {"retries": False, "maxsize": 8}
            if isinstance(endpoint.ssl, ssl.SSLContext):
                options["ssl_context"] = endpoint.ssl
            pool = _pools[endpoint.name] = urllib3.PoolManager(**options)
        return pool


def _request(endpoint: Endpoint, method: str, path: str, *, body=None, headers=None, timeout=None):
    timeout = timeout or urllib3.Timeout(
        connect=settings.FACES_BACKEND_CONNECT_TIMEOUT, read=settings.FACES_BACKEND_TIMEOUT
    )
    try:
        return _pool(endpoint).request(
            method, endpoint.url + path, body=body,
            headers={**endpoint.headers, **(headers or {})}, timeout=timeout,
        )  # fmt: skip
    except urllib3.exceptions.HTTPError as exc:
        raise BackendError(f"{endpoint.name}: {type(exc).__name__}: {exc}"[:500]) from None


def healthz(endpoint: Endpoint) -> None:
    timeout = urllib3.Timeout(connect=settings.FACES_BACKEND_CONNECT_TIMEOUT, read=5)
    response = _request(endpoint, "GET", "/healthz", timeout=timeout)
    if response.status != 200:
        raise BackendError(f"{endpoint.name}: /healthz answered {response.status}")


def detect(
    endpoint: Endpoint,
    *,
    volume: str = "",
    path: str = "",
    data: bytes | None = None,
    margin: float = 0.0,
    thumbnail: bool = True,
) -> Detection:
    """Faces in one image: by its path on a volume the back-end mounts, or its bytes."""
    query = f"?margin={margin:g}&thumbnail={int(thumbnail)}"
    if data is not None:
        response = _request(
            endpoint, "POST", "/detect" + query, body=data,
            headers={"Content-Type": "application/octet-stream"},
        )  # fmt: skip
    else:
        body = {"volume": volume, "path": path, "margin": margin, "thumbnail": thumbnail}
        response = _request(
            endpoint, "POST", "/detect", body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
    payload = _json(response)
    if response.status in (413, 422):
        raise ImageRejected(
            str(payload.get("error") or f"the back-end refused the image ({response.status})")[
                :1000
            ]
        )
    if response.status != 200:
        raise BackendError(
            f"{endpoint.name}: /detect answered {response.status}: {payload.get('error', '')}"[:500]
        )
    try:
        faces = [
            DetectedFace(
                box=[int(v) for v in face["box"]],
                encoding=np.asarray(face["encoding"], dtype=np.float64).reshape(128),
            )
            for face in payload["faces"]
        ]
        thumb = payload.get("thumbnail")
        return Detection(
            faces=faces, width=int(payload["width"]), height=int(payload["height"]),
            thumbnail=base64.b64decode(thumb) if thumb else None,
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise BackendError(f"{endpoint.name}: unexpected answer: {exc}") from None


def _json(response) -> dict:
    try:
        payload = json.loads(response.data or b"{}")
    except ValueError:
        return {"error": (response.data or b"")[:200].decode("utf-8", "replace")}
    return payload if isinstance(payload, dict) else {}
