"""The local runtime: workload tasks as child processes on this machine.

Each task is `python -m media_pipeline ...` under `local_launcher` (own process group), in a work
folder per run (LOCAL_DATA_ROOT/runs/<id>), stdout and stderr to one log file per task. The
handle keeps pids and their start times, so a restarted panel re-attaches to processes that are
still running and tells vanished ones apart from finished ones.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from clusters.runtimes.base import (
    LogLine,
    PodStatus,
    RunStatus,
    StartRejected,
    TaskSpec,
    VolumePath,
    WorkloadSpec,
    WorkPath,
)

CANCEL_MARKER = "cancelled"
FOLLOW_POLL_SECONDS = 0.05
MAX_LINE_BYTES = 64 * 1024  # a longer run of output without a newline is stored in pieces
READ_BYTES = 1 << 20  # bounds memory when catching up with a long log

logger = logging.getLogger(__name__)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _process_start_ticks(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot, or None if it is gone or a zombie.

    Comparing it with the recorded value tells our process from a recycled pid."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def _free_port(taken: set[int]) -> int:
    """A port nothing listens on, and not one already handed to another replica of this run
    (the processes bind theirs only once they start)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def fresh_workdir(root: Path, run_id: int) -> Path:
    """The run's empty work folder, `root/runs/<id>`.

    A run starts once, so a folder already there belongs to an earlier run that had the same id
    (a database restored from a backup older than the data folder): its cancel marker, exit
    files and outputs would be taken for this run's. It is moved aside, not deleted."""
    workdir = root / "runs" / str(run_id)
    if workdir.exists():
        aside = workdir.with_name(f"{run_id}.replaced-{datetime.now(UTC):%Y%m%dT%H%M%S%f}")
        workdir.rename(aside)
        logger.warning(
            "run %s: its work folder held files of an earlier run with the same id (a restored "
            "database?); moved to %s: delete it once nothing there is needed", run_id, aside,
        )  # fmt: skip
    (workdir / "logs").mkdir(parents=True)
    (workdir / "output").mkdir()
    return workdir


def _processes(spec: WorkloadSpec) -> Iterator[tuple[TaskSpec, str]]:
    """Each process to start and its pod name: `run-<id>-<task>`, or `run-<id>-<task>-<i>`
    for the replicas of a task that has several."""
    for task in spec.tasks:
        base = f"run-{spec.run_id}-{task.name}"
        if task.replicas <= 1:
            yield task, base
        else:
            for index in range(task.replicas):
                yield task, f"{base}-{index}"


class LocalRuntime:
    def __init__(self, cluster) -> None:
        self.cluster = cluster
        self.root = Path(settings.LOCAL_DATA_ROOT)

    # -- paths --------------------------------------------------------------------------------
    def _volume_dir(self, spec: WorkloadSpec, name: str) -> Path:
        for volume in spec.volumes:
            if volume.name == name:
                path = Path(volume.local_path or volume.name)
                return path if path.is_absolute() else self.root / path
        raise StartRejected(f"volume {name!r} is not defined on this cluster")

    def _resolve(self, spec: WorkloadSpec, workdir: Path, arg) -> str:
        if isinstance(arg, VolumePath):
            path = self._volume_dir(spec, arg.volume) / arg.relative
            return f"{arg.prefix}{path}{arg.suffix}"
        if isinstance(arg, WorkPath):
            return str(workdir / arg.relative)
        return arg

    # -- interface ----------------------------------------------------------------------------
    def start(self, spec: WorkloadSpec) -> dict:
        if spec.manifests or any(not task.pipeline or task.gpus for task in spec.tasks):
            raise StartRejected(
                "The local cluster runs media-pipeline commands only; use a Kubernetes cluster "
                "for images, GPUs and manifests."
            )
        workdir = fresh_workdir(self.root, spec.run_id)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(settings.BASE_DIR), os.environ.get("PYTHONPATH")])
            ),
            "PYTHONUNBUFFERED": "1",
        }
        pods, endpoints, ports = [], {}, set()
        for task, name in _processes(spec):
            argv = [self._resolve(spec, workdir, arg) for arg in task.args]
            if task.port is not None:
                port = _free_port(ports)
                argv += ["--host", "127.0.0.1", "--port", str(port)]
                endpoints[name] = f"http://127.0.0.1:{port}"
            log_path = workdir / "logs" / f"{name}.log"
            exit_path = workdir / "logs" / f"{name}.exit"
            with open(log_path, "ab") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "clusters.runtimes.local_launcher", str(exit_path), "--",
                     sys.executable, "-m", "media_pipeline", *argv],
                    cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    env=env, start_new_session=True,
                )  # fmt: skip
            _reap_in_background(process)
            pods.append({
                "name": name, "pid": process.pid, "pid_start": _process_start_ticks(process.pid),
                "log": str(log_path), "exit_file": str(exit_path), "started_at": _now_iso(),
                "inputs": task.inputs,
            })  # fmt: skip
        return {"runtime": "local", "workdir": str(workdir), "pods": pods, "endpoints": endpoints}

    def _pod_status(self, pod: dict) -> PodStatus:
        started = datetime.fromisoformat(pod["started_at"]) if pod.get("started_at") else None
        exit_path = Path(pod["exit_file"])
        if exit_path.exists():
            code = int(exit_path.read_text().strip() or 1)
            finished = datetime.fromtimestamp(exit_path.stat().st_mtime, UTC)
            return PodStatus(
                pod["name"], "Succeeded" if code == 0 else "Failed", code,
                "" if code == 0 else "Error", 0, started, finished,
            )  # fmt: skip
        ticks = _process_start_ticks(pod["pid"])
        if ticks is not None and ticks == pod.get("pid_start"):
            return PodStatus(pod["name"], "Running", None, "", 0, started)
        return PodStatus(
            pod["name"], "Unknown", None,
            f"process {pod['pid']} ended without recording an exit status", 0, started,
        )  # fmt: skip

    def status(self, handle: dict) -> RunStatus:
        pods = [self._pod_status(pod) for pod in handle.get("pods", [])]
        endpoints = handle.get("endpoints", {})
        if not pods:
            return RunStatus("lost", pods, "the run has no processes")
        if any(pod.phase == "Running" for pod in pods):
            return RunStatus("running", pods, endpoints=endpoints)
        if (Path(handle["workdir"]) / CANCEL_MARKER).exists():
            return RunStatus("cancelled", pods, "cancelled")
        lost = [pod for pod in pods if pod.phase == "Unknown"]
        if lost:
            return RunStatus("lost", pods, lost[0].reason)
        failed = [pod for pod in pods if pod.phase == "Failed"]
        if failed:
            return RunStatus(
                "failed", pods, f"{failed[0].name} exited with code {failed[0].exit_code}"
            )
        return RunStatus("succeeded", pods)

    def logs(
        self,
        handle: dict,
        pod: str,
        *,
        since: int = 0,
        follow: bool = False,
        stop: threading.Event | None = None,
    ) -> Iterator[LogLine]:
        """Complete lines from byte offset `since`; with follow, until the process has ended
        (or `stop` is set: whoever follows has gone)."""
        record = next(item for item in handle["pods"] if item["name"] == pod)
        stop = stop or threading.Event()
        path = Path(record["log"])
        position = since
        pending = b""
        while True:
            ended = (
                self._pod_status(record).phase != "Running"
            )  # checked before reading: no lost tail
            try:
                with open(path, "rb") as log:
                    log.seek(position + len(pending))
                    chunk = log.read(READ_BYTES)
            except FileNotFoundError:
                chunk = b""
            *complete, pending = (pending + chunk).split(b"\n")
            for line in complete:
                position += len(line) + 1
                yield LogLine(line.decode("utf-8", "replace"), position)
            if len(pending) >= MAX_LINE_BYTES:  # no newline in sight (\r progress bars): cut
                position += len(pending)
                yield LogLine(pending.decode("utf-8", "replace"), position)
                pending = b""
            if len(chunk) == READ_BYTES:
                continue  # a long backlog: read on before deciding anything
            if ended or not follow:
                if ended and pending:
                    position += len(pending)
                    yield LogLine(pending.decode("utf-8", "replace"), position)
                return
            if not chunk and stop.wait(FOLLOW_POLL_SECONDS):
                return

    def cancel(self, handle: dict) -> None:
        workdir = Path(handle["workdir"])
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / CANCEL_MARKER).touch()
        running = [
            pod for pod in handle.get("pods", []) if self._pod_status(pod).phase == "Running"
        ]
        for pod in running:
            _signal_group(pod["pid"], signal.SIGTERM)
        deadline = time.monotonic() + getattr(settings, "WORKLOADS_CANCEL_GRACE_SECONDS", 10)
        while running and time.monotonic() < deadline:
            running = [pod for pod in running if self._pod_status(pod).phase == "Running"]
            time.sleep(0.1)
        for pod in running:  # ignored SIGTERM: no more asking
            _signal_group(pod["pid"], signal.SIGKILL)

    def cleanup(self, handle: dict) -> None:
        """Finished local runs keep their outputs; make sure nothing of theirs still runs."""
        for pod in handle.get("pods", []):
            if self._pod_status(pod).phase == "Running":
                _signal_group(pod["pid"], signal.SIGKILL)

    def resolve_output(self, handle: dict, path: str) -> str:
        return path if Path(path).is_absolute() else str(Path(handle["workdir"]) / path)


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)  # the launcher leads its own group (start_new_session)
    except ProcessLookupError:
        pass


def _reap_in_background(process: subprocess.Popen) -> None:
    # The launcher is our child while this worker lives; wait() keeps it from lingering as a zombie.
    import threading

    threading.Thread(target=process.wait, daemon=True, name=f"reap-{process.pid}").start()
