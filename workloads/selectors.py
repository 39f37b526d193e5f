"""Reads about templates and runs."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from clusters import gpu
from workloads.choices import ACTIVE_STATES, OutputKind, TemplateKind
from workloads.files import safe_path
from workloads.models import FaceResult, Run, RunEvent, RunLogLine, RunOutput, WorkloadTemplate


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


def run_list_rows() -> QuerySet[Run]:
    """`run_list` with what a row of the runs list shows: its related rows by name only, and
    not the run's handle or rendered manifests, whose JSON cost more to load and decode than
    the rest of a page of 50 runs."""
    return run_list().only(
        "id", "template__slug", "cluster__name", "created_by__username", "params", "state",
        "progress", "error", "created_at", "submitted_at", "started_at", "finished_at",
        "rerun_of",
    )  # fmt: skip


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


@dataclass
class OutputEntry:
    """An output as the run page shows it: named inside the run's output folder, with its .json
    sidecar beside it."""

    output: RunOutput
    name: str
    sidecar: RunOutput | None = None
    sidecar_name: str = ""


def run_output_entries(run: Run) -> list[OutputEntry]:
    """Files first named relative to the folder they share (the run's output folder), each
    `<file>.json` summary folded into its file's entry; streams keep their URL."""
    outputs = list(run.outputs.all())
    files = [o for o in outputs if o.kind != OutputKind.STREAM]
    parents = [str(PurePosixPath(o.path).parent) for o in files]
    try:
        root = posixpath.commonpath(parents) if parents else ""
    except ValueError:  # relative and absolute paths mixed: show them as they are
        root = ""

    def name(output: RunOutput) -> str:
        return posixpath.relpath(output.path, root) if root else output.path

    by_path = {o.path: o for o in files}
    sidecars = {o.path for o in files if o.path.endswith(".json") and o.path[:-5] in by_path}
    entries = []
    for output in outputs:
        if output.path in sidecars:
            continue
        sidecar = by_path.get(output.path + ".json")
        entries.append(
            OutputEntry(output, name(output) if output.kind != OutputKind.STREAM else output.path,
                        sidecar, name(sidecar) if sidecar else "")
        )  # fmt: skip
    return entries


@dataclass
class FaceImage:
    """One photo with every face found in it (boxes as top, right, bottom, left)."""

    image: str
    name: str
    results: list[FaceResult]
    result_id: int  # any of its results: the URL of the photo
    width: int = 0
    height: int = 0

    @property
    def boxes(self) -> list[dict]:
        out = []
        for result in self.results:
            box = result.box
            if isinstance(box, list) and len(box) == 4:
                top, right, bottom, left = (int(v) for v in box)
                out.append({"x": left, "y": top, "w": right - left, "h": bottom - top,
                            "label": result.person or "unknown", "status": result.status})  # fmt: skip
        return out


@dataclass
class FaceImages:
    shown: list[FaceImage]
    total: int  # photos with results


def run_face_images(run: Run, *, limit: int, readable: bool) -> FaceImages:
    """Face results grouped per photo, in order, the first `limit` photos; with `readable` (the
    panel can read the photos: the local cluster) each carries its pixel size so boxes can be
    drawn over it."""
    images: dict[str, FaceImage] = {}
    for result in run.face_results.all():
        entry = images.get(result.image)
        if entry is None:
            entry = images[result.image] = FaceImage(
                result.image, PurePosixPath(result.image).name, [], result.pk
            )
        entry.results.append(result)
    shown = list(images.values())[:limit]
    if readable:
        for entry in shown:
            entry.width, entry.height = image_size(run, entry.image)
    return FaceImages(shown, len(images))


def image_size(run: Run, path: str) -> tuple[int, int]:
    """Width and height from the file's header (no decode); (0, 0) when it cannot be read."""
    try:
        with Image.open(safe_path(run, path)) as image:
            return image.size
    except (Http404, OSError, UnidentifiedImageError, ValueError):
        return 0, 0


def run_stream_rate(run: Run) -> float | None:
    """Frames per second the stream last published (its newest progress event)."""
    event = RunEvent.objects.filter(run=run, kind="progress").order_by("-id").only("data").first()
    fps = (event.data or {}).get("fps") if event is not None else None
    return float(fps) if isinstance(fps, int | float) else None
