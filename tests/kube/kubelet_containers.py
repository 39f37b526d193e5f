"""What the stand-in kubelet does for one container: run a real process, or follow a script.

A container whose command (or image entrypoint, see IMAGE_ENTRYPOINTS) is `python -m <module>`
for a module in RUNNABLE_MODULES (our own `media_pipeline`) really runs, with this interpreter
(sys.executable) and the repository on PYTHONPATH. Anything else (busybox, nginx, ...) cannot run
here, so it follows annotations on the pod instead:

    standin-kubelet/run-seconds  how long it "runs" (default 1; forever for restartPolicy Always)
    standin-kubelet/exit-code    the exit code it ends with (default 0)
    standin-kubelet/log          text it writes to its log when it starts
"""

from __future__ import annotations

import base64
import fnmatch
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from kubernetes import client as k8s

from tests.kube.kubelet_logs import ContainerLog
from tests.kube.kubelet_network import ProcessLauncher
from tests.kube.kubelet_volumes import Mount, rewrite_path

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNNABLE_MODULES = frozenset({"media_pipeline"})
# Image name patterns whose entrypoint is the pipeline, for containers that only give args.
IMAGE_ENTRYPOINTS: dict[str, list[str]] = {
    "*media-pipeline*": ["python", "-m", "media_pipeline"],
    "*media_pipeline*": ["python", "-m", "media_pipeline"],
}
ANNOTATION = "standin-kubelet/"
PYTHON_NAME = re.compile(r"python(3(\.\d+)?)?")
VAR_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: known names are replaced, $$ escapes, unknown stay as is."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return VAR_REFERENCE.sub(replace, value)


def runnable_argv(
    container: k8s.V1Container, entrypoints: dict[str, list[str]] = IMAGE_ENTRYPOINTS
) -> list[str] | None:
    """The argv to run locally for `python -m <runnable module> ...`, else None (scripted)."""
    command = list(container.command or [])
    if not command:
        command = next(
            (list(cmd) for pattern, cmd in entrypoints.items()
             if fnmatch.fnmatch(container.image or "", pattern)),
            [],
        )  # fmt: skip
    argv = command + list(container.args or [])
    if (
        len(argv) >= 3
        and PYTHON_NAME.fullmatch(os.path.basename(argv[0]))
        and argv[1] == "-m"
        and argv[2] in RUNNABLE_MODULES
    ):
        return [sys.executable, *argv[1:]]
    return None


def container_env(
    pod: k8s.V1Pod,
    container: k8s.V1Container,
    core: k8s.CoreV1Api,
    pod_ip: str | None,
    mounts: list[Mount],
) -> dict[str, str]:
    """The environment a container would see: envFrom, env (with valueFrom), plus what a local
    Python process needs (PATH, PYTHONPATH with the repository)."""
    namespace = pod.metadata.namespace
    env: dict[str, str] = {}
    for source in container.env_from or []:
        data = {}
        if source.config_map_ref:
            data = _config_map(core, namespace, source.config_map_ref.name)
        elif source.secret_ref:
            data = _secret(core, namespace, source.secret_ref.name)
        env.update({(source.prefix or "") + key: value for key, value in data.items()})
    for var in container.env or []:
        if var.value_from is None:
            env[var.name] = expand(var.value or "", env)
            continue
        value = _value_from(var.value_from, pod, core, pod_ip)
        if value is not None:
            env[var.name] = value
    env = {key: rewrite_path(value, mounts) for key, value in env.items()}
    local = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOSTNAME": pod.metadata.name,
        "PYTHONUNBUFFERED": "1",  # logs must flow while the process runs, not at exit
    }
    python_path = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return {**local, **env, "PYTHONPATH": python_path}


def _config_map(core: k8s.CoreV1Api, namespace: str, name: str) -> dict[str, str]:
    return dict(core.read_namespaced_config_map(name, namespace).data or {})


def _secret(core: k8s.CoreV1Api, namespace: str, name: str) -> dict[str, str]:
    data = core.read_namespaced_secret(name, namespace).data or {}
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def _value_from(source, pod: k8s.V1Pod, core: k8s.CoreV1Api, pod_ip: str | None) -> str | None:
    namespace = pod.metadata.namespace
    if source.secret_key_ref:
        return _secret(core, namespace, source.secret_key_ref.name).get(source.secret_key_ref.key)
    if source.config_map_key_ref:
        ref = source.config_map_key_ref
        return _config_map(core, namespace, ref.name).get(ref.key)
    if source.field_ref:
        path = source.field_ref.field_path
        fields = {
            "metadata.name": pod.metadata.name,
            "metadata.namespace": namespace,
            "metadata.uid": pod.metadata.uid,
            "spec.nodeName": pod.spec.node_name,
            "spec.serviceAccountName": pod.spec.service_account_name,
            "status.hostIP": "127.0.0.1",
            "status.podIP": pod_ip or "",
        }
        if path in fields:
            return fields[path]
        match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
        if match:
            return (getattr(pod.metadata, match.group(1)) or {}).get(match.group(2), "")
    return None  # resourceFieldRef and the like: not needed by anything we run


class ProcessContainer:
    """A container that really runs as a local process."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        launcher: ProcessLauncher,
        pod: k8s.V1Pod,
        pod_ip: str | None,
    ) -> None:
        self.argv, self.env, self.cwd = argv, env, cwd
        self.launcher, self.pod, self.pod_ip = launcher, pod, pod_ip
        self.process: subprocess.Popen | None = None

    def run(self, log: ContainerLog) -> int:
        """Start, copy output to the log, and return the exit code as a container runtime would
        report it (128 + signal number when killed)."""
        try:
            self.process = self.launcher.launch(
                self.argv, self.env, self.cwd, self.pod, self.pod_ip
            )
        except OSError as exc:
            log.write_line(f"standin-kubelet: cannot start {self.argv}: {exc}\n".encode())
            return 128
        pump = threading.Thread(target=log.pump, args=(self.process.stdout,), daemon=True)
        pump.start()
        code = self.process.wait()
        pump.join(timeout=10)
        return 128 - code if code < 0 else code

    def stop(self, grace_seconds: float) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class ScriptedContainer:
    """A container that cannot run here: it waits and exits as the pod's annotations say."""

    def __init__(self, pod: k8s.V1Pod, container: k8s.V1Container) -> None:
        annotations = pod.metadata.annotations or {}
        forever = (pod.spec.restart_policy or "Always") == "Always"
        seconds = annotations.get(ANNOTATION + "run-seconds")
        self.seconds = float(seconds) if seconds is not None else (None if forever else 1.0)
        self.exit_code = int(annotations.get(ANNOTATION + "exit-code", "0"))
        self.message = annotations.get(ANNOTATION + "log", "")
        self.container = container
        self._stopped = threading.Event()

    def run(self, log: ContainerLog) -> int:
        log.write_line(
            f"standin-kubelet: {self.container.image} is scripted (runs "
            f"{'until deleted' if self.seconds is None else f'{self.seconds:g}s'}, "
            f"exits {self.exit_code})\n".encode()
        )
        for line in self.message.splitlines():
            log.write_line(line.encode() + b"\n")
        if self._stopped.wait(self.seconds):
            return 143  # SIGTERM, as a real process stopped for deletion would report
        return self.exit_code

    def stop(self, grace_seconds: float) -> None:
        self._stopped.set()
