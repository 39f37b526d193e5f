"""`python -m media_pipeline faces`: identify the people in images against a known folder."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from media_pipeline.events import EventWriter, ProgressClock
from media_pipeline.face_cache import EncodingCache
from media_pipeline.faces import DEFAULT_TOLERANCE, identify_image, load_known
from media_pipeline.inputs import expand


@dataclass
class FaceOptions:
    known: Path
    images: list[str]
    tolerance: float = DEFAULT_TOLERANCE
    cache_dir: Path | None = None  # None: no on-disk cache
    shard: tuple[int, int] = (0, 1)  # (index, count): this process takes items[index::count]


def run(options: FaceOptions, events: EventWriter) -> int:
    index, count = options.shard
    items = expand(options.images, kinds=frozenset({"image"}))[index::count]
    events.emit(
        "start",
        known=str(options.known),
        inputs=[str(i.path) for i in items],
        tolerance=options.tolerance,
        cache=str(options.cache_dir) if options.cache_dir else None,
        shard=[index, count],
    )
    totals = {"images": 0, "faces": 0, "identified": 0, "unknown": 0}
    if not options.known.is_dir():
        events.error(str(options.known), "known-faces folder does not exist")
        events.emit("done", **totals, known_faces=0, errors=events.errors)
        return 1
    started = time.perf_counter()
    cache = EncodingCache(options.cache_dir)
    clock = ProgressClock()

    def known_progress(done: int, total: int, image: Path) -> None:
        # Encoding a large known folder for the first time takes minutes: keep reporting.
        if clock.due():
            events.emit("progress", stage="known", file=str(image), frame=done, frames=total)

    matcher = load_known(
        options.known,
        cache,
        on_error=lambda path, reason: events.error(str(path), reason),
        on_progress=known_progress,
    )
    events.log(
        f"faces: {len(matcher)} known faces of {len(set(matcher.labels))} people in "
        f"{time.perf_counter() - started:.2f}s (cache: {cache.hits} hits, {cache.misses} encoded)"
    )
    events.emit(
        "progress",
        stage="known",
        file=str(options.known),
        frame=0,
        frames=len(items),
        known_faces=len(matcher),
        people=sorted(set(matcher.labels)),
        cache_hits=cache.hits,
        cache_misses=cache.misses,
    )
    for number, item in enumerate(items, start=1):
        if item.kind == "invalid":
            events.error(str(item.path), item.reason)
            continue
        image_started = time.perf_counter()
        try:
            faces = identify_image(item.path, matcher, options.tolerance)
        except Exception as error:  # noqa: BLE001 - per-input boundary: report, go on
            events.error(str(item.path), f"cannot process image: {error}")
            continue
        elapsed = time.perf_counter() - image_started
        fields: dict[str, object] = {"faces": [f.as_dict() for f in faces]}
        if not faces:
            fields["message"] = "no face found"
        events.emit("result", file=str(item.path), image=str(item.path), **fields)
        events.emit(
            "progress",
            file=str(item.path),
            frame=number,
            frames=len(items),
            fps=round(1 / elapsed, 2),
        )
        totals["images"] += 1
        totals["faces"] += len(faces)
        totals["identified"] += sum(1 for f in faces if f.person)
        totals["unknown"] += sum(1 for f in faces if not f.person)
    events.emit("done", **totals, known_faces=len(matcher), errors=events.errors)
    return 1 if events.errors else 0
