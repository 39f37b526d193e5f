"""Prometheus metrics of the panel (`/metrics`, docs/monitoring.md).

Request counts and latencies are counted in this process by `metrics_middleware`; everything else
is read when Prometheus scrapes, from the database and Redis, so every web process reports the
same panel-wide values and nothing is lost when a process restarts. A part whose store is away
(Redis down) is left out of that scrape and counted in `controlpanel_metrics_errors_total`.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Callable, Iterator

import redis
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseForbidden
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.process_collector import ProcessCollector

from cameras.selectors import relay_stats
from clusters.azure.selectors import operations_in_progress
from clusters.selectors import cluster_statuses
from core.networks import address_in, networks
from core.services import client_address
from faces.selectors import breaker_states, image_counts
from workloads.selectors import (
    log_lines_stored,
    monitor_lags,
    run_counts_by_state_and_template,
    run_duration_histogram,
)

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
REQUESTS = Counter(
    "controlpanel_http_requests",
    "HTTP requests answered by this web process, by view, method and status.",
    ["view", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "controlpanel_http_request_duration_seconds",
    "Time to answer an HTTP request in this web process, by view.",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
RUN_DURATION_BUCKETS = (10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600)
BREAKER_STATES = ("closed", "half-open", "open")
# Kombu's Redis transport keeps a queue's messages of priority p in "<queue>\x06\x16<p>".
QUEUE_PRIORITY_KEYS = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def _view_name(request) -> str:
    match = getattr(request, "resolver_match", None)
    # Unmatched paths share one label: scanners must not grow the series without bound.
    return match.view_name if match is not None and match.view_name else "unmatched"


def metrics_middleware(get_response: Callable):
    """Counts and times every HTTP request by the view that answered it."""

    def record(request, response, started: float) -> None:
        view = _view_name(request)
        REQUESTS.labels(view, request.method, str(response.status_code)).inc()
        LATENCY.labels(view).observe(time.perf_counter() - started)

    if iscoroutinefunction(get_response):

        async def middleware(request):
            started = time.perf_counter()
            response = await get_response(request)
            record(request, response, started)
            return response

        markcoroutinefunction(middleware)
        return middleware

    def middleware(request):
        started = time.perf_counter()
        response = get_response(request)
        record(request, response, started)
        return response

    return middleware


metrics_middleware.sync_capable = True
metrics_middleware.async_capable = True


def _queue_lengths() -> dict[str, int]:
    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=5
    )
    try:
        pipe = client.pipeline(transaction=False)
        names = [queue.name for queue in settings.CELERY_TASK_QUEUES]
        for name in names:
            for suffix in QUEUE_PRIORITY_KEYS:
                pipe.llen(name + suffix)
        lengths = pipe.execute()
    finally:
        client.close()
    step = len(QUEUE_PRIORITY_KEYS)
    return {name: sum(lengths[i * step : (i + 1) * step]) for i, name in enumerate(names)}


class PanelCollector:
    """Panel-wide state, read at each scrape."""

    def __init__(self) -> None:
        self.errors: dict[str, int] = {}

    def collect(self) -> Iterator:
        for part in (self._runs, self._monitors, self._cameras, self._faces, self._breakers,
                     self._queues, self._azure, self._clusters):  # fmt: skip
            self.errors.setdefault(part.__name__.strip("_"), 0)
            try:
                yield from list(part())
            # Any failure of one part (a store away, a cluster's API for the back-end's
            # addresses) leaves that part out; the scrape goes on.
            except Exception as exc:  # noqa: BLE001
                name = part.__name__.strip("_")
                self.errors[name] = self.errors.get(name, 0) + 1
                logger.warning("metrics: %s left out of this scrape: %s", name, type(exc).__name__)
        errors = CounterMetricFamily(
            "controlpanel_metrics_errors",
            "Scrapes that left a part out because its store (database, Redis) did not answer.",
            labels=["part"],
        )
        for name, count in sorted(self.errors.items()):
            errors.add_metric([name], count)
        yield errors

    def _runs(self):
        runs = GaugeMetricFamily(
            "controlpanel_runs",
            "Runs by state and workload template.",
            labels=["state", "template"],
        )
        for state, template, count in run_counts_by_state_and_template():
            runs.add_metric([state, template], count)
        yield runs
        buckets, count, total = run_duration_histogram(RUN_DURATION_BUCKETS)
        duration = HistogramMetricFamily(
            "controlpanel_run_duration_seconds",
            "How long finished runs ran (started to finished).",
        )
        duration.add_metric(
            [], [(str(float(b)), n) for b, n in zip(RUN_DURATION_BUCKETS, buckets, strict=True)]
            + [("+Inf", count)], total,
        )  # fmt: skip
        yield duration
        yield GaugeMetricFamily(
            "controlpanel_log_lines_stored",
            "Log lines stored for the runs the panel keeps.",
            value=log_lines_stored(),
        )

    def _monitors(self):
        lag = GaugeMetricFamily(
            "controlpanel_monitor_lag_seconds",
            "Per active run: seconds its stored log is behind the newest line its monitor read, "
            "or since the monitor last renewed its lease when it stopped (dead, stuck).",
            labels=["run", "template"],
        )
        for run_id, template, seconds in monitor_lags():
            lag.add_metric([str(run_id), template], seconds)
        yield lag

    def _cameras(self):
        stats = relay_stats()
        yield GaugeMetricFamily(
            "controlpanel_cameras_live", "Cameras a web process is pulling now.", value=len(stats)
        )
        fps = GaugeMetricFamily(
            "controlpanel_camera_fps",
            "Frames per second relayed, per live camera.",
            labels=["camera"],
        )
        latency = GaugeMetricFamily(
            "controlpanel_camera_latency_seconds",
            "From a frame's capture (as its source stamped it) to the relay, per live camera.",
            labels=["camera"],
        )
        for camera_id, (rate, seconds) in sorted(stats.items()):
            fps.add_metric([str(camera_id)], rate)
            latency.add_metric([str(camera_id)], seconds)
        yield fps
        yield latency

    def _faces(self):
        images = GaugeMetricFamily(
            "controlpanel_face_images", "Face images by status.", labels=["status"]
        )
        for status, count in image_counts().items():
            images.add_metric([status], count)
        yield images

    def _breakers(self):
        state = GaugeMetricFamily(
            "controlpanel_faces_breaker_state",
            "The face back-end's circuit breaker per address: 1 for its current state.",
            labels=["backend", "state"],
        )
        for backend, current in breaker_states():
            for name in BREAKER_STATES:
                state.add_metric([backend, name], 1 if current == name else 0)
        yield state

    def _queues(self):
        lengths = GaugeMetricFamily(
            "controlpanel_celery_queue_length",
            "Tasks waiting on each Celery queue (not yet taken by a worker).",
            labels=["queue"],
        )
        for name, length in _queue_lengths().items():
            lengths.add_metric([name], length)
        yield lengths

    def _azure(self):
        operations = GaugeMetricFamily(
            "controlpanel_azure_operations_in_progress",
            "Azure operations queued or running, by kind.",
            labels=["kind"],
        )
        for kind, count in sorted(operations_in_progress().items()):
            operations.add_metric([kind], count)
        yield operations

    def _clusters(self):
        status = GaugeMetricFamily(
            "controlpanel_cluster_status",
            "Each cluster's status from its last health check: 1 for the current one.",
            labels=["cluster", "kind", "status"],
        )
        for name, kind, current in cluster_statuses():
            status.add_metric([name, kind, current], 1)
        yield status


REGISTRY.register(PanelCollector())


def _allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        if hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode()):
            return True
    allowed = networks("METRICS_ALLOWED_NETWORKS", tuple(settings.METRICS_ALLOWED_NETWORKS))
    address = client_address(request.META)
    if allowed and address:
        return address_in(ipaddress.ip_address(address), allowed)
    return False


def metrics_view(request):
    """The Prometheus text format, for a bearer token or a listed network only."""
    if not settings.METRICS_TOKEN and not settings.METRICS_ALLOWED_NETWORKS:
        raise Http404("metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS")
    if not _allowed(request):
        return HttpResponseForbidden(
            "metrics: give the bearer token or scrape from a listed network"
        )
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
