"""Lane analysis speed against decoding alone, on the same file at native resolution, and the
lane detector's own CPU time per frame.

python -m bench.media_pipeline.lanes [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2

from bench.media_pipeline.common import clip_720p
from media_pipeline import samples
from media_pipeline.events import EventWriter
from media_pipeline.inputs import MediaInput
from media_pipeline.lane_command import LaneOptions, _OutputNames, process_video
from media_pipeline.lanes import LaneDetector

# OpenCV's default worker count, restored for the baselines (the pipeline sets its own).
DEFAULT_THREADS = cv2.getNumThreads()


def decode_only(path: Path) -> int:
    cv2.setNumThreads(DEFAULT_THREADS)
    capture = cv2.VideoCapture(str(path))
    frames = 0
    while capture.grab() and capture.retrieve()[0]:
        frames += 1
    return frames


def sequential_naive(path: Path) -> int:
    """The textbook loop: decode, then full-frame colour masks/Canny/Hough, one after the other."""
    cv2.setNumThreads(DEFAULT_THREADS)
    capture = cv2.VideoCapture(str(path))
    frames = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
        white = cv2.inRange(frame, (200, 200, 200), (255, 255, 255))
        paint = cv2.bitwise_or(white, cv2.inRange(hsv, (15, 80, 120), (35, 255, 255)))
        edges = cv2.Canny(cv2.GaussianBlur(paint, (5, 5), 0), 50, 150)
        cv2.HoughLinesP(edges, 1, 3.14159 / 180, 16, minLineLength=19, maxLineGap=108)
        frames += 1


class _Quiet(EventWriter):
    def __init__(self) -> None:
        super().__init__("lanes", out=open("/dev/null", "w"), err=open("/dev/null", "w"))  # noqa: SIM115


def pipeline(path: Path, write_video: bool) -> int:
    """What `lanes` does per video (including its OpenCV thread setting)."""
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as out:
        options = LaneOptions(output=Path(out), write_video=write_video)
        summary = process_video(
            MediaInput(path, "video"), _OutputNames(Path(out)), options, _Quiet()
        )
    return summary.frames


def detection_only(frames: list) -> int:
    """The lane detector alone on frames decoded beforehand (one OpenCV thread, as in `lanes`):
    its own CPU per frame, without the decoder's."""
    cv2.setNumThreads(1)
    detector = LaneDetector(frames[0].shape[1], frames[0].shape[0], video=True)
    for frame in frames:
        detector.detect(frame)
    return len(frames)


def _decoded(path: Path, limit: int = 100) -> list:
    """The first `limit` frames, decoded (100 frames of 1280x720 hold 280 MB)."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    return frames


def _timed(work) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(frames per wall second, CPU ms per frame) of one run: CPU time does not depend on what
    else the shared machine is doing, wall time does."""
    cpu0, wall0 = os.times(), time.perf_counter()
    frames = work()
    cpu1, wall1 = os.times(), time.perf_counter()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    return frames / (wall1 - wall0), cpu / frames * 1000


def measure(path: Path, repeats: int) -> dict[str, float]:
    """Each repeat runs all five variants back to back, so load from other work on the machine
    hits them alike; the medians are compared."""
    frames = _decoded(path)
    variants = {
        "decode_only": lambda: decode_only(path),
        "detection_only": lambda: detection_only(frames),
        "sequential_naive": lambda: sequential_naive(path),
        "analysis": lambda: pipeline(path, write_video=False),
        "analysis_and_video": lambda: pipeline(path, write_video=True),
    }
    rates: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, work in variants.items():
            rate, cpu_ms = _timed(work)
            rates[name].append(rate)
            cpu[name].append(cpu_ms)
    fps = {name: statistics.median(values) for name, values in rates.items()}
    decode = fps["decode_only"]
    # Detection alone has no decoding in it: its rate is not comparable, its CPU time is.
    results: dict[str, float] = {
        f"{name}_fps": round(value, 1) for name, value in fps.items() if name != "detection_only"
    }
    for name in ("sequential_naive", "analysis", "analysis_and_video"):
        results[f"{name}_ratio"] = round(fps[name] / decode, 3)
    for name, values in cpu.items():
        results[f"{name}_cpu_ms_per_frame"] = round(statistics.median(values), 2)
    results["load_average_after"] = round(os.getloadavg()[0], 2)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = {
        "960x540 development clip": measure(samples.DEVELOPMENT_CLIP, args.repeats),
        "1280x720 (upscaled copy)": measure(clip_720p(), args.repeats),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
