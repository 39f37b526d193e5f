"""The runtime interface and the neutral description of what to run.

A `WorkloadSpec` says what to run without saying where: pipeline argv per task, with paths as
`VolumePath` / `WorkPath` markers that each runtime resolves (a folder under LOCAL_DATA_ROOT, or a
mount path in a pod). Runtimes never import the workloads app.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class RuntimeFailure(Exception):
    """A runtime could not do what was asked; the message is safe to show to users."""


class StartRejected(RuntimeFailure):
    """The cluster refused the workload (bad manifest, quota, forbidden): not worth retrying."""


@dataclass(frozen=True)
class VolumePath:
    """A path relative to a volume's root (an input folder, an output folder), resolved where
    the task runs; `prefix` and `suffix` wrap it (a `file:` stream source and its options)."""

    volume: str
    relative: str = ""
    prefix: str = ""
    suffix: str = ""


@dataclass(frozen=True)
class WorkPath:
    """A path inside the run's own scratch folder (outputs when no volume is chosen)."""

    relative: str = ""


Arg = str | VolumePath | WorkPath


@dataclass(frozen=True)
class VolumeRef:
    name: str
    claim_name: str
    mount_path: str
    local_path: str  # local cluster: relative to LOCAL_DATA_ROOT or absolute


@dataclass
class TaskSpec:
    """One process / pod: `python -m media_pipeline <args>` or an arbitrary image."""

    name: str  # suffix, unique within the run: "0", "1", "stream", "gpu"
    args: list[Arg]
    image: str = ""
    pipeline: bool = True  # the args are media_pipeline's; else image + args as given
    command: list[str] = field(default_factory=list)  # non-pipeline: replaces the entrypoint
    gpus: int = 0
    restart_policy: str = "Never"
    backoff_limit: int | None = None  # a Job's retries; None: 0 for Never, else 3
    # Host folders mounted read-only at the same path: (volume name, path). Each needs a named
    # Pod Security exception on the cluster (the NVIDIA driver folder of GPU nodes).
    host_paths: list[tuple[str, str]] = field(default_factory=list)
    port: int | None = None  # a long-running server (camera stream, face back-end)
    # Identical copies of a long-running server: processes on ports of their own locally, a
    # Deployment's replicas behind one Service on Kubernetes.
    replicas: int = 1
    # The inputs this task was given, for "each processed exactly once" checks and the UI.
    inputs: list[str] = field(default_factory=list)


@dataclass
class WorkloadSpec:
    run_id: int
    kind: str
    tasks: list[TaskSpec] = field(default_factory=list)
    volumes: list[VolumeRef] = field(default_factory=list)
    manifests: list[dict] = field(default_factory=list)  # raw-manifest workloads
    long_running: bool = False  # Deployment + Service instead of Job(s)
    shard_count: int = 1  # parallel batch: tasks[0] is rendered as an Indexed Job when >1
    # docker-registry Secrets (private registries) every pod lists in imagePullSecrets.
    image_pull_secrets: list[str] = field(default_factory=list)


@dataclass
class PodStatus:
    name: str
    phase: str  # Pending | Running | Succeeded | Failed | Unknown
    exit_code: int | None = None
    reason: str = ""
    restarts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # Why a pending pod waits (the scheduler's message, an image that cannot be pulled); "" else.
    message: str = ""


@dataclass
class RunStatus:
    """The runtime's view of a run. `state` is one of running, succeeded, failed, cancelled,
    lost (the runtime no longer knows the run) or submitted (nothing started yet)."""

    state: str
    pods: list[PodStatus] = field(default_factory=list)
    reason: str = ""
    endpoints: dict[str, str] = field(default_factory=dict)  # name -> URL (servers)


@dataclass(frozen=True)
class LogLine:
    text: str
    position: int  # where to resume after this line (runtime-specific meaning)


class Runtime(Protocol):
    def start(self, spec: WorkloadSpec) -> dict: ...

    def status(self, handle: dict) -> RunStatus: ...

    def logs(
        self,
        handle: dict,
        pod: str,
        *,
        since: int = 0,
        follow: bool = False,
        stop: threading.Event | None = None,
    ) -> Iterator[LogLine]:
        """The pod's lines after `since`; with follow, until the pod ends or `stop` is set."""
        ...

    def cancel(self, handle: dict) -> None: ...

    def cleanup(self, handle: dict) -> None: ...

    def resolve_output(self, handle: dict, path: str) -> str: ...
