"""Stores log lines exactly once and turns the pipeline's JSON events into rows.

A batch of lines is stored together with the pod's new read position in one transaction, guarded
by the position it started from: a second monitor reading the same lines finds the position
moved and stores nothing, and a monitor killed mid-batch leaves neither lines nor position.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import PurePath

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from clusters.runtimes.base import LogLine
from workloads.choices import FaceStatus, OutputKind
from workloads.models import FaceResult, Run, RunEvent, RunLogLine, RunOutput, RunPod
from workloads.realtime import event_payload, log_payload, publish_run_messages, state_payload


class PositionMoved(Exception):
    """Another monitor stored these lines first; this one must stop."""


def _event_of(text: str) -> dict | None:
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("event"), str) else None


def _event_time(data: dict) -> datetime:
    try:
        return datetime.fromtimestamp(float(data["time"]), UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return timezone.now()


@transaction.atomic
def store_lines(
    *, run_id: int, pod_id: int, lines: list[LogLine], from_position: int, local_outputs: bool
) -> int:
    """Store `lines` (read from `from_position`) and their events; returns how many were stored."""
    if not lines:
        return 0
    moved = RunPod.objects.filter(pk=pod_id, log_position=from_position).update(
        log_position=lines[-1].position
    )
    if not moved:
        raise PositionMoved(f"pod {pod_id} is no longer at {from_position}")
    run = Run.objects.select_for_update().get(pk=run_id)
    pod = RunPod.objects.get(pk=pod_id)
    now = timezone.now()
    rows = [
        RunLogLine(
            run=run,
            cursor=run.log_cursor + offset,
            pod=pod.name,
            text=line.text[:100_000],
            time=now,
        )
        for offset, line in enumerate(lines, start=1)
    ]
    RunLogLine.objects.bulk_create(rows)
    run.log_cursor += len(rows)
    messages = [log_payload(row) for row in rows]
    events = []
    expected = _expected_pods(run)
    others = RunPod.objects.filter(run=run).exclude(pk=pod.pk).aggregate(total=Sum("progress"))
    for row in rows:
        data = _event_of(row.text)
        if data is not None:
            _apply_event(run, pod, data, local_outputs)
            events.append(RunEvent(
                run=run, kind=data["event"], data=data, pod=pod.name, time=_event_time(data),
                log_cursor=row.cursor,
                progress=_percent((others["total"] or 0) + pod.progress, expected),
            ))  # fmt: skip
    RunEvent.objects.bulk_create(events)
    messages += [event_payload(event) for event in events]
    pod.save(update_fields=["files_total", "files_done", "progress"])
    progress = int(_percent((others["total"] or 0) + pod.progress, expected))
    fields = ["log_cursor"]
    if progress != run.progress:
        run.progress = progress
        fields.append("progress")
        messages.append(state_payload(run))
    run.save(update_fields=fields)
    publish_run_messages(run.pk, messages)
    return len(rows)


def _expected_pods(run: Run) -> int:
    """How many pods the run will have (known from the handle)."""
    return max(len(run.handle.get("pods", [])), run.handle.get("expected_pods", 0), 1)


def _percent(total: float, expected: int) -> float:
    """The run's progress: the average of its pods' over the pods it will have."""
    return max(0.0, min(100.0, round(total / expected, 2)))


def _apply_event(run: Run, pod: RunPod, data: dict, local_outputs: bool) -> None:
    kind = data["event"]
    command = data.get("command", "")
    if kind == "start":
        inputs = data.get("inputs")
        pod.files_total = len(inputs) if isinstance(inputs, list) else 0
    elif kind == "progress":
        frames = data.get("frames") or 0
        frame = data.get("frame") or 0
        fraction = min(frame / frames, 1.0) if frames else 0.0
        if data.get("stage") == "known":  # encoding the known faces: not yet the images
            fraction = 0.0
        pod.progress = _pod_progress(pod, fraction)
    elif kind == "output":
        path = str(data.get("path", ""))
        if data.get("kind") == "summary":
            pod.files_done += 1
            pod.progress = _pod_progress(pod, 0.0)
        if path:
            _store_output(run, pod, data, path, local_outputs)
    elif kind == "result" and command == "faces":
        _store_faces(run, pod, data)
        pod.files_done += 1
        pod.progress = _pod_progress(pod, 0.0)
    elif kind == "error" and data.get("file"):
        if command == "faces":
            FaceResult.objects.create(run=run, pod=pod.name, image=str(data["file"]),
                                      status=FaceStatus.ERROR, person=str(data.get("reason", ""))[:200])  # fmt: skip
        pod.files_done += 1
        pod.progress = _pod_progress(pod, 0.0)
    elif kind == "done":
        pod.progress = 100.0
    if kind == "start" and data.get("stream"):
        _store_output(run, pod, {"kind": "stream"}, str(data["stream"]), False)


def _pod_progress(pod: RunPod, fraction: float) -> float:
    if not pod.files_total:
        return pod.progress
    return min(99.0, 100.0 * (pod.files_done + fraction) / pod.files_total)


def _store_output(run: Run, pod: RunPod, data: dict, path: str, local_outputs: bool) -> None:
    kind = data.get("kind")
    kind = kind if kind in OutputKind.values else OutputKind.FILE
    RunOutput.objects.get_or_create(
        run=run, path=path,
        defaults={
            "kind": kind, "pod": pod.name, "source": str(data.get("file", "")),
            "local_path": path if local_outputs and PurePath(path).is_absolute() else "",
            "url": path if kind == OutputKind.STREAM else "",
        },
    )  # fmt: skip


def _store_faces(run: Run, pod: RunPod, data: dict) -> None:
    image = str(data.get("image") or data.get("file") or "")
    faces = data.get("faces") or []
    if not faces:
        FaceResult.objects.create(run=run, pod=pod.name, image=image, status=FaceStatus.NO_FACE)
    for face in faces:
        person = face.get("person") or ""
        FaceResult.objects.create(
            run=run, pod=pod.name, image=image, person=person,
            status=FaceStatus.IDENTIFIED if person else FaceStatus.UNKNOWN,
            distance=face.get("distance"), box=face.get("box"),
        )  # fmt: skip
