"""Gallery matching at 100,000 and 1,000,000 known faces, methods side by side in one run.

    python -m bench.faces.gallery_bench [--sizes 100000 1000000] [--queries 600] [--runs 3]

For each size: a synthetic gallery (bench/faces/synthetic.py, checked against the development
photos' real encodings unless --no-real), queries that are half new images of gallery people
and half strangers, and exact float64 search as the reference. Each method answers every query
one at a time (as a processor does); runs alternate the methods so load from other work on the
machine hits them alike, and the table reports medians over runs of each run's percentiles.
Wall time is what a processor waits; CPU time (the thread's) is the work, which the machine's
other load does not inflate. Memory: bytes of the snapshot's files, and two reader processes
that open the published snapshot and query it (their RSS, private USS and proportional PSS
show what each worker process really adds).
"""

from __future__ import annotations

import os

# One thread per process, as in a worker: parallelism comes from the processes.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from bench.faces import synthetic  # noqa: E402
from faces.matching import DEFAULT_TOLERANCE, GalleryStore, IndexPlan  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
# Exact methods at a million faces take tens of ms a query: a subset keeps the run short.
EXACT_QUERIES = 100


@dataclass
class Method:
    name: str
    nearest: Callable[[np.ndarray], tuple[int, float]]
    build_seconds: float
    nbytes: int
    store: Path | None = None  # a published GalleryStore, for the reader-process memory check
    exact: bool = False
    walls: list[list[float]] = field(default_factory=list)
    cpus: list[list[float]] = field(default_factory=list)
    answers: list[tuple[int, float]] = field(default_factory=list)


def gallery_method(name: str, directory: Path, ids, encodings, planner, exact=False) -> Method:
    started = time.perf_counter()
    store = GalleryStore(directory, planner=planner)
    store.publish(ids, encodings)
    gallery = store.current()
    build = time.perf_counter() - started
    return Method(
        name, lambda q: gallery.nearest(q)[0], build, gallery.nbytes, directory, exact=exact
    )


def face_matcher_method(ids: np.ndarray, encodings: np.ndarray) -> Method:
    from media_pipeline.faces import FaceMatcher

    started = time.perf_counter()
    matcher = FaceMatcher(encodings, [""] * len(encodings))
    build = time.perf_counter() - started

    def nearest(query: np.ndarray) -> tuple[int, float]:
        row, distance = matcher.nearest(query[None, :])[0]
        return int(ids[row]), distance

    held = matcher.encodings.nbytes + matcher._matrix.nbytes + matcher._norms.nbytes
    return Method(
        "numpy float32 matmul, exact (today's FaceMatcher)", nearest, build, held, exact=True
    )


def hnsw_method(ids: np.ndarray, encodings: np.ndarray, ef: int) -> Method:
    """faiss HNSW32 over float32 rows, same float64 re-ranking (held in memory here)."""
    started = time.perf_counter()
    index = faiss.index_factory(synthetic.DIMENSIONS, "HNSW32")
    index.hnsw.efConstruction = 40
    index.add(np.ascontiguousarray(encodings, dtype=np.float32))
    index.hnsw.efSearch = ef
    build = time.perf_counter() - started

    def nearest(query: np.ndarray) -> tuple[int, float]:
        _, rows = index.search(query[None, :].astype(np.float32), 16)
        rows = rows[0][rows[0] >= 0]
        distances = np.linalg.norm(encodings[rows] - query, axis=1)
        best = int(np.argmin(distances))
        return int(ids[rows[best]]), float(distances[best])

    nbytes = encodings.size * 4 + len(encodings) * 32 * 2 * 4  # vectors + level-0 links
    return Method(f"faiss HNSW32 efSearch {ef} (rejected)", nearest, build, nbytes)


def ivf_planner(spec_suffix: str) -> Callable[[int], IndexPlan]:
    """The chosen plan's lists and probes with another code: to compare like with like."""

    def plan(count: int) -> IndexPlan:
        chosen = IndexPlan.for_count(count)
        if chosen.spec == "Flat":
            chosen = IndexPlan.for_count(count, exact_below=0)
        return IndexPlan(
            spec=chosen.spec.split(",")[0] + "," + spec_suffix,
            nprobe=chosen.nprobe,
            rerank=chosen.rerank,
            training=chosen.training,
        )

    return plan


def measure(method: Method, queries: np.ndarray) -> None:
    walls, cpus, answers = [], [], []
    for query in queries[:EXACT_QUERIES] if method.exact else queries:
        cpu = time.thread_time()
        wall = time.perf_counter()
        answer = method.nearest(query)
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.thread_time() - cpu) * 1000)
        answers.append(answer)
    method.walls.append(walls)
    method.cpus.append(cpus)
    method.answers = answers


def percentiles_over_runs(runs: list[list[float]]) -> dict[str, float]:
    def median_of(p: float) -> float:
        return round(statistics.median(float(np.percentile(r, p)) for r in runs), 3)

    return {"p50": median_of(50), "p95": median_of(95), "p99": median_of(99)}


def agreement(method: Method, truth_ids, truth_distances, known_count: int) -> dict[str, object]:
    count = len(method.answers)
    found_ids = np.array([a[0] for a in method.answers])
    found_distances = np.array([a[1] for a in method.answers])
    same_id = found_ids == truth_ids[:count]
    decided = (found_distances <= DEFAULT_TOLERANCE) == (
        truth_distances[:count] <= DEFAULT_TOLERANCE
    )
    error = np.abs(found_distances - truth_distances[:count])[same_id]
    known = slice(0, min(known_count, count))
    strangers = slice(known_count, count)
    return {
        "queries": count,
        "same_id": round(float(same_id.mean()), 4),
        "same_id_known": round(float(same_id[known].mean()), 4),
        "same_id_strangers": round(float(same_id[strangers].mean()), 4)
        if count > known_count
        else None,
        "same_decision": round(float(decided.mean()), 4),
        "max_distance_error_when_same_id": float(error.max()) if len(error) else None,
    }


READER = """
import json, sys, psutil, numpy as np
from faces.matching import GalleryStore
gallery = GalleryStore(sys.argv[1]).current()
queries = np.load(sys.argv[2])
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()
for query in queries:
    gallery.nearest(query)
process = psutil.Process()
info = process.memory_full_info()
maps = process.memory_maps()
print(json.dumps({
    "rss_mb": round(info.rss / 1e6, 1), "uss_mb": round(info.uss / 1e6, 1),
    "pss_mb": round(info.pss / 1e6, 1),
    "anonymous_mb": round(sum(m.anonymous for m in maps) / 1e6, 1),
    "snapshot_files_resident_mb": round(sum(m.rss for m in maps if "/v0" in m.path) / 1e6, 1),
}))
sys.stdin.readline()
"""

BASELINE = """
import json, sys, psutil, numpy as np, faiss
from faces import matching
info = psutil.Process().memory_full_info()
print(json.dumps({"rss_mb": round(info.rss / 1e6, 1), "uss_mb": round(info.uss / 1e6, 1)}))
"""


def reader_memory(store: Path, queries: np.ndarray, workdir: Path) -> dict[str, object]:
    """Two worker-like processes open the snapshot and answer the queries; what each holds."""
    query_file = workdir / "reader-queries.npy"
    np.save(query_file, queries[:200])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(store), str(query_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for _ in range(2)
    ]
    for reader in readers:
        reader.stdout.readline()  # ready: both have opened the snapshot
    for reader in readers:
        reader.stdin.write("go\n")
        reader.stdin.flush()
    reports = [json.loads(reader.stdout.readline()) for reader in readers]
    for reader in readers:
        reader.communicate("done\n")
    baseline = subprocess.run(
        [sys.executable, "-c", BASELINE], capture_output=True, text=True, env=env, check=True
    )
    return {"each_reader": reports, "empty_process": json.loads(baseline.stdout)}


def rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 1e6, 1)


def bench_size(size: int, query_count: int, runs: int, hnsw_max: int, workdir: Path) -> dict:
    data = synthetic.gallery(size, seed=size)
    known, _ = data.known_queries(query_count // 2)
    strangers = data.stranger_queries(query_count - query_count // 2)
    # Interleaved known/stranger rows, so a subset (EXACT_QUERIES) has both kinds.
    queries = np.empty((len(known) + len(strangers), synthetic.DIMENSIONS))
    queries[0::2], queries[1::2] = known, strangers
    order = np.r_[np.arange(0, len(queries), 2), np.arange(1, len(queries), 2)]
    ids = np.arange(size, dtype=np.int64) * 2 + 1  # primary keys, not row numbers

    started = time.perf_counter()
    truth_rows, truth_distances = synthetic.exact_nearest(data.encodings, queries)
    truth_seconds = time.perf_counter() - started
    truth_ids = ids[truth_rows]

    print(f"[{size}] exact float64 reference: {truth_seconds:.1f} s", file=sys.stderr, flush=True)
    methods = [face_matcher_method(ids, data.encodings)]
    methods.append(
        gallery_method(
            "faiss Flat, mmapped, exact (the Gallery below EXACT_BELOW)",
            workdir / f"flat-{size}",
            ids,
            data.encodings,
            lambda n: IndexPlan("Flat"),
            exact=True,
        )  # fmt: skip
    )
    chosen_plan = IndexPlan.for_count(size)
    methods.append(
        gallery_method(
            f"chosen: {chosen_plan.spec} nprobe {chosen_plan.nprobe}, re-rank {chosen_plan.rerank}",
            workdir / f"chosen-{size}",
            ids,
            data.encodings,
            IndexPlan.for_count,
        )  # fmt: skip
    )
    sq8 = ivf_planner("SQ8")(size)
    methods.append(
        gallery_method(
            f"rejected: {sq8.spec} nprobe {sq8.nprobe} (mmapped), re-rank {sq8.rerank}",
            workdir / f"sq8-{size}",
            ids,
            data.encodings,
            ivf_planner("SQ8"),
        )  # fmt: skip
    )
    if size <= hnsw_max:
        methods.append(hnsw_method(ids, data.encodings, ef=256))
    for method in methods:
        print(f"[{size}] built {method.name}: {method.build_seconds:.1f} s", file=sys.stderr)

    ordered_queries = queries[order]  # known people first, then strangers
    truth_ids, truth_distances = truth_ids[order], truth_distances[order]
    # The exact methods' subset: the first EXACT_QUERIES of the interleaved order.
    subset = queries[:EXACT_QUERIES]
    subset_truth_ids = ids[truth_rows[:EXACT_QUERIES]]
    subset_truth_distances = synthetic.exact_nearest(data.encodings, subset)[1]
    for run in range(runs):
        for method in methods:
            measure(method, subset if method.exact else ordered_queries)
        print(f"[{size}] run {run + 1}/{runs} done", file=sys.stderr, flush=True)

    results = {
        "gallery": {"faces": size, "people": len(data.centres)},
        "queries": {"known_people": len(known), "strangers": len(strangers)},
        "exact_reference_seconds": round(truth_seconds, 1),
        "exact_reference_match_rate": {
            "known_people": round(
                float((truth_distances[: len(known)] <= DEFAULT_TOLERANCE).mean()), 3
            ),
            "strangers": round(
                float((truth_distances[len(known) :] <= DEFAULT_TOLERANCE).mean()), 3
            ),
        },
        "methods": {},
    }
    for method in methods:
        if method.exact:
            # Interleaved subset: even rows known people, odd rows strangers.
            check = agreement_interleaved(method, subset_truth_ids, subset_truth_distances)
        else:
            check = agreement(method, truth_ids, truth_distances, len(known))
        entry = {
            "build_seconds": round(method.build_seconds, 1),
            "wall_ms": percentiles_over_runs(method.walls),
            "cpu_ms": percentiles_over_runs(method.cpus),
            "agreement": check,
            "nbytes_mb": round(method.nbytes / 1e6, 1),
        }
        if method.store is not None:
            entry["memory"] = reader_memory(method.store, ordered_queries, workdir)
        results["methods"][method.name] = entry
        print(json.dumps({method.name: entry}), file=sys.stderr, flush=True)
    results["bench_process_rss_mb"] = rss_mb()
    for method in methods:
        if method.store is not None:
            shutil.rmtree(method.store, ignore_errors=True)
    return results


def agreement_interleaved(method: Method, truth_ids, truth_distances) -> dict[str, object]:
    found_ids = np.array([a[0] for a in method.answers])
    found_distances = np.array([a[1] for a in method.answers])
    same_id = found_ids == truth_ids
    decided = (found_distances <= DEFAULT_TOLERANCE) == (truth_distances <= DEFAULT_TOLERANCE)
    error = np.abs(found_distances - truth_distances)[same_id]
    return {
        "queries": len(found_ids),
        "same_id": round(float(same_id.mean()), 4),
        "same_id_known": round(float(same_id[0::2].mean()), 4),
        "same_id_strangers": round(float(same_id[1::2].mean()), 4),
        "same_decision": round(float(decided.mean()), 4),
        "max_distance_error_when_same_id": float(error.max()) if len(error) else None,
    }


def real_encodings() -> tuple[np.ndarray, np.ndarray]:
    """The development photos' encodings and person labels, computed with media_pipeline."""
    from media_pipeline import samples
    from media_pipeline.face_cache import EncodingCache, default_cache_dir
    from media_pipeline.faces import (
        detect_and_encode,
        encode_known_image,
        known_images,
        load_rgb,
        person_label,
    )

    cache = EncodingCache(default_cache_dir())
    rows, people = [], []
    for path in known_images(samples.KNOWN_FACES):
        rows.append(encode_known_image(path, cache))
        people.append(person_label(path, samples.KNOWN_FACES))
    cache.save()
    known = np.concatenate(rows)
    for path in sorted(samples.UNKNOWN_FACES.iterdir()):
        for encoding in detect_and_encode(load_rgb(path))[1]:
            # Each unknown face belongs to its nearest known person, except the stranger
            # (lin-manuel-miranda.png, nobody in the known set): his own label.
            nearest = int(np.argmin(np.linalg.norm(known - encoding, axis=1)))
            people.append("stranger" if path.stem == "lin-manuel-miranda" else people[nearest])
            rows.append(encoding[None, :])
    labels = {name: number for number, name in enumerate(sorted(set(people)))}
    return np.concatenate(rows), np.array([labels[p] for p in people])


def generator_check() -> dict[str, object]:
    encodings, person = real_encodings()
    data = synthetic.gallery(100_000, seed=1)
    return {
        "percentiles": [5, 25, 50, 75, 95],
        "real_development_photos": synthetic.distance_percentiles(encodings, person),
        "synthetic_100000": synthetic.distance_percentiles(data.encodings, data.person),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=600)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--hnsw-max",
        type=int,
        default=100_000,
        help="HNSW only up to this size (its build takes minutes)",
    )
    parser.add_argument(
        "--no-real", action="store_true", help="skip the real-encodings check of the generator"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # face_recognition_models' pkg_resources deprecation
    started = time.time()
    results: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "faiss": faiss.__version__,
            "load_average_at_start": os.getloadavg(),
        },
    }
    if not args.no_real:
        results["generator_check"] = generator_check()
        print(json.dumps(results["generator_check"]), file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="gallery-bench-") as workdir:
        for size in args.sizes:
            results[str(size)] = bench_size(
                size, args.queries, args.runs, args.hnsw_max, Path(workdir)
            )
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["seconds"] = round(time.time() - started, 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
