"""The gallery matcher as the processors use it: the nearest known face, its exact distance,
snapshots published and read by several processes."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bench.faces import synthetic
from faces.matching import DEFAULT_TOLERANCE, Gallery, GalleryStore, IndexPlan

pytestmark = pytest.mark.faces

ROOT = Path(__file__).resolve().parents[2]


def SMALL_INDEX(count: int) -> IndexPlan:  # noqa: N802 - a planner, named like a constant
    """The production index plan, from 10,000 faces on, so tests stay small."""
    return IndexPlan.for_count(count, exact_below=10_000)


# The development photos' people (media_pipeline/samples/faces/README.md); the Lin-Manuel
# Miranda photo is the stranger.
UNKNOWN_PEOPLE = {
    "alex_lacamoire_img1.jpg": ["alex_lacamoire"],
    "biden2.jpg": ["biden"],
    "hannibal_2.jpg": ["hannibal"],
    "kit_harington_john2.jpeg": ["kit_harington"],
    "lin-manuel-miranda.png": [None],
    "obama2.jpg": ["obama"],
    "obama_small.jpg": ["obama"],
    "rose_leslie_img2.jpg": ["rose_leslie"],
    "two_people.jpg": ["biden", "obama"],
}


class RealFaces:
    """Encodings of the development photos, computed once per session with media_pipeline."""

    def __init__(self) -> None:
        from media_pipeline import samples
        from media_pipeline.face_cache import EncodingCache, default_cache_dir
        from media_pipeline.faces import (
            detect_and_encode,
            encode_known_image,
            known_images,
            load_rgb,
            person_label,
        )

        # Known photos go through the pipeline's own content-keyed cache, as `media_pipeline
        # faces` does: encoded once per machine. The photos to identify are encoded every time.
        cache = EncodingCache(default_cache_dir())
        paths = known_images(samples.KNOWN_FACES)
        self.known = np.concatenate([encode_known_image(p, cache) for p in paths])
        cache.save()
        self.known_people = [person_label(p, samples.KNOWN_FACES) for p in paths]
        self.known_ids = np.arange(101, 101 + len(paths), dtype=np.int64)
        self.unknown: list[tuple[str, np.ndarray]] = []
        for path in sorted(samples.UNKNOWN_FACES.iterdir()):
            _, encodings = detect_and_encode(load_rgb(path))
            self.unknown.append((path.name, encodings))

    def person(self, known_id: int) -> str:
        return self.known_people[int(known_id) - 101]


@pytest.fixture(scope="session")
def real_faces() -> RealFaces:
    return RealFaces()


def exact_nearest(encodings: np.ndarray, ids: np.ndarray, query: np.ndarray) -> tuple[int, float]:
    """What a plain face_recognition script answers."""
    import face_recognition

    distances = face_recognition.face_distance(encodings, query)
    best = int(np.argmin(distances))
    return int(ids[best]), float(distances[best])


def agreement(gallery: Gallery, ids: np.ndarray, encodings: np.ndarray, queries: np.ndarray):
    """Fractions of queries with the same nearest id, and the same match decision, as exact
    float64 search; and the largest distance error when the ids agree."""
    found = gallery.nearest(queries)
    same_id = same_decision = 0
    worst = 0.0
    rows, distances = synthetic.exact_nearest(encodings, queries)
    for (known, distance), row, exact_distance in zip(found, rows, distances, strict=True):
        exact_id = int(ids[row])
        if known == exact_id:
            same_id += 1
            worst = max(worst, abs(distance - exact_distance))
        same_decision += (distance <= DEFAULT_TOLERANCE) == (exact_distance <= DEFAULT_TOLERANCE)
    return same_id / len(queries), same_decision / len(queries), worst


@pytest.fixture(scope="session")
def indexed_gallery(tmp_path_factory):
    """20,000 synthetic faces (5,000 people) published with the inverted-file index."""
    data = synthetic.gallery(20_000, seed=7)
    ids = np.arange(1, 20_001, dtype=np.int64) * 3  # primary keys, not row numbers
    store = GalleryStore(tmp_path_factory.mktemp("indexed"), planner=SMALL_INDEX)
    store.publish(ids, data.encodings)
    return data, ids, store.current()


@pytest.mark.slow
def test_development_photos_get_face_recognitions_person_and_distance(real_faces, tmp_path):
    """Every development photo: the same known face and distance (1e-9) as face_distance."""
    store = GalleryStore(tmp_path)
    store.publish(real_faces.known_ids, real_faces.known)
    gallery = store.current()
    assert gallery.plan.spec == "Flat"
    found = {}
    for name, encodings in real_faces.unknown:
        people = []
        for query, (known, distance) in zip(encodings, gallery.nearest(encodings), strict=True):
            exact_id, exact_distance = exact_nearest(real_faces.known, real_faces.known_ids, query)
            assert known == exact_id, name
            assert distance == pytest.approx(exact_distance, abs=1e-9), name
            people.append(real_faces.person(known) if distance <= DEFAULT_TOLERANCE else None)
        found[name] = sorted(people, key=lambda p: (p is None, p or ""))
    assert found == UNKNOWN_PEOPLE


@pytest.mark.slow
def test_development_photos_found_among_20000_indexed_faces(real_faces, tmp_path):
    """Real encodings hidden in a large synthetic gallery (index path) are still found exactly."""
    crowd = synthetic.gallery(20_000, seed=3, mean=real_faces.known.mean(axis=0))
    ids = np.concatenate([real_faces.known_ids, np.arange(1_000, 21_000, dtype=np.int64)])
    encodings = np.concatenate([real_faces.known, crowd.encodings])
    store = GalleryStore(tmp_path, planner=SMALL_INDEX)
    store.publish(ids, encodings)
    gallery = store.current()
    assert gallery.plan.spec.startswith("IVF")
    queries = np.concatenate([e for _, e in real_faces.unknown])
    for query, (known, distance) in zip(queries, gallery.nearest(queries), strict=True):
        exact_id, exact_distance = exact_nearest(encodings, ids, query)
        assert (known, distance) == (exact_id, pytest.approx(exact_distance, abs=1e-9))


def test_indexed_gallery_agrees_with_exact_search(indexed_gallery):
    """Known people (new images) are found as exact search finds them; strangers get the same
    match decision almost always (their nearest face is barely nearer than the others, so an
    index can pick a different one at a similar distance: the benchmark measures how often)."""
    data, ids, gallery = indexed_gallery
    assert len(gallery) == 20_000 and gallery.plan.spec.startswith("IVF")
    known, _ = data.known_queries(150)
    same_id, same_decision, worst = agreement(gallery, ids, data.encodings, known)
    assert same_id >= 0.98 and same_decision == 1.0 and worst == 0.0, (same_id, same_decision)
    same_id, same_decision, worst = agreement(
        gallery, ids, data.encodings, data.stranger_queries(150)
    )
    assert same_id >= 0.9 and same_decision >= 0.97, (same_id, same_decision)
    assert worst <= 1e-9


def test_small_gallery_is_searched_exhaustively(tmp_path):
    """Under the exact threshold every answer is the exact one."""
    data = synthetic.gallery(3_000, seed=11)
    ids = np.arange(3_000, dtype=np.int64) + 500
    store = GalleryStore(tmp_path)
    store.publish(ids, data.encodings)
    gallery = store.current()
    assert gallery.plan == IndexPlan.for_count(3_000) and gallery.plan.spec == "Flat"
    queries = np.concatenate([data.known_queries(100)[0], data.stranger_queries(100)])
    assert agreement(gallery, ids, data.encodings, queries) == (1.0, 1.0, 0.0)


def test_a_known_face_is_its_own_nearest_at_distance_zero(indexed_gallery):
    """A face already in the gallery is found as itself (the boundary case distance 0)."""
    data, ids, gallery = indexed_gallery
    rows = [0, 1234, 19_999]
    assert gallery.nearest(data.encodings[rows]) == [(int(ids[r]), 0.0) for r in rows]


def test_empty_gallery_answers_no_match(tmp_path):
    """Nothing published yet, or an empty gallery published: (-1, inf) for every face."""
    store = GalleryStore(tmp_path / "store")
    for gallery in (store.current(), None):
        if gallery is None:
            store.publish(np.empty(0, dtype=np.int64), np.empty((0, 128)))
            gallery = store.current()
        assert len(gallery) == 0
        assert gallery.nearest(np.zeros((2, 128))) == [(-1, math.inf), (-1, math.inf)]


@pytest.mark.parametrize(
    ("ids", "encodings", "message"),
    [
        (np.array([1, 1]), np.zeros((2, 128)), "duplicate"),
        (np.array([1, 2]), np.zeros((2, 64)), r"shape \(n, 128\)"),
        (np.array([1, 2, 3]), np.zeros((2, 128)), "3 ids for 2 encodings"),
        (np.array([1.5]), np.zeros((1, 128)), "integer"),
        (np.array([1]), np.full((1, 128), np.nan), "NaN"),
    ],
)
def test_bad_gallery_refused_and_nothing_written(tmp_path, ids, encodings, message):
    """A bad publish says what is wrong and leaves the current snapshot as it was."""
    store = GalleryStore(tmp_path)
    version = store.publish(np.array([7]), np.ones((1, 128)))
    with pytest.raises(ValueError, match=message):
        store.publish(ids, encodings)
    assert store.versions() == [version]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "current", version]
    assert GalleryStore(tmp_path).current().nearest(np.ones(128)) == [(7, 0.0)]


def test_bad_query_refused(indexed_gallery):
    """A query of the wrong shape is an error naming what was expected."""
    _, _, gallery = indexed_gallery
    with pytest.raises(ValueError, match=r"queries: expected shape \(n, 128\)"):
        gallery.nearest(np.zeros((2, 127)))


def test_snapshot_is_memory_mapped_not_copied(indexed_gallery, tmp_path):
    """The float64 encodings and ids (and a flat index's vectors) are file mappings, shared by
    every process on the machine through the page cache, not private copies."""
    _, _, gallery = indexed_gallery
    assert gallery.nbytes > 20_000 * (128 * 8 + 8 + 32)
    store = GalleryStore(tmp_path)
    store.publish(np.arange(3), np.eye(3, 128))
    flat = store.current()
    mapped = Path("/proc/self/maps").read_text()
    for version in (gallery.version, flat.version):
        assert f"{version}/encodings.npy" in mapped
        assert f"{version}/ids.npy" in mapped
    assert f"{tmp_path}/{flat.version}/index.faiss" in mapped


def _run_python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


PUBLISHER = """
    import sys, time
    from pathlib import Path
    import numpy as np
    from faces.matching import GalleryStore
    directory, first_id, go = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    encodings = np.random.default_rng(first_id).normal(0, 0.05, size=(3000, 128))
    ids = np.arange(first_id, first_id + 3000)
    while not go.exists():
        time.sleep(0.001)
    print(GalleryStore(directory).publish(ids, encodings))
"""


def test_two_processes_publishing_at_once_leave_a_whole_snapshot(tmp_path):
    """Two publishers started together: two versions, the current one complete, no leftovers,
    and a reader polling meanwhile only ever sees whole snapshots."""
    store_dir, go = tmp_path / "store", tmp_path / "go"
    store = GalleryStore(store_dir)
    store.publish(np.array([1]), np.ones((1, 128)))
    publishers = [_run_python(PUBLISHER, str(store_dir), str(n), str(go)) for n in (10_000, 20_000)]
    go.touch()
    seen = set()
    while any(p.poll() is None for p in publishers):
        gallery = store.current()
        first = int(np.asarray(gallery._ids[0]))
        # Whole: as many rows as the publisher wrote, each row found as itself.
        assert (len(gallery), gallery.nearest(gallery._encodings[[0, -1]])[0]) in (
            (1, (1, 0.0)),
            (3000, (first, 0.0)),
        )
        seen.add(gallery.version)
    outputs = [p.communicate() for p in publishers]
    assert [p.returncode for p in publishers] == [0, 0], outputs
    versions = sorted(out.strip() for out, _ in outputs)
    assert len(set(versions)) == 2
    final = GalleryStore(store_dir).current()
    assert final.version == versions[-1] and len(final) == 3000
    first = int(final.nearest(final._encodings[:1])[0][0])
    assert first in (10_000, 20_000)
    # The newest and the one before it are kept; nothing half-written is left behind.
    assert store.versions() == versions
    assert sorted(p.name for p in store_dir.iterdir()) == [".lock", "current", *versions]


def test_reader_keeps_its_snapshot_while_newer_ones_are_published(tmp_path):
    """A worker holding a snapshot keeps answering from it, even once its files are deleted."""
    store = GalleryStore(tmp_path)
    old = np.random.default_rng(1).normal(0, 0.05, size=(500, 128))
    store.publish(np.arange(500), old)
    held = store.current()
    for seed in (2, 3):  # the second publish deletes the held snapshot's directory
        store.publish(np.arange(500) + 10_000, np.random.default_rng(seed).normal(size=(500, 128)))
    assert not (tmp_path / held.version).exists()
    assert held.nearest(old[[5, 499]]) == [(5, 0.0), (499, 0.0)]
    assert store.current().version != held.version


def test_another_process_publish_is_seen_and_unchanged_store_is_reused(tmp_path):
    """A publish by another process is picked up by the next current(); until then the
    same snapshot object is returned (no reload per query)."""
    store = GalleryStore(tmp_path)
    store.publish(np.array([1, 2]), np.stack([np.zeros(128), np.ones(128)]))
    first = store.current()
    assert store.current() is first
    go = tmp_path / "go"
    go.touch()
    publisher = _run_python(PUBLISHER, str(tmp_path), "40000", str(go))
    out, err = publisher.communicate(timeout=60)
    assert publisher.returncode == 0, err
    newer = store.current()
    assert newer.version == out.strip() != first.version and len(newer) == 3000
    assert json.loads((tmp_path / newer.version / "meta.json").read_text())["count"] == 3000
    assert os.readlink(tmp_path / "current") == newer.version
