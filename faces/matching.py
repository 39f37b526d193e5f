"""The gallery matcher: nearest known face for each detected face, shared by a machine's workers.

A gallery snapshot is a directory of files written once and memory-mapped by every worker
process, so the known faces cost their page cache once per machine, not once per process:

    <store>/current -> v000000000007     symlink, swapped atomically by each publish
    <store>/v000000000007/ids.npy        int64 known-face primary keys, row order
    <store>/v000000000007/encodings.npy  float64 (n, 128): the exact re-ranking
    <store>/v000000000007/index.faiss    faiss index over float32 rows (ids are row numbers)
    <store>/v000000000007/meta.json      count, index spec, search parameters

A query asks the index for its best few candidates, then re-ranks them with the float64
encodings, so the distance reported is exactly `face_recognition.face_distance` of the face
returned and a match (distance <= tolerance) is decided the way face_recognition decides it.
Below EXACT_BELOW faces the index is a flat (exhaustive) one, memory-mapped: already fast
there. From EXACT_BELOW on it is an inverted file of 4-bit product-quantised codes (32 bytes a
face, searched with SIMD "fast scan"); faiss reads those codes into each process (32 MB at a
million faces) while ids and float64 encodings (1 GB at a million) stay shared mappings, of
which a query touches a few rows. bench/faces/gallery_bench.py and docs/BENCHMARKS.md ("Face
gallery matching") hold the measurements behind these choices.

No Django here: the faces app decides when to publish and where the store lives.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

DIMENSIONS = 128  # dlib's face descriptor
DEFAULT_TOLERANCE = 0.6  # face_recognition.compare_faces: a match when distance <= 0.6
FORMAT = 1

# Below this many known faces an exhaustive scan costs under about 3 ms of CPU a query (5.6 ms
# at 100,000 in the benchmark), so it is used as is: exact, nothing to train, builds in seconds.
EXACT_BELOW = 50_000
# From EXACT_BELOW on: an inverted file of about sqrt(n) lists (a power of two) holding 4-bit
# product-quantised codes scanned with faiss's SIMD "fast scan"; a query scans NPROBE_FRACTION
# of the lists and re-ranks the RERANK best candidates in float64. Measured at 1,000,000 faces
# (docs/BENCHMARKS.md): known people are found exactly with a sixteenth of the lists, but a
# stranger's nearest face is hardly nearer than thousands of others, so strangers need a
# quarter of the lists (and at least EXACT_BELOW faces' worth), and 512 candidates (128
# missed 1-2% of their nearest ids).
NPROBE_FRACTION = 1 / 4
RERANK = 512
# k-means training sample per list (faiss warns below 39).
TRAINING_PER_LIST = 40

# Parallelism comes from the worker processes (several per machine); OpenMP threads in each
# of them spin against each other on shared cores (measured: building a 20,000-face index took
# minutes with two threads per process on a busy machine, seconds with one).
faiss.omp_set_num_threads(1)

_VERSION = re.compile(r"^v(\d{12})$")
_CURRENT = "current"
_TEMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class IndexPlan:
    """How a gallery is indexed (a faiss index_factory string) and searched."""

    spec: str
    nprobe: int = 0  # inverted lists scanned per query; 0 for an exhaustive index
    rerank: int = RERANK  # candidates re-ranked with the float64 encodings
    training: int = 0  # rows sampled to train the index; 0 for none

    @classmethod
    def for_count(cls, count: int, exact_below: int = EXACT_BELOW) -> IndexPlan:
        if count < exact_below:
            return cls(spec="Flat")
        nlist = 2 ** max(4, round(math.log2(math.sqrt(count))))
        # At least as many faces as an exhaustive scan just below the threshold reads: cheap
        # there, and it keeps strangers' agreement at 100,000 faces (a quarter missed 1.3%).
        floor = math.ceil(nlist * exact_below / count)
        return cls(
            spec=f"IVF{nlist},PQ64x4fs",
            nprobe=min(nlist, max(round(nlist * NPROBE_FRACTION), floor)),
            training=nlist * TRAINING_PER_LIST,
        )


class Gallery:
    """An immutable snapshot of the known faces; safe to share between threads for reading."""

    def __init__(
        self,
        ids: np.ndarray,
        encodings: np.ndarray,
        index: faiss.Index | None,
        plan: IndexPlan | None,
        *,
        version: str = "",
        files: tuple[Path, ...] = (),
    ):
        self._ids = ids
        self._encodings = encodings
        self._index = index
        self._plan = plan
        self.version = version
        # Measured once: a later publish may delete the files while this snapshot maps them.
        self._nbytes = sum(path.stat().st_size for path in files)

    @classmethod
    def empty(cls) -> Gallery:
        return cls(np.empty(0, dtype=np.int64), np.empty((0, DIMENSIONS)), index=None, plan=None)

    @classmethod
    def open(cls, directory: Path) -> Gallery:
        """Memory-map a published snapshot. Every file is mapped here, so the snapshot keeps
        working after a later publish deletes its directory (the mappings outlive the names)."""
        meta = json.loads((directory / "meta.json").read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{directory}: gallery format {meta.get('format')}, expected {FORMAT}")
        ids = np.load(directory / "ids.npy", mmap_mode="r")
        encodings = np.load(directory / "encodings.npy", mmap_mode="r")
        files = (directory / "ids.npy", directory / "encodings.npy")
        if len(ids) == 0:
            return cls(ids, encodings, None, None, version=directory.name, files=files)
        plan = IndexPlan(**meta["plan"])
        index_file = directory / "index.faiss"
        # MMAP_IFC maps a flat index's vectors straight from the file; fast-scan codes cannot
        # be mapped (faiss repacks them in memory), so those are read: 32 bytes a face.
        index = faiss.read_index(str(index_file), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        if plan.nprobe:
            faiss.extract_index_ivf(index).nprobe = plan.nprobe
        if len(ids) != meta["count"] or index.ntotal != meta["count"]:
            raise ValueError(f"{directory}: files disagree with meta.json about the count")
        return cls(ids, encodings, index, plan, version=directory.name, files=(*files, index_file))

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def nbytes(self) -> int:
        """Bytes of the snapshot's files: ids and float64 encodings are mapped (page cache
        shared by every process; a query touches a few rows), a flat index is mapped, a
        fast-scan index is read into each process."""
        return self._nbytes

    @property
    def plan(self) -> IndexPlan | None:
        return self._plan

    def nearest(self, queries: np.ndarray) -> list[tuple[int, float]]:
        """(known face id, exact Euclidean distance) of the nearest known face per row of
        `queries` (m, 128); (-1, inf) for every row when the gallery is empty."""
        queries = _as_encodings(queries, "queries")
        if self._index is None or self._plan is None:  # the empty gallery
            return [(-1, math.inf)] * len(queries)
        wanted = min(self._plan.rerank, len(self))
        _, candidates = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), wanted)
        found = []
        for query, rows in zip(queries, candidates, strict=True):
            rows = np.sort(rows[rows >= 0])  # sorted: page-cache friendly reads of the mmap
            # The same expression as face_recognition.face_distance, so the float64 result is
            # bit-for-bit what it reports for this known face.
            distances = np.linalg.norm(self._encodings[rows] - query, axis=1)
            best = int(np.argmin(distances))
            found.append((int(self._ids[rows[best]]), float(distances[best])))
        return found


class GalleryStore:
    """Versioned gallery snapshots in one directory, published by any process on the machine.

    Publishing is serialised with an flock on `<directory>/.lock` and each snapshot is
    written to a temporary directory, fsynced, renamed into place, and only then made
    `current` by an atomic symlink swap: a reader sees the old snapshot or the new one, never
    a half-written one. Snapshots older than the previous one are deleted; a process still
    holding one keeps using its mappings.
    """

    def __init__(
        self, directory: Path, *, planner: Callable[[int], IndexPlan] = IndexPlan.for_count
    ):
        self.directory = Path(directory)
        self._planner = planner
        self._gallery: Gallery | None = None
        self._target: str | None = None

    def current(self) -> Gallery:
        """The newest published snapshot; costs one readlink when nothing changed."""
        for _ in range(5):
            try:
                target = os.readlink(self.directory / _CURRENT)
            except FileNotFoundError:
                return Gallery.empty()
            if target == self._target and self._gallery is not None:
                return self._gallery
            try:
                gallery = Gallery.open(self.directory / target)
            except FileNotFoundError:
                continue  # two publishes in between removed it: read the link again
            self._gallery, self._target = gallery, target
            return gallery
        raise RuntimeError(f"{self.directory}: the gallery changed under every attempt to open it")

    def publish(self, ids: np.ndarray, encodings: np.ndarray) -> str:
        """Write a new snapshot of these known faces and make it current; returns its version."""
        return self.publish_from(lambda: (ids, encodings))

    def publish_from(self, load: Callable[[], tuple[np.ndarray, np.ndarray]]) -> str:
        """Like publish, reading the gallery with `load()` while holding the store's lock, so
        of two concurrent publishers the one that publishes last also read last."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock():
            ids, encodings = load()
            ids, encodings = _validated(ids, encodings)
            self._remove_abandoned_temporaries()
            previous = self._current_target()
            version = f"v{self._newest_number() + 1:012d}"
            staging = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=self.directory))
            try:
                _write_snapshot(staging, ids, encodings, version, self._planner(len(ids)))
                os.rename(staging, self.directory / version)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            _fsync_directory(self.directory)
            link = self.directory / f"{_TEMP_PREFIX}{version}.link"
            os.symlink(version, link)
            os.replace(link, self.directory / _CURRENT)
            _fsync_directory(self.directory)
            self._remove_older_than(previous, keep=version)
        return version

    def versions(self) -> list[str]:
        """Snapshot directories present, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir() if _VERSION.match(p.name))

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.directory / ".lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _current_target(self) -> str | None:
        try:
            return os.readlink(self.directory / _CURRENT)
        except FileNotFoundError:
            return None

    def _newest_number(self) -> int:
        numbers = [int(m.group(1)) for n in self.versions() if (m := _VERSION.match(n))]
        return max(numbers, default=0)

    def _remove_abandoned_temporaries(self) -> None:
        # Called under the lock: any staging directory present belongs to a publisher that died.
        for path in self.directory.glob(f"{_TEMP_PREFIX}*"):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def _remove_older_than(self, previous: str | None, *, keep: str) -> None:
        oldest_kept = previous or keep
        for name in self.versions():
            if name not in (previous, keep) and name < oldest_kept:
                shutil.rmtree(self.directory / name, ignore_errors=True)


def _as_encodings(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1 and array.shape[0] == DIMENSIONS:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != DIMENSIONS:
        raise ValueError(f"{name}: expected shape (n, {DIMENSIONS}), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return array


def _validated(ids: np.ndarray, encodings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids: expected a 1-D integer array, got {ids.dtype} {ids.shape}")
    ids = ids.astype(np.int64)
    encodings = _as_encodings(encodings, "encodings") if len(ids) else np.empty((0, DIMENSIONS))
    if len(encodings) != len(ids):
        raise ValueError(f"ids: {len(ids)} ids for {len(encodings)} encodings")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("ids: duplicate known-face ids")
    return ids, np.ascontiguousarray(encodings)


def build_index(encodings: np.ndarray, plan: IndexPlan) -> faiss.Index:
    """The faiss index of `plan` over float32 rows (row numbers are the faiss ids)."""
    rows = np.ascontiguousarray(encodings, dtype=np.float32)
    index = faiss.index_factory(DIMENSIONS, plan.spec)
    if not index.is_trained:
        sample = min(len(rows), max(plan.training, 1))
        # Fixed seed: the same gallery always gives the same index.
        chosen = np.random.default_rng(0).choice(len(rows), size=sample, replace=False)
        index.train(rows[np.sort(chosen)])
    index.add(rows)
    return index


def _write_snapshot(
    staging: Path, ids: np.ndarray, encodings: np.ndarray, version: str, plan: IndexPlan
) -> None:
    _save_array(staging / "ids.npy", ids)
    _save_array(staging / "encodings.npy", encodings)
    if len(ids):
        index_file = staging / "index.faiss"
        faiss.write_index(build_index(encodings, plan), str(index_file))
        _fsync_file(index_file)
    meta = {"format": FORMAT, "version": version, "count": len(ids), "plan": asdict(plan)}
    (staging / "meta.json").write_text(json.dumps(meta))
    _fsync_file(staging / "meta.json")
    os.chmod(staging, 0o755)  # mkdtemp makes it 0700; workers may run as another user
    _fsync_directory(staging)


def _save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
