"""What the stream server does to each frame: nothing, lane overlay, or face boxes and names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from media_pipeline.face_cache import EncodingCache
from media_pipeline.faces import FaceMatcher, detect_and_encode, identify_faces, load_known
from media_pipeline.lanes import LaneDetector, draw


@dataclass
class Processed:
    frame: np.ndarray
    found: bool  # the detector found what it looks for (counts "detection failures" otherwise)


class FrameProcessor(Protocol):
    def __call__(self, frame: np.ndarray) -> Processed: ...


class PassThrough:
    def __call__(self, frame: np.ndarray) -> Processed:
        return Processed(frame, True)


class LaneOverlay:
    def __init__(self) -> None:
        self._detector: LaneDetector | None = None

    def __call__(self, frame: np.ndarray) -> Processed:
        height, width = frame.shape[:2]
        if self._detector is None or (self._detector.width, self._detector.height) != (
            width,
            height,
        ):
            self._detector = LaneDetector(width, height, video=True)
        lanes = self._detector.detect(frame)
        return Processed(draw(frame, lanes, self._detector.y_top), lanes.both)


class FaceOverlay:
    """Detects on a copy at most `detect_width` wide: HOG detection costs about 250 ms per
    full-size photo and 100 ms at 640 px, and a live view needs frames more than it needs
    tiny faces."""

    def __init__(
        self,
        known: Path,
        cache_dir: Path | None,
        tolerance: float,
        on_error: Callable[[Path, str], None],
        detect_width: int = 480,
    ):
        self.matcher: FaceMatcher = load_known(known, EncodingCache(cache_dir), on_error=on_error)
        self.tolerance = tolerance
        self.detect_width = detect_width

    def __call__(self, frame: np.ndarray) -> Processed:
        height, width = frame.shape[:2]
        scale = min(1.0, self.detect_width / width)
        small = cv2.resize(frame, None, fx=scale, fy=scale) if scale < 1 else frame
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        boxes, encodings = detect_and_encode(rgb)
        faces = identify_faces(boxes, encodings, self.matcher, self.tolerance)
        for face in faces:
            top, right, bottom, left = (int(v / scale) for v in face.box)
            colour = (0, 200, 0) if face.person else (0, 0, 255)
            cv2.rectangle(frame, (left, top), (right, bottom), colour, 2)
            label = face.person or "unknown"
            cv2.putText(
                frame, label, (left, max(12, top - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2
            )
        return Processed(frame, bool(faces))


def make_processor(
    kind: str,
    known: Path,
    cache_dir: Path | None,
    tolerance: float,
    on_error: Callable[[Path, str], None],
) -> FrameProcessor:
    if kind == "none":
        return PassThrough()
    if kind == "lanes":
        return LaneOverlay()
    if kind == "faces":
        return FaceOverlay(known, cache_dir, tolerance, on_error)
    raise ValueError(f"unknown processing {kind!r}")
