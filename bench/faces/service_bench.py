"""Face service speed: images per second through the whole service against bare
`face_recognition` on the same images and cores, and latency at a steady rate.

    .venv/bin/python -m tests.tools.with_postgres -- \\
        .venv/bin/python -m bench.faces.service_bench --backends 1 --backends 2 --repeats 3

The real panel (bench/live/stack.py: Redis, Daphne and the Django env over a throwaway data dir,
the database DATABASE_URL names) with real Celery workers: `-Q faces` (prefork, the processors,
`--per-backend` processes per back-end), `-Q celery` (starts runs, publishes the gallery) and
`-Q monitors` (threads: the run's monitor). The back-end is the `face-recognition-service`
preset started through `POST /api/runs/` with `replicas` N and the `photos` volume (the bundled
development set, media_pipeline/samples/faces), waited for until every replica answers /healthz.
The gallery is the set's known people (`POST /api/people/` and `/images/`).

Each repetition, side by side on the same machine:
1. Bare, for each N: the unknown photos (`--copies` times) through
   `face_recognition.load_image_file`, `face_locations`, `face_encodings` and `compare_faces`
   against the known encodings, in N processes (spawned, models loaded before timing).
2. Service, for each N: the same paths posted to `POST /api/faces/` in batches; the time is
   from the first POST to the last image's `finished_at` (all must end `processed`).
3. Steady: one image posted every 1/`--rate` s for `--steady-seconds` with the largest N;
   latency is each image's `finished_at` minus the moment its POST was sent.
Every result is checked against who is in each photo. The bench learns that the images are
done from one counting query on the database every 0.5 s (no load on Daphne), and reads the
results through `GET /api/faces/` afterwards. Beside the rates: CPU milliseconds per image of
each process group, the same per second while the service is up with nothing to do (what it
costs standing), and how busy the back-ends were (their own /metrics detection seconds over the
wall time).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import statistics
import tempfile
import time
import warnings
from datetime import datetime
from pathlib import Path

import psutil
import requests

from bench.live.stack import (
    CLEAR_DEMO_CODE,
    TOKEN_CODE,
    django_setup,
    p95,
    stack,
    start_worker,
    stop,
)
from media_pipeline import samples

PHOTOS = samples.ROOT / "faces"
SERVICE_TEMPLATE = "face-recognition-service"
# Who is in each development photo (the data set's README); None: a stranger.
EXPECTED = {
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
POLL_SECONDS = 0.5
BATCH = 100  # paths per POST in the throughput phase

VOLUME_CODE = """
from clusters.models import Volume
from clusters.services import cluster_ensure_local
cluster, _ = cluster_ensure_local()
Volume.objects.update_or_create(cluster=cluster, name="photos", defaults={{"local_path": {path!r}}})
print(cluster.name)
"""


def people(names) -> list[str | None]:
    return sorted(names, key=lambda p: (p is None, p or ""))


def person_of(known: Path) -> str:
    return re.sub(r"[_-]\d+$", "", known.stem)


def unknown_paths(copies: int) -> list[str]:
    names = sorted(EXPECTED)
    return [f"unknown/{name}" for _ in range(copies) for name in names]


def stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


# -- the panel -------------------------------------------------------------------------------


class Api:
    """The panel's REST API with a token, on one kept-alive connection."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def get(self, path: str, **params) -> dict:
        response = self.session.get(self.base + path, params=params, timeout=60)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict | None = None, expect: int = 201) -> dict:
        response = self.session.post(self.base + path, json=body, timeout=120)
        if response.status_code != expect:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:500]}")
        return response.json()


def wait(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def healthy(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def service_start(api: Api, replicas: int) -> dict:
    """The preset run with `replicas` back-ends, running and every replica's models loaded."""
    params = {"replicas": replicas, "volumes": ["photos"]}
    run = api.post(
        "/api/runs/", {"template": SERVICE_TEMPLATE, "cluster": "local", "params": params}
    )

    def running():
        detail = api.get(f"/api/runs/{run['id']}/")
        if detail["state"] in ("failed", "lost", "cancelled"):
            raise RuntimeError(f"the back-end run {detail['state']}: {detail['error']}")
        return (
            detail
            if detail["state"] == "running" and len(detail["endpoints"]) == replicas
            else None
        )

    detail = wait(running, 120, f"run {run['id']} to run")
    for url in detail["endpoints"].values():
        wait(lambda url=url: healthy(url), 300, f"{url}/healthz")
    return detail


def service_stop(api: Api, run_id: int) -> None:
    api.post(f"/api/runs/{run_id}/cancel/", expect=202)
    wait(lambda: api.get(f"/api/runs/{run_id}/")["state"] == "cancelled", 60, "the cancel")


def backend_processes(endpoints: dict[str, str]) -> list[psutil.Process]:
    ports = {url.rsplit(":", 1)[1] for url in endpoints.values()}
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "faces-serve" in cmd and "--port" in cmd and cmd[cmd.index("--port") + 1] in ports:
            found.append(proc)
    return found


def detect_seconds(endpoints: dict[str, str]) -> tuple[float, float]:
    """(seconds spent detecting, images detected) over the back-ends, from their /metrics."""
    total = count = 0.0
    for url in endpoints.values():
        text = requests.get(url + "/metrics", timeout=10).text
        total += float(re.search(r"^faces_serve_detect_seconds_sum (\S+)$", text, re.M).group(1))
        count += float(re.search(r"^faces_serve_detect_seconds_count (\S+)$", text, re.M).group(1))
    return total, count


def gallery_build(api: Api) -> dict[str, int]:
    """Every known person of the development set with their photo; name -> person id."""
    ids = {}
    for known in sorted((PHOTOS / "known").iterdir()):
        person = api.post("/api/people/", {"name": person_of(known)})
        api.post(
            f"/api/people/{person['id']}/images/",
            {"volume": "photos", "path": f"known/{known.name}"},
        )
        ids[person["name"]] = person["id"]
    return ids


class Progress:
    """How many images are not done yet: one counting query on the panel's database, cheaper
    for the panel than any API call (the results themselves are read through the API)."""

    SQL = "SELECT count(*) FROM faces_faceimage WHERE status IN ('pending', 'processing')"

    def __init__(self, data_dir: str) -> None:
        url = os.environ.get("DATABASE_URL")
        if url:
            import psycopg

            self.connection = psycopg.connect(url, autocommit=True)
        else:
            import sqlite3

            self.connection = sqlite3.connect(f"file:{data_dir}/db.sqlite3?mode=ro", uri=True)

    def unfinished(self) -> int:
        return self.connection.execute(self.SQL).fetchone()[0]

    def wait(self, timeout: float) -> None:
        wait(lambda: self.unfinished() == 0, timeout, "the images", interval=POLL_SECONDS)


def fetch(api: Api, since: float, ids: dict[int, object]) -> dict[int, dict]:
    """The rows of these image ids, from the list API (newest first, 50 a page)."""
    after = datetime.fromtimestamp(since - 2).astimezone().isoformat()
    found, page = {}, 1
    while True:
        body = api.get("/api/faces/", created_after=after, page=page)
        found.update((row["id"], row) for row in body["results"] if row["id"] in ids)
        if not body["next"]:
            return found
        page += 1


def check(rows: dict[int, dict], paths: dict[int, str]) -> list[str]:
    """What is wrong: an image not processed, or the wrong people in it."""
    wrong = []
    for image_id, path in paths.items():
        row = rows.get(image_id)
        if row is None or row["status"] != "processed":
            wrong.append(f"{path}: {row and row['status']} {row and row['error']}")
            continue
        got = people(face["person"] for face in row["faces"])
        if got != EXPECTED[Path(path).name]:
            wrong.append(f"{path}: {got}, expected {EXPECTED[Path(path).name]}")
    return wrong


class Cpu:
    """CPU seconds of each part of the stack, children included, counted once each."""

    def __init__(self, procs: list, workers: dict, backends: list[psutil.Process]) -> None:
        self.groups = {"redis": [procs[0].pid], "daphne": [procs[1].pid]}
        self.groups.update({name: [proc.pid] for name, proc in workers.items()})
        self.backends = {p.pid for p in backends}

    def _tree(self, pid: int) -> list[psutil.Process]:
        try:
            parent = psutil.Process(pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def snapshot(self) -> dict[str, float]:
        spent: dict[str, float] = {}
        seen: set[int] = set()

        def add(name: str, processes) -> None:
            for proc in processes:
                if proc.pid in seen:
                    continue
                seen.add(proc.pid)
                try:
                    times = proc.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                spent[name] = spent.get(name, 0.0) + times.user + times.system

        backend_tree = [p for pid in self.backends for p in self._tree(pid)]
        add("back-ends", backend_tree)
        for name, pids in self.groups.items():
            add(name, [p for pid in pids for p in self._tree(pid)])
        try:  # the PostgreSQL server of tests.tools.with_postgres, when it runs this
            parent = psutil.Process(os.getppid())
            add("postgres", [p for p in parent.children(recursive=True) if p.name() == "postgres"])
        except psutil.NoSuchProcess:
            pass
        me = psutil.Process().cpu_times()
        spent["bench client"] = me.user + me.system
        return spent


def per_image(before: dict, after: dict, images: int) -> dict[str, float]:
    return {
        name: round((after[name] - before.get(name, 0.0)) / images * 1000, 1)
        for name in after
        if after[name] - before.get(name, 0.0) > 0.005
    }


# -- bare face_recognition --------------------------------------------------------------------

_KNOWN = None
_LABELS: list[str] = []


def _bare_init(known, labels, ready) -> None:
    global _KNOWN, _LABELS
    warnings.simplefilter("ignore")  # face_recognition_models' pkg_resources deprecation
    import face_recognition
    import numpy as np

    tiny = np.zeros((32, 32, 3), dtype=np.uint8)
    face_recognition.face_locations(tiny)
    face_recognition.face_encodings(tiny, [(0, 31, 31, 0)])
    _KNOWN, _LABELS = known, labels
    ready.put(os.getpid())


def _bare_one(path: str) -> tuple[str, float, list]:
    import face_recognition
    import numpy as np

    began = time.perf_counter()
    image = face_recognition.load_image_file(path)
    boxes = face_recognition.face_locations(image)
    found = []
    for encoding in face_recognition.face_encodings(image, boxes):
        matches = face_recognition.compare_faces(_KNOWN, encoding, tolerance=0.6)
        best = int(np.argmin(face_recognition.face_distance(_KNOWN, encoding)))
        found.append(_LABELS[best] if matches[best] else None)
    return path, time.perf_counter() - began, found


def known_encodings():
    """The reference encodings bare matching compares against, computed once before any
    timing the way the service computes them (largest face, the same margin)."""
    from media_pipeline.face_cache import EncodingCache
    from media_pipeline.faces import load_known

    matcher = load_known(PHOTOS / "known", EncodingCache(None), on_error=lambda path, why: None)
    return matcher.encodings, list(matcher.labels)


def bare(processes: int, paths: list[str], known) -> dict:
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    files = [str(PHOTOS / path) for path in paths]
    with context.Pool(processes, initializer=_bare_init, initargs=(*known, ready)) as pool:
        pids = [ready.get(timeout=300) for _ in range(processes)]
        cpu_before = sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)
        began = time.perf_counter()
        results = list(pool.imap_unordered(_bare_one, files, chunksize=1))
        seconds = time.perf_counter() - began
        cpu = sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids) - cpu_before
    wrong = [
        f"{path}: {people(found)}"
        for path, _, found in results
        if people(found) != EXPECTED[Path(path).name]
    ]
    times = [t for _, t, _ in results]
    return {
        "images": len(files),
        "seconds": round(seconds, 2),
        "images_per_s": round(len(files) / seconds, 3),
        "per_image_ms_median": round(statistics.median(times) * 1000, 1),
        "cpu_ms_per_image": round(cpu / len(files) * 1000, 1),
        "wrong": wrong,
    }


# -- the service ------------------------------------------------------------------------------


class Service:
    def __init__(self, args, env: dict, procs: list, api: Api, base_workers: dict) -> None:
        self.args, self.env, self.procs, self.api = args, env, procs, api
        self.progress = Progress(env["CONTROLPANEL_DATA_DIR"])
        self.base_workers = base_workers  # name -> Popen of the workers that stay up
        self.workers: dict[str, object] = {}
        self.run: dict | None = None
        self.backends: list[psutil.Process] = []

    def start(self, replicas: int) -> None:
        """N back-ends and a faces worker with --per-backend processes each, warmed up."""
        self.run = service_start(self.api, replicas)
        self.backends = backend_processes(self.run["endpoints"])
        concurrency = self.args.per_backend * replicas
        start_worker(self.env, self.procs, "-Q", "faces", "--concurrency", str(concurrency),
                     "--hostname=bench-faces@%h")  # fmt: skip
        self.workers["faces worker"] = self.procs[-1]
        # Every worker process takes a few images before timing (imports, connections, gallery).
        warm = unknown_paths(max(1, -(-2 * concurrency // len(EXPECTED))))
        since = time.time()
        ids = self._submit(warm)
        self.progress.wait(600)
        wrong = check(fetch(self.api, since, ids), ids)
        if wrong:
            raise RuntimeError("warm-up images came out wrong: " + "; ".join(wrong[:5]))

    def standing(self, seconds: float) -> dict[str, float]:
        """CPU milliseconds per second of each part while nothing is submitted."""
        cpu = self._cpu()
        before = cpu.snapshot()
        time.sleep(seconds)
        after = cpu.snapshot()
        return {
            name: round((after[name] - before.get(name, 0.0)) / seconds * 1000, 1)
            for name in after
            if name != "bench client"
        }

    def stop(self) -> None:
        worker = self.workers.pop("faces worker")
        self.procs.remove(worker)
        stop([worker])
        service_stop(self.api, self.run["id"])
        self.run = None

    def _submit(self, paths: list[str]) -> dict[int, str]:
        ids: dict[int, str] = {}
        for start in range(0, len(paths), BATCH):
            chunk = paths[start : start + BATCH]
            body = self.api.post("/api/faces/", {"volume": "photos", "paths": chunk}, expect=202)
            ids.update(zip(body["ids"], chunk, strict=True))
        return ids

    def _cpu(self) -> Cpu:
        return Cpu(self.procs, {**self.base_workers, **self.workers}, self.backends)

    def throughput(self, paths: list[str]) -> dict:
        endpoints = self.run["endpoints"]
        cpu = self._cpu()
        cpu_before, detect_before = cpu.snapshot(), detect_seconds(endpoints)
        began = time.time()
        ids = self._submit(paths)
        posted = time.time() - began
        self.progress.wait(3600)
        cpu_after, detect_after = cpu.snapshot(), detect_seconds(endpoints)
        rows = fetch(self.api, began, ids)
        end = max(stamp(row["finished_at"]) for row in rows.values())
        seconds = end - began
        detected = detect_after[1] - detect_before[1]
        return {
            "images": len(paths),
            "post_seconds": round(posted, 2),
            "seconds": round(seconds, 2),
            "images_per_s": round(len(paths) / seconds, 3),
            "backend_busy": round(
                (detect_after[0] - detect_before[0]) / (seconds * len(endpoints)), 3
            ),
            "backend_detect_ms_per_image": round(
                (detect_after[0] - detect_before[0]) / max(detected, 1) * 1000, 1
            ),
            "cpu_ms_per_image": per_image(cpu_before, cpu_after, len(paths)),
            "wrong": check(rows, ids),
        }

    def steady(self, rate: float, seconds: float) -> dict:
        names = sorted(EXPECTED)
        count = int(seconds * rate)
        sent: dict[int, float] = {}
        ids: dict[int, str] = {}
        late = 0
        first = time.time() + 0.5
        for number in range(count):
            due = first + number / rate
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            else:
                late += pause < -0.05
            path = f"unknown/{names[number % len(names)]}"
            at = time.time()
            body = self.api.post("/api/faces/", {"volume": "photos", "path": path}, expect=202)
            sent[body["id"]], ids[body["id"]] = at, path
        asked = time.time() - first
        self.progress.wait(3600)
        rows = fetch(self.api, first, ids)
        latencies = sorted(stamp(rows[i]["finished_at"]) - sent[i] for i in sent if i in rows)
        return {
            "images": count,
            "rate_asked": rate,
            "rate_posted": round(count / asked, 3),
            "posts_late": late,
            "latency_ms_p50": round(statistics.median(latencies) * 1000),
            "latency_ms_p95": round(p95(latencies) * 1000),
            "latency_ms_max": round(latencies[-1] * 1000),
            "wrong": check(rows, ids),
        }


def repetition(args, service: Service, known, number: int) -> dict:
    paths = unknown_paths(args.copies)
    result: dict = {"repetition": number, "load_average_at_start": load(), "bare": {},
                    "service": {}}  # fmt: skip
    for replicas in args.backends:
        result["bare"][replicas] = bare(replicas, paths, known)
        print(f"[{number}] load {load()}: bare, {replicas} process(es): "
              + json.dumps(result["bare"][replicas]), flush=True)  # fmt: skip
        service.start(replicas)
        try:
            idle = service.standing(args.idle_seconds) if args.idle_seconds > 0 else {}
            found = service.throughput(paths)
            found["idle_cpu_ms_per_s"] = idle
            found["faces_worker_concurrency"] = args.per_backend * replicas
            found["ratio_to_bare"] = round(
                found["images_per_s"] / result["bare"][replicas]["images_per_s"], 3
            )
            result["service"][replicas] = found
            print(f"[{number}] load {load()}: service, {replicas} back-end(s): "
                  + json.dumps(found), flush=True)  # fmt: skip
            if replicas == args.steady_backends and args.steady_seconds > 0:
                steady = service.steady(args.rate, args.steady_seconds)
                bare_median = result["bare"][min(result["bare"])]["per_image_ms_median"]
                steady["backends"] = replicas
                steady["bare_per_image_ms_median"] = bare_median
                steady["p95_to_bare_median"] = round(steady["latency_ms_p95"] / bare_median, 2)
                result["steady"] = steady
                print(f"[{number}] load {load()}: steady: " + json.dumps(steady), flush=True)
        finally:
            service.stop()
    result["load_average_at_end"] = load()
    return result


def summary(results: list[dict]) -> dict:
    out: dict = {}
    for replicas in results[0]["service"]:
        ratios = [r["service"][replicas]["ratio_to_bare"] for r in results]
        out[f"{replicas} back-end(s): service/bare"] = {
            "each": ratios,
            "median": round(statistics.median(ratios), 3),
        }
    steady = [r["steady"]["p95_to_bare_median"] for r in results if "steady" in r]
    if steady:
        out["steady p95 / bare median per image"] = {
            "each": steady,
            "median": round(statistics.median(steady), 2),
        }
    out["wrong results"] = sum(
        len(part["wrong"])
        for r in results
        for part in [*r["bare"].values(), *r["service"].values(), r.get("steady", {"wrong": []})]
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", type=int, action="append",
                        help="back-end processes (repeat the flag; default 1 and 2)")  # fmt: skip
    parser.add_argument("--copies", type=int, default=20,
                        help="times the 9 unknown photos are submitted (20: 180 images)")  # fmt: skip
    parser.add_argument("--per-backend", type=int, default=2,
                        help="faces worker processes per back-end")  # fmt: skip
    parser.add_argument("--rate", type=float, default=2.0, help="steady: images per second")
    parser.add_argument("--steady-seconds", type=float, default=60)
    parser.add_argument("--steady-backends", type=int, default=None,
                        help="back-ends for the steady phase (default: the most)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--idle-seconds", type=float, default=15,
                        help="CPU of the service standing idle, measured for this long")  # fmt: skip
    args = parser.parse_args()
    args.backends = sorted(set(args.backends or [1, 2]))
    args.steady_backends = args.steady_backends or max(args.backends)
    if min(args.backends) < 1 or args.copies < 1 or args.per_backend < 1 or args.rate <= 0:
        parser.error("--backends, --copies and --per-backend must be at least 1, --rate above 0")
    if args.steady_backends not in args.backends:
        parser.error("--steady-backends must be one of --backends")
    warnings.simplefilter("ignore")
    print(f"load average at start {load()} on {os.cpu_count()} CPUs; "
          f"database {'PostgreSQL' if os.environ.get('DATABASE_URL') else 'SQLite'}", flush=True)  # fmt: skip
    known = known_encodings()
    tmp = tempfile.mkdtemp(prefix="bench-faces-")
    env, procs, base = stack(tmp)
    try:
        django_setup(env, CLEAR_DEMO_CODE)
        django_setup(env, VOLUME_CODE.format(path=str(PHOTOS)))
        api = Api(base, django_setup(env, TOKEN_CODE).splitlines()[-1])
        start_worker(env, procs, "-Q", "celery", "--concurrency", "1", "--hostname=bench-celery@%h")
        start_worker(env, procs, "-Q", "monitors", "--pool", "threads", "--concurrency", "4",
                     "--hostname=bench-monitors@%h")  # fmt: skip
        workers = {"celery worker": procs[2], "monitors worker": procs[3]}
        service = Service(args, env, procs, api, workers)
        service_gallery(service)
        results = [repetition(args, service, known, n + 1) for n in range(args.repeats)]
        report = {"arguments": vars(args), "results": results, "summary": summary(results)}
        print(json.dumps(report, indent=2))
        return 1 if report["summary"]["wrong results"] else 0
    finally:
        stop(procs)
        shutil.rmtree(tmp, ignore_errors=True)


def service_gallery(service: Service) -> None:
    """The gallery needs a back-end to encode the known photos: one replica while it is built."""
    run = service_start(service.api, 1)
    try:
        gallery_build(service.api)
    finally:
        service_stop(service.api, run["id"])


if __name__ == "__main__":
    raise SystemExit(main())
