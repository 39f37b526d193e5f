"""Numbers a run prints, as series to chart: progress and throughput from the pipeline's events,
and the `<name> ... <value>` lines a template declares (seed 004's training prints "Accuracy at
step 10: 0.674": accuracy against step).

Charts are plain SVG drawn on the server (no script, no library): a polyline scaled into a
fixed viewBox, with the ranges written beside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.core.cache import cache

from workloads.models import Run, RunEvent, RunLogLine

MAX_POINTS = 400  # drawn; longer series are thinned evenly (first and last kept)
MAX_LINES = 20_000  # newest matching lines read per metric
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
WIDTH, HEIGHT = 320, 120
CACHE_S = 600


@dataclass
class Series:
    name: str
    x_label: str
    y_label: str
    points: list[tuple[float, float]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"name": self.name, "x": self.x_label, "y": self.y_label,
                "points": [[x, y] for x, y in self.points]}  # fmt: skip


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= MAX_POINTS:
        return points
    step = (len(points) - 1) / (MAX_POINTS - 1)
    return [points[round(i * step)] for i in range(MAX_POINTS)]


def event_series(run: Run) -> list[Series]:
    """Progress (%) and throughput (frames or images per second) against seconds since the
    first event, from the pipeline's progress events."""
    # A long run has tens of thousands of events and a chart draws MAX_POINTS: read every id
    # (cheap), then the four numbers of evenly spaced ones only, never each event's whole JSON.
    events = RunEvent.objects.filter(run=run, kind__in=("progress", "done"))
    ids = list(events.order_by("time", "id").values_list("id", flat=True)[:MAX_LINES])
    if len(ids) > MAX_POINTS:
        step = (len(ids) - 1) / (MAX_POINTS - 1)
        ids = [ids[round(i * step)] for i in range(MAX_POINTS)]
    rows = list(
        events.filter(id__in=ids).order_by("time", "id")
        .values_list("time", "data__stage", "progress", "data__frame", "data__frames", "data__fps")
    )  # fmt: skip
    if not rows:
        return []
    start = rows[0][0]
    progress = Series("progress", "seconds", "%")
    rate = Series("throughput", "seconds", "per second")
    for time, stage, percent, frame, frames, fps in rows:
        if stage == "known":
            continue
        seconds = round((time - start).total_seconds(), 3)
        if percent is not None:
            progress.points.append((seconds, percent))
        elif isinstance(frame, int | float) and isinstance(frames, int | float) and frames:
            # Stored before events carried the run's progress: the file's own is all there is.
            progress.points.append((seconds, round(100.0 * min(frame / frames, 1.0), 2)))
        if isinstance(fps, int | float):
            rate.points.append((seconds, float(fps)))
    return [s for s in (progress, rate) if s.points]


def parse_metric(name: str, text: str) -> tuple[float | None, float] | None:
    """(step, value) of a `<name> ... <value>` line: the value is the line's last number and the
    step the first number between the name and it ("Accuracy at step 10: 0.674" -> (10, 0.674));
    None when the line does not name the metric or has no number after it."""
    match = re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text, re.IGNORECASE)
    if match is None:
        return None
    numbers = NUMBER.findall(text[match.end() :])
    if not numbers:
        return None
    value = float(numbers[-1])
    return (float(numbers[0]) if len(numbers) > 1 else None), value


def declared_series(run: Run, names: list[str]) -> list[Series]:
    out = []
    for name in names:
        texts = list(
            RunLogLine.objects.filter(run=run, text__icontains=name).order_by("-cursor")
            .values_list("text", flat=True)[:MAX_LINES]
        )  # fmt: skip
        series = Series(name, "step", name)
        for index, text in enumerate(reversed(texts)):
            parsed = parse_metric(name, text)
            if parsed is not None:
                step, value = parsed
                series.points.append((step if step is not None else float(index), value))
        if series.points:
            out.append(series)
    return out


def run_metrics(run: Run) -> list[Series]:
    """Every series of the run: declared ones first, then the pipeline's. Kept until the run
    stores another line (the page asks every 2 s, each viewer; a long run has 100,000 lines)."""
    names = [n for n in run.params.get("metrics") or [] if isinstance(n, str)]
    key = f"run-metrics:{run.pk}:{run.created_at.timestamp()}:{run.log_cursor}:{run.state}:{'|'.join(names)}"
    found = cache.get(key)
    if found is None:
        found = [*declared_series(run, names), *event_series(run)]
        cache.set(key, found, CACHE_S)
    return found


@dataclass
class Chart:
    """A series scaled into the SVG viewBox."""

    series: Series
    polyline: str
    x_min: float
    x_max: float
    y_min: float
    y_max: float
    last: float
    width: int = WIDTH
    height: int = HEIGHT


def chart(series: Series) -> Chart:
    points = _thin(series.points)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_min, x_max, y_min, y_max = min(xs), max(xs), min(ys), max(ys)
    if series.y_label == "%":
        y_min, y_max = 0.0, 100.0
    x_span, y_span = (x_max - x_min) or 1.0, (y_max - y_min) or 1.0
    scaled = " ".join(
        f"{(x - x_min) / x_span * WIDTH:.1f},{HEIGHT - (y - y_min) / y_span * HEIGHT:.1f}"
        for x, y in points
    )
    return Chart(series, scaled, x_min, x_max, y_min, y_max, ys[-1])


def run_charts(run: Run) -> list[Chart]:
    return [chart(series) for series in run_metrics(run)]
