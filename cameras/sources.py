"""Where the web process pulls a camera's MJPEG from.

- A camera with an http(s) source URL: that URL.
- A camera-stream run on the local cluster: the loopback endpoint the runtime recorded.
- A camera-stream run on Kubernetes: the run's Service. Straight to the Service's cluster DNS
  name when the panel itself runs in the cluster (KUBERNETES_SERVICE_HOST is set), otherwise
  through the API server's service proxy with the cluster's stored credential.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field

from cameras.models import Camera
from workloads.choices import ACTIVE_STATES, OutputKind
from workloads.models import Run

STREAM_PATH = "/stream.mjpg"


@dataclass
class StreamTarget:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    ssl: ssl.SSLContext | bool = True


def _local_target(run: Run) -> StreamTarget | None:
    endpoints = run.handle.get("endpoints") or {}
    for url in endpoints.values():
        return StreamTarget(url.rstrip("/") + STREAM_PATH)
    output = run.outputs.filter(kind=OutputKind.STREAM).exclude(url="").first()
    return StreamTarget(output.url) if output else None


def _kubernetes_target(run: Run) -> StreamTarget | None:
    from clusters.runtimes.manifests import STREAM_PORT, object_name

    namespace = run.handle.get("namespace") or run.cluster.namespace
    service = object_name(run.pk, "stream")
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return StreamTarget(f"http://{service}.{namespace}.svc:{STREAM_PORT}{STREAM_PATH}")
    return api_server_proxy_target(run.cluster, namespace, service)


def api_server_proxy_target(cluster, namespace: str, service: str) -> StreamTarget | None:
    """The Service's MJPEG through the API server (needs `services/proxy` get)."""
    from clusters import kubeconfig as kubeconfig_mod
    from clusters.services import _kubeconfig_of

    if cluster.credential is None:
        return None
    client = kubeconfig_mod.api_client(_kubeconfig_of(cluster.credential))
    config = client.configuration
    headers = {}
    token = config.api_key.get("authorization") or config.api_key.get("BearerToken")
    if token:
        headers["Authorization"] = (
            token if token.lower().startswith("bearer ") else f"Bearer {token}"
        )
    context: ssl.SSLContext | bool = True
    if config.host.startswith("https"):
        if config.verify_ssl:
            context = ssl.create_default_context(cafile=config.ssl_ca_cert or None)
        else:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if config.cert_file:
            context.load_cert_chain(config.cert_file, config.key_file)
    url = (
        f"{config.host.rstrip('/')}/api/v1/namespaces/{namespace}/services/"
        f"{service}:http/proxy{STREAM_PATH}"
    )
    return StreamTarget(url, headers, context)


def camera_stream_target(camera_id: int) -> StreamTarget | None:
    """Where to pull camera `camera_id` from now, or None while its stream is not running."""
    camera = Camera.objects.select_related("run__cluster__credential").filter(pk=camera_id).first()
    if camera is None:
        return None
    if camera.source_url.startswith(("http://", "https://")):
        return StreamTarget(camera.source_url)
    run = camera.run
    if run is None or run.state not in ACTIVE_STATES:
        return None
    if run.handle.get("runtime") == "local":
        return _local_target(run)
    if run.handle:
        return _kubernetes_target(run)
    return None
