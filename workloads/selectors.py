"""Reads about templates and runs."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Q, QuerySet

from clusters import gpu
from workloads.choices import ACTIVE_STATES, TemplateKind
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


def run_log_page(
    *, run: Run, since: int = 0, limit: int = 500, search: str = "", pod: str = ""
) -> list[RunLogLine]:
    lines = RunLogLine.objects.filter(run=run, cursor__gt=since)
    if search:
        lines = lines.filter(text__icontains=search)
    if pod:
        lines = lines.filter(pod=pod)
    return list(lines.order_by("cursor")[:limit])


NO_VOLUME_WARNING = "no volume: outputs will be lost when the pod ends"
# Kinds that write files to their output folder (an emptyDir on Kubernetes without a volume).
WRITES_OUTPUT_FILES = (TemplateKind.LANE_DETECTION,)


def run_warnings(*, kind: str, params: dict, cluster) -> list[str]:
    """What a user should know before a run starts (shown in the form and the API's answer)."""
    warnings = []
    if kind in WRITES_OUTPUT_FILES and not cluster.is_local and not params.get("volume"):
        warnings.append(f"{NO_VOLUME_WARNING} (choose a volume of {cluster.name} to keep them).")
    if kind == TemplateKind.GPU_JOB and params.get("gpus"):
        note = gpu.waiting_note(cluster, gpu.readiness(cluster))
        if note:
            warnings.append(note)
    return warnings


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
