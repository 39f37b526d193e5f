"""Reads about templates and runs."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from workloads.choices import ACTIVE_STATES
from workloads.models import Run, RunLogLine, WorkloadTemplate


def template_list() -> QuerySet[WorkloadTemplate]:
    return WorkloadTemplate.objects.all()


def template_get_by_ref(ref: str | int) -> WorkloadTemplate | None:
    ref = str(ref).strip()
    query = Q(slug=ref)
    if ref.isdigit():
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


def recent_runs(limit: int = 5) -> QuerySet[Run]:
    return run_list()[:limit]


def active_run_count() -> int:
    return Run.objects.filter(state__in=ACTIVE_STATES).count()
