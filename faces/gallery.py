"""The gallery as the processors see it: every known face's encoding, published as a snapshot
that each worker process memory-maps (`faces/matching.py`), refreshed when the gallery changes."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import numpy as np
from django.conf import settings

from faces.matching import Gallery, GalleryStore
from faces.models import KnownFace, encoding_array

logger = logging.getLogger(__name__)


@cache
def _store(directory: str) -> GalleryStore:
    return GalleryStore(Path(directory))


def store() -> GalleryStore:
    return _store(str(Path(settings.DATA_DIR) / "faces" / "gallery"))


def _known_faces() -> tuple[np.ndarray, np.ndarray]:
    ids, encodings = [], []
    rows = KnownFace.objects.order_by("pk").values_list("pk", "encoding")
    for pk, data in rows.iterator(chunk_size=5000):
        ids.append(pk)
        encodings.append(encoding_array(data))
    matrix = np.vstack(encodings) if encodings else np.empty((0, 128))
    return np.asarray(ids, dtype=np.int64), matrix


def gallery_publish() -> str:
    """Write the current gallery as a new snapshot; returns its version. The database is read
    under the store's lock, so of two publishers the last to publish also read last."""
    version = store().publish_from(_known_faces)
    logger.info("face gallery: published %s known faces as %s", len(store().current()), version)
    return version


def gallery() -> Gallery:
    """The newest snapshot. A fresh data folder with known faces in the database (a restored
    backup, a new machine) publishes one first instead of matching against nothing."""
    current = store().current()
    if len(current) == 0 and KnownFace.objects.exists():
        gallery_publish()
        current = store().current()
    return current


def identify(encodings: np.ndarray) -> list[tuple[int | None, float | None]]:
    """(person id or None, distance or None) for each encoding; a match is a known face at
    most FACES_TOLERANCE away, face_recognition's rule."""
    if len(encodings) == 0:
        return []
    nearest = gallery().nearest(np.asarray(encodings, dtype=np.float64).reshape(-1, 128))
    known = {pk for pk, _ in nearest if pk >= 0}
    people = dict(KnownFace.objects.filter(pk__in=known).values_list("pk", "person_id"))
    found: list[tuple[int | None, float | None]] = []
    for pk, distance in nearest:
        if pk < 0:
            found.append((None, None))
            continue
        person = people.get(pk) if distance <= settings.FACES_TOLERANCE else None
        found.append((person, round(float(distance), 4)))
    return found
