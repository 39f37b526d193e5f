"""One pod's life on the stand-in kubelet: volumes, init containers, containers, restarts, status.

Status is reported as a kubelet does: Pending (containers waiting in ContainerCreating), Running,
then Succeeded or Failed when no container will restart; containerStatuses carry running /
terminated states, exit codes, lastState and restartCount (restartPolicy Always / OnFailure /
Never); a container with a readiness probe is ready only while it passes (kubelet_probes).
Restart back-off is short (0.5s doubling, at most 5s) so tests do not wait minutes.
"""

from __future__ import annotations

import datetime as dt
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from tests.kube.kubelet_containers import (
    ProcessContainer,
    ScriptedContainer,
    container_env,
    expand,
    runnable_argv,
)
from tests.kube.kubelet_logs import ContainerLog
from tests.kube.kubelet_probes import ReadinessProber, runnable_probe
from tests.kube.kubelet_volumes import rewrite_path

if TYPE_CHECKING:
    from tests.kube.standin_kubelet import StandinKubelet

MAX_GRACE_SECONDS = 5.0  # tests should not wait out a 30s default grace period


def _timestamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerRecord:
    """What the kubelet knows about one container of the pod."""

    name: str
    image: str
    restart_count: int = 0
    state: dict = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: dict = field(default_factory=dict)
    logs: list[ContainerLog] = field(default_factory=list)  # one per attempt
    runner: ProcessContainer | ScriptedContainer | None = None
    finished: bool = False  # terminated and will not restart
    probed: bool = False  # its readiness probe runs (kubelet_probes), so `probe_ready` counts
    probe_ready: bool = False

    @property
    def ready(self) -> bool:
        return "running" in self.state and (self.probe_ready or not self.probed)

    def status(self, uid: str) -> dict:
        attempt = max(len(self.logs) - 1, 0)
        running = "running" in self.state
        return {
            "name": self.name,
            "image": self.image,
            "imageID": f"standin://{self.image}",
            "containerID": f"standin://{uid}/{self.name}/{attempt}",
            "ready": self.ready,
            "started": running,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }


class PodWorker:
    def __init__(self, kubelet: StandinKubelet, pod: k8s.V1Pod) -> None:
        self.kubelet = kubelet
        self.pod = pod
        self.uid = pod.metadata.uid
        self.stopping = threading.Event()
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.pod_ip: str | None = None
        self.volume_dirs: dict[str, Path] = {}
        self.start_time = _timestamp()
        self.init_records = [
            ContainerRecord(c.name, c.image) for c in pod.spec.init_containers or []
        ]
        self.records = [ContainerRecord(c.name, c.image) for c in pod.spec.containers]
        self.thread = threading.Thread(
            target=self._run, name=f"pod-{pod.metadata.name}", daemon=True
        )

    # -- control from the kubelet ---------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def stop(self, grace_seconds: float | None) -> None:
        """Stop every container (SIGTERM, then SIGKILL after the grace period) and wait."""
        self.stopping.set()
        grace = min(MAX_GRACE_SECONDS, grace_seconds if grace_seconds is not None else 30)
        for record in self.init_records + self.records:
            if record.runner is not None:
                record.runner.stop(grace)
        self.done.wait(grace + 10)

    def log_for(self, container: str, previous: bool) -> ContainerLog | str:
        for record in self.init_records + self.records:
            if record.name != container:
                continue
            if previous:
                if len(record.logs) < 2:
                    return f'previous terminated container "{container}" in pod not found'
                return record.logs[-2]
            if not record.logs:
                reason = record.state.get("waiting", {}).get("reason", "ContainerCreating")
                return f'container "{container}" in pod is waiting to start: {reason}'
            return record.logs[-1]
        return f'container "{container}" not found in pod'

    # -- the pod's life -------------------------------------------------------------------------

    def _run(self) -> None:
        pod = self.pod
        try:
            self.pod_ip = self.kubelet.pod_ips.allocate(pod)
            self.volume_dirs = self.kubelet.volumes.prepare(pod)
            self._report()
            for container, record in zip(
                pod.spec.init_containers or [], self.init_records, strict=True
            ):
                if not self._run_container(container, record, init=True):
                    self._report()
                    return
            threads = [
                threading.Thread(target=self._run_container, args=(c, r), daemon=True)
                for c, r in zip(pod.spec.containers, self.records, strict=True)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            self._report()
        except ApiException as exc:
            if exc.status != 404:  # 404: the pod went away meanwhile, nothing to report
                self.kubelet.log(f"pod {pod.metadata.name}: API error {exc.status} {exc.reason}")
        except Exception:
            self.kubelet.log(f"pod {pod.metadata.name} failed:\n{traceback.format_exc()}")
        finally:
            self.done.set()

    def _runner(self, container: k8s.V1Container) -> ProcessContainer | ScriptedContainer:
        argv = runnable_argv(container, self.kubelet.image_entrypoints)
        if argv is None:
            return ScriptedContainer(self.pod, container)
        mounts = self.kubelet.volumes.mounts(container, self.volume_dirs)
        env = container_env(self.pod, container, self.kubelet.core, self.pod_ip, mounts)
        # argv[0] is this machine's interpreter: never a container path, so never rewritten.
        argv = argv[:1] + [rewrite_path(expand(arg, env), mounts) for arg in argv[1:]]
        # Without a container image there is no root filesystem: an unmounted workingDir (or none)
        # becomes a directory of the pod's own.
        pod_dir = self.kubelet.volumes.pod_dir(self.pod)
        cwd = Path(rewrite_path(container.working_dir, mounts)) if container.working_dir else None
        if cwd is None or str(cwd) == container.working_dir:
            cwd = pod_dir / "rootfs" / (container.working_dir or "workdir").lstrip("/")
        cwd.mkdir(parents=True, exist_ok=True)
        return ProcessContainer(argv, env, cwd, self.kubelet.launcher, self.pod, self.pod_ip)

    def _run_container(
        self, container: k8s.V1Container, record: ContainerRecord, init: bool = False
    ) -> bool:
        """Run (and restart per restartPolicy) one container; True when it ended successfully."""
        policy = self.pod.spec.restart_policy or "Always"
        backoff = 0.5
        while not self.stopping.is_set():
            runner = self._runner(container)
            log_path = (
                self.kubelet.logs_root / self.pod.metadata.namespace / self.pod.metadata.name
                / f"{self.uid[:8]}-{record.name}-{len(record.logs)}.log"
            )  # fmt: skip
            log = ContainerLog(log_path)
            prober = None
            probe = None if init else container.readiness_probe
            with self.lock:
                record.runner = runner
                record.logs.append(log)
                record.state = {"running": {"startedAt": _timestamp()}}
                record.probed = isinstance(runner, ProcessContainer) and runnable_probe(probe)
                record.probe_ready = False
            self._report()
            if record.probed:
                prober = ReadinessProber(
                    probe, container, self.pod_ip or "127.0.0.1",
                    on_change=lambda ready, record=record: self._set_ready(record, ready),
                ).start()  # fmt: skip
            started = record.state["running"]["startedAt"]
            code = runner.run(log)
            if prober is not None:
                prober.stop()
            log.close()
            terminated = {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": started,
                "finishedAt": _timestamp(),
                "containerID": record.status(self.uid)["containerID"],
            }
            restart = not self.stopping.is_set() and (
                policy == "Always" and not init or (policy != "Never" and code != 0)
            )
            with self.lock:
                record.probe_ready = False
                if restart:
                    record.last_state = {"terminated": terminated}
                    record.restart_count += 1
                    record.state = {
                        "waiting": {"reason": "CrashLoopBackOff" if code else "Completed"}
                    }
                else:
                    record.state = {"terminated": terminated}
                    record.finished = True
            if not restart:
                self._report()
                return code == 0
            self._report()
            self.stopping.wait(backoff)
            backoff = min(backoff * 2, 5.0)
        return False

    def _set_ready(self, record: ContainerRecord, ready: bool) -> None:
        with self.lock:
            record.probe_ready = ready
        try:
            self._report()
        except ApiException as exc:
            if exc.status != 404:  # the pod is gone: nobody to tell
                self.kubelet.log(f"pod {self.pod.metadata.name}: readiness report: {exc.status}")

    # -- status ---------------------------------------------------------------------------------

    def _phase(self) -> str:
        if any(r.finished and r.state["terminated"]["exitCode"] != 0 for r in self.init_records):
            return "Failed"
        if all(r.finished for r in self.records):
            failed = any(r.state["terminated"]["exitCode"] != 0 for r in self.records)
            return "Failed" if failed else "Succeeded"
        if any(r.logs for r in self.records):
            return "Running"
        return "Pending"

    def _report(self) -> None:
        with self.lock:
            phase = self._phase()
            ready = phase == "Running" and all(r.ready for r in self.records)
            initialized = all(r.finished for r in self.init_records)
            status = {
                "phase": phase,
                "hostIP": "127.0.0.1",
                "startTime": self.start_time,
                "conditions": [
                    _condition("Initialized", initialized),
                    _condition("ContainersReady", ready),
                    _condition("Ready", ready),
                ],
                "containerStatuses": [r.status(self.uid) for r in self.records],
            }
            if self.init_records:
                status["initContainerStatuses"] = [r.status(self.uid) for r in self.init_records]
            if self.pod_ip:
                status["podIP"] = self.pod_ip
                status["podIPs"] = [{"ip": self.pod_ip}]
            meta = self.pod.metadata
            self.kubelet.core.patch_namespaced_pod_status(
                meta.name, meta.namespace, {"status": status}
            )


def _condition(kind: str, true: bool) -> dict:
    return {"type": kind, "status": "True" if true else "False", "lastTransitionTime": _timestamp()}
