"""Face identification with the `face_recognition` library: known people, a vectorised
nearest-neighbour matcher, and per-image identification."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from media_pipeline.face_cache import EncodingCache, content_key
from media_pipeline.inputs import IMAGE_SUFFIXES

DEFAULT_TOLERANCE = 0.6
_NUMBERED = re.compile(r"^(?P<person>.+?)[_-]\d+$")


def _face_recognition():  # type: ignore[no-untyped-def]
    # Imported on first use: it loads dlib and 100 MB of models, which `lanes` and `stream
    # --process lanes` never need.
    import warnings

    with warnings.catch_warnings():
        # face_recognition_models finds its files with the deprecated pkg_resources; the warning
        # is the library's, says nothing about this run, and would be every face log's first line.
        warnings.filterwarnings(
            "ignore", message="pkg_resources is deprecated", category=UserWarning
        )
        import face_recognition

    return face_recognition


def person_label(image: Path, known_root: Path) -> str:
    """`known/hannibal_1.jpg` -> "hannibal"; `known/Hannibal Lecter/any.jpg` -> "Hannibal Lecter"."""
    if image.parent.resolve() != known_root.resolve():
        return image.parent.name
    match = _NUMBERED.match(image.stem)
    return match.group("person") if match else image.stem


@dataclass
class Face:
    box: list[int]  # top, right, bottom, left, as face_recognition reports them
    person: str | None
    distance: float | None

    def as_dict(self) -> dict[str, object]:
        return {"box": self.box, "person": self.person, "distance": self.distance}


class FaceMatcher:
    """Nearest known encoding by Euclidean distance, as one matrix product.

    |k - q|^2 = |k|^2 - 2 k.q + |q|^2: with |k|^2 precomputed, a query against 100,000 known
    faces is one float32 matrix-vector product (about 2.5 ms here, against about 42 ms for
    `face_recognition.face_distance`). float32 only picks the candidate; the reported distance
    is recomputed in float64 so results right at the tolerance match face_recognition exactly.
    """

    def __init__(self, encodings: np.ndarray, labels: list[str]):
        encodings = np.asarray(encodings, dtype=np.float64).reshape(-1, 128)
        if len(encodings) != len(labels):
            raise ValueError("one label per encoding")
        self.encodings = encodings
        self.labels = labels
        self._matrix = np.ascontiguousarray(encodings, dtype=np.float32)
        self._norms = np.einsum("ij,ij->i", self._matrix, self._matrix)

    def __len__(self) -> int:
        return len(self.labels)

    def nearest(self, queries: np.ndarray) -> list[tuple[int, float]]:
        """(index of the nearest known encoding, distance) per query row; (-1, inf) when there
        are no known faces."""
        queries = np.asarray(queries, dtype=np.float64).reshape(-1, 128)
        if len(self) == 0:
            return [(-1, float("inf")) for _ in queries]
        partial = self._norms[None, :] - 2.0 * (queries.astype(np.float32) @ self._matrix.T)
        best = np.argmin(partial, axis=1)
        distances = np.linalg.norm(self.encodings[best] - queries, axis=1)
        return [(int(i), float(d)) for i, d in zip(best, distances, strict=True)]

    def identify(
        self, queries: np.ndarray, tolerance: float = DEFAULT_TOLERANCE
    ) -> list[tuple[str | None, float | None]]:
        found: list[tuple[str | None, float | None]] = []
        for index, distance in self.nearest(queries):
            if index < 0:
                found.append((None, None))
            else:
                # face_recognition.compare_faces counts distance <= tolerance as a match.
                person = self.labels[index] if distance <= tolerance else None
                found.append((person, round(distance, 4)))
        return found


def detect_and_encode(rgb: np.ndarray) -> tuple[list[tuple[int, int, int, int]], np.ndarray]:
    """The library's defaults (HOG, one upsample, one jitter), so results equal a bare call."""
    fr = _face_recognition()
    boxes = fr.face_locations(rgb)
    encodings = fr.face_encodings(rgb, boxes) if boxes else []
    return boxes, np.array(encodings, dtype=np.float64).reshape(-1, 128)


def load_rgb(path: Path) -> np.ndarray:
    return _face_recognition().load_image_file(str(path))


class ImageTooLarge(ValueError):
    """The image has more pixels than a detector should be asked to scan."""


# About 50 MP: larger than any ordinary photo, and HOG with one upsample already scans 4x the
# pixels; a decompression bomb (a small file declaring a huge canvas) is refused before decoding.
MAX_PIXELS = 50_000_000


def decode_rgb(data: BinaryIO, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """`face_recognition.load_image_file` (PIL, converted to RGB) for untrusted input: the
    canvas size is checked from the header before any pixel is decoded."""
    from PIL import Image

    with Image.open(data) as image:
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"{width}x{height} pixels is more than the {max_pixels:,} this server decodes"
            )
        return np.array(image.convert("RGB"))


def known_images(known_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in known_dir.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


# Reference photos are often cropped tight: a face touching the image edge gets a detection box
# clipped by the frame, and a skewed box gives a skewed encoding (hannibal_1.jpg: distance to
# another photo of him 0.60 without a margin, 0.59 with one). Known photos are encoded once and
# cached, so the margin costs nothing per query.
KNOWN_MARGIN = 0.2


def margin_pad(rgb: np.ndarray, margin: float = KNOWN_MARGIN) -> int:
    """Pixels of black border added on every side for `margin` (a fraction of the longer side)."""
    return int(margin * max(rgb.shape[:2]))


def with_margin(rgb: np.ndarray, margin: float = KNOWN_MARGIN) -> np.ndarray:
    pad = margin_pad(rgb, margin)
    if pad == 0:
        return rgb
    return cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))


def encode_known_image(path: Path, cache: EncodingCache) -> np.ndarray:
    """The encoding of the largest face in a reference photo (a bystander in the background
    must not become the person), via the content-keyed cache. Shape (0, 128) if no face."""
    key = content_key(path)
    cached = cache.get(key)
    if cached is not None:
        return cached
    boxes, encodings = detect_and_encode(with_margin(load_rgb(path)))
    if len(boxes):
        areas = [(b - t) * (r - left) for t, r, b, left in boxes]
        encodings = encodings[int(np.argmax(areas))][None, :]
    cache.put(key, encodings)
    return encodings


def load_known(
    known_dir: Path,
    cache: EncodingCache,
    on_error: Callable[[Path, str], None],
    on_progress: Callable[[int, int, Path], None] | None = None,
) -> FaceMatcher:
    """All known people; photos without a usable face are reported through `on_error`."""
    labels: list[str] = []
    rows: list[np.ndarray] = []
    images = known_images(known_dir)
    for number, image in enumerate(images):
        if on_progress is not None:
            on_progress(number, len(images), image)
        try:
            encodings = encode_known_image(image, cache)
        except Exception as error:  # noqa: BLE001 - per-input boundary: report, go on
            on_error(image, f"cannot read known face: {error}")
            continue
        if len(encodings) == 0:
            on_error(image, "no face found in known image")
            continue
        rows.append(encodings)
        labels.extend([person_label(image, known_dir)] * len(encodings))
    cache.save()
    matrix = np.concatenate(rows) if rows else np.empty((0, 128))
    return FaceMatcher(matrix, labels)


def identify_image(
    path: Path, matcher: FaceMatcher, tolerance: float = DEFAULT_TOLERANCE
) -> list[Face]:
    boxes, encodings = detect_and_encode(load_rgb(path))
    return identify_faces(boxes, encodings, matcher, tolerance)


def identify_faces(
    boxes: list[tuple[int, int, int, int]],
    encodings: np.ndarray,
    matcher: FaceMatcher,
    tolerance: float = DEFAULT_TOLERANCE,
) -> list[Face]:
    matches = matcher.identify(encodings, tolerance) if len(boxes) else []
    return [
        Face(box=[int(v) for v in box], person=person, distance=distance)
        for box, (person, distance) in zip(boxes, matches, strict=True)
    ]
