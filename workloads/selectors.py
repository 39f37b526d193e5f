"""Reads about templates and runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.utils import timezone

from workloads.choices import ACTIVE_STATES
from workloads.models import Run, RunLogLine, WorkloadTemplate


def template_list() -> QuerySet[WorkloadTemplate]:
    return WorkloadTemplate.objects.all()


def template_get_by_ref(ref: str | int) -> WorkloadTemplate | None:
    ref = str(ref).strip()
    query = Q(slug=ref)
    if ref.isdecimal():  # isdigit() passes "²", which int() refuses
        query |= Q(pk=int(ref))
    return WorkloadTemplate.objects.filter(query).first()


def run_list() -> QuerySet[Run]:
    return Run.objects.select_related("template", "cluster", "created_by")


def run_detail(pk: int) -> Run | None:
    return run_list().prefetch_related("pods", "outputs", "face_results").filter(pk=pk).first()


def run_manifests_yaml(run: Run) -> str:
    """What the panel sent to start the run, as YAML, with credentials redacted."""
    from clusters.explorer.redact import as_yaml, redact

    return "---\n".join(as_yaml(redact(obj)[0]) for obj in run.manifests)


def run_explorer_selector(run: Run) -> tuple[str, str]:
    """Where the run's objects are on its cluster: (namespace, label selector)."""
    from clusters.runtimes.manifests import run_selector

    return run.handle.get("namespace", run.cluster.namespace), run_selector(run.pk)


def run_log_page(
    *, run: Run, since: int = 0, limit: int = 500, search: str = "", pod: str = ""
) -> list[RunLogLine]:
    lines = RunLogLine.objects.filter(run=run, cursor__gt=since)
    if search:
        lines = lines.filter(text__icontains=search)
    if pod:
        lines = lines.filter(pod=pod)
    return list(lines.order_by("cursor")[:limit])


def recent_runs(limit: int = 5) -> QuerySet[Run]:
    return run_list()[:limit]


def active_run_count() -> int:
    return Run.objects.filter(state__in=ACTIVE_STATES).count()


LOG_TEXT_CHUNK = 2000


def run_log_text(run_id: int) -> Iterator[str]:
    """The run's stored log as text lines, read in chunks so a long log is never all in memory."""
    after = 0
    while True:
        rows = list(
            RunLogLine.objects.filter(run_id=run_id, cursor__gt=after)
            .order_by("cursor")
            .values_list("cursor", "time", "pod", "text")[:LOG_TEXT_CHUNK]
        )
        for _cursor, time, pod, text in rows:
            yield f"{time.isoformat()} [{pod}] {text}\n"
        if len(rows) < LOG_TEXT_CHUNK:
            return
        after = rows[-1][0]


def run_counts_by_state_and_template() -> list[tuple[str, str, int]]:
    """(state, template slug, runs) for every pair that has runs."""
    rows = (
        Run.objects.values_list("state", "template__slug")
        .annotate(n=Count("pk"))
        .order_by("state", "template__slug")
    )
    return [(state, slug, n) for state, slug, n in rows]


def run_duration_histogram(bounds: tuple[float, ...]) -> tuple[list[int], int, float]:
    """Finished runs' durations (started to finished) as cumulative bucket counts for `bounds`
    (seconds), their number and their sum, in one query."""
    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    finished = Run.objects.filter(started_at__isnull=False, finished_at__isnull=False).annotate(
        duration=duration
    )
    aggregates = {
        f"le{i}": Count("pk", filter=Q(duration__lte=timedelta(seconds=bound)))
        for i, bound in enumerate(bounds)
    }
    row = finished.aggregate(total=Count("pk"), seconds=Sum("duration"), **aggregates)
    total_seconds = row["seconds"].total_seconds() if row["seconds"] else 0.0
    return [row[f"le{i}"] for i in range(len(bounds))], row["total"], total_seconds


def log_lines_stored() -> int:
    """Lines stored for the runs the panel keeps (each run's cursor counts its lines)."""
    return Run.objects.aggregate(n=Sum("log_cursor"))["n"] or 0


def monitor_lags() -> list[tuple[int, str, float]]:
    """(run id, template slug, seconds) for every active run: how far its stored log is behind
    the newest line its monitor has read (the monitor reports it through Redis every second),
    or, when the monitor has stopped renewing its lease for longer than that (dead, stuck),
    the seconds since it last did (since the submission while no monitor has reported)."""
    import redis

    from workloads.monitor import lag_key

    now = timezone.now()
    rows = list(
        Run.objects.filter(state__in=ACTIVE_STATES).values_list(
            "pk", "template__slug", "monitor_seen_at", "submitted_at", "created_at"
        )
    )
    reported: list = [None] * len(rows)
    if rows:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5
        )
        try:
            reported = client.mget([lag_key(pk) for pk, *_ in rows])
        except redis.RedisError:
            pass  # the heartbeats alone, then
        finally:
            client.close()
    return [
        (pk, slug, max(float(backlog or 0), (now - (seen or submitted or created)).total_seconds()))
        for (pk, slug, seen, submitted, created), backlog in zip(rows, reported, strict=True)
    ]
