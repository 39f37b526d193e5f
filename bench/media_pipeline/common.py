"""Shared helpers: medians of repeated runs, a 1280x720 copy of the development clip."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2

from media_pipeline import samples
from media_pipeline.video_io import FrameReader, H264Writer


def median_rate(work: Callable[[], int], repeats: int) -> float:
    """Median items per second over `repeats` runs of `work` (which returns its item count)."""
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        count = work()
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


def clip_720p(directory: Path | None = None) -> Path:
    """The development clip upscaled to 1280x720 H.264 (the project has no 720p footage)."""
    directory = directory or Path(tempfile.gettempdir())
    target = directory / "media-pipeline-bench-solidWhiteRight-720p.mp4"
    if target.exists():
        return target
    with (
        FrameReader(samples.DEVELOPMENT_CLIP) as reader,
        H264Writer(target, 1280, 720, reader.fps, preset="medium", crf=20) as writer,
    ):
        for _, frame in reader:
            writer.write(cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_CUBIC))
    return target
