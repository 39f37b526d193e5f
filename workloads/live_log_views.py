"""Download of a run's full stored log, for the live log panel (streamed, never all in memory)."""

from __future__ import annotations

from collections.abc import Iterator

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.views import View

from controlpanel.permissions import RoleRequiredMixin
from workloads.models import Run, RunLogLine

CHUNK = 2000


def _lines(run_id: int) -> Iterator[str]:
    after = 0
    while True:
        rows = list(
            RunLogLine.objects.filter(run_id=run_id, cursor__gt=after)
            .order_by("cursor")
            .values_list("cursor", "time", "pod", "text")[:CHUNK]
        )
        for _cursor, time, pod, text in rows:
            yield f"{time.isoformat()} [{pod}] {text}\n"
        if len(rows) < CHUNK:
            return
        after = rows[-1][0]


class RunLogDownloadView(RoleRequiredMixin, View):
    def get(self, request, pk: int):
        run = get_object_or_404(Run, pk=pk)
        response = StreamingHttpResponse(_lines(run.pk), content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="run-{run.pk}.log"'
        return response
