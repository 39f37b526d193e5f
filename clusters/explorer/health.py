"""A cluster's health history: every periodic check's result, kept for a while, drawn as a
small SVG chart (status band and API latency) on the cluster page."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from clusters.choices import ClusterStatus
from clusters.models import Cluster, ClusterHealthCheck

# The chart shows this many of the newest checks (almost five hours at one check a minute).
CHART_POINTS = 288
CHART_WIDTH, CHART_HEIGHT, BAND = 600, 90, 14
STATUS_COLOURS = {
    ClusterStatus.HEALTHY: "#2e9d5b",
    ClusterStatus.DEGRADED: "#d69a1a",
    ClusterStatus.UNREACHABLE: "#c0392b",
    ClusterStatus.UNAUTHORIZED: "#8e44ad",
    ClusterStatus.ERROR: "#c0392b",
}


def check_record(*, cluster: Cluster, status: str, nodes: list[dict], latency_ms: int | None,
                 error: str = "") -> ClusterHealthCheck:  # fmt: skip
    """Keep one check's result and forget those older than HEALTH_HISTORY_DAYS."""
    check = ClusterHealthCheck.objects.create(
        cluster=cluster,
        checked_at=timezone.now(),
        status=status,
        nodes=len(nodes),
        ready_nodes=sum(1 for node in nodes if node.get("ready")),
        latency_ms=latency_ms,
        error=error[:2000],
    )
    cutoff = timezone.now() - timedelta(days=settings.HEALTH_HISTORY_DAYS)
    ClusterHealthCheck.objects.filter(cluster=cluster, checked_at__lt=cutoff).delete()
    return check


def history(cluster: Cluster, limit: int = CHART_POINTS) -> list[ClusterHealthCheck]:
    """The newest checks, oldest first."""
    newest: QuerySet = ClusterHealthCheck.objects.filter(cluster=cluster).order_by("-checked_at")
    return list(reversed(newest[:limit]))


def chart(cluster: Cluster) -> dict | None:
    """What the template draws: one coloured bar per check, a latency polyline, the scale."""
    checks = history(cluster)
    if not checks:
        return None
    step = CHART_WIDTH / max(len(checks), 1)
    top = max([c.latency_ms or 0 for c in checks] + [1])
    plot = CHART_HEIGHT - BAND - 4
    bars, points = [], []
    for i, check in enumerate(checks):
        x = round(i * step, 1)
        bars.append({
            "x": x, "width": max(round(step, 1), 1),
            "colour": STATUS_COLOURS.get(check.status, "#999"),
            "title": f"{check.checked_at:%Y-%m-%d %H:%M} {check.status}"
                     f"{f' {check.latency_ms} ms' if check.latency_ms is not None else ''}"
                     f" {check.ready_nodes}/{check.nodes} nodes ready",
        })  # fmt: skip
        if check.latency_ms is not None:
            y = round(plot - plot * check.latency_ms / top, 1)
            points.append(f"{round(x + step / 2, 1)},{y}")
    return {
        "bars": bars, "points": " ".join(points), "width": CHART_WIDTH, "height": CHART_HEIGHT,
        "band_y": CHART_HEIGHT - BAND, "band": BAND, "top_ms": top, "count": len(checks),
        "first": checks[0].checked_at, "last": checks[-1].checked_at,
        "healthy": sum(1 for c in checks if c.status == ClusterStatus.HEALTHY),
    }  # fmt: skip
