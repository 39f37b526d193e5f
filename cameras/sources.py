"""Where the web process pulls a camera's MJPEG from.

- A camera with an http(s) source URL: that URL.
- A camera-stream run on the local cluster: the loopback endpoint the runtime recorded.
- A camera-stream run on Kubernetes: the run's Service. Straight to the Service's cluster DNS
  name on the cluster the panel runs in ("this cluster"), otherwise through the API server's
  service proxy with the cluster's stored credential (clusters/proxy.py).
"""

from __future__ import annotations

from cameras.models import Camera
from clusters.proxy import HttpTarget, service_target
from workloads.choices import ACTIVE_STATES, OutputKind
from workloads.models import Run

STREAM_PATH = "/stream.mjpg"
# Where the relay pulls from: a URL, with the headers and SSL context to use (clusters.proxy).
StreamTarget = HttpTarget


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
    return service_target(run.cluster, namespace, service, port=STREAM_PORT, path=STREAM_PATH)


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
