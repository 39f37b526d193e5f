"""From a template kind and cleaned parameters to a runtime-neutral WorkloadSpec.

Also where a parallel batch is split: each input goes to exactly one shard (round robin over a
stable, sorted order), so no input is processed twice or skipped.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

from clusters import gpu
from clusters.models import Cluster
from clusters.runtimes.base import TaskSpec, VolumePath, VolumeRef, WorkloadSpec, WorkPath
from clusters.runtimes.manifests import FACE_SERVICE_PORT, FACE_SERVICE_TASK, STREAM_PORT
from media_pipeline.inputs import expand
from workloads.choices import TemplateKind
from workloads.manifests import parse_manifests


def _volume_refs(cluster: Cluster, names: list[str]) -> list[VolumeRef]:
    volumes = {v.name: v for v in cluster.volumes.all()}
    return [
        VolumeRef(
            name=name, claim_name=volumes[name].claim_name or volumes[name].name,
            mount_path=volumes[name].mount_path, local_path=volumes[name].local_path,
        )
        for name in names if name
    ]  # fmt: skip


def _local_files(cluster: Cluster, ref: VolumeRef, entries: list[str]) -> list[str]:
    """On the local cluster the panel can see the inputs, so folders are split file by file."""
    root = Path(ref.local_path or ref.name)
    root = root if root.is_absolute() else Path(settings.LOCAL_DATA_ROOT) / root
    found = expand([str(root / entry) for entry in entries])
    return [str(item.path.relative_to(root)) for item in found if item.kind != "invalid"] or entries


def split_inputs(entries: list[str], shards: int) -> list[list[str]]:
    ordered = sorted(entries)
    return [ordered[index::shards] for index in range(shards)]


def _output_dir(params: dict, run_id: int):
    if params.get("volume"):
        return VolumePath(params["volume"], f"{params['output'].rstrip('/')}/run-{run_id}")
    return WorkPath("output")


def build_spec(*, kind: str, params: dict, cluster: Cluster, run_id: int) -> WorkloadSpec:
    """Raises ValidationError naming the parameter when the workload cannot be laid out."""
    spec = WorkloadSpec(run_id=run_id, kind=kind)
    # Pull secrets the panel created for this cluster's namespace (private registries).
    spec.image_pull_secrets = sorted(
        cluster.pull_secrets.filter(namespace=cluster.namespace).values_list(
            "secret_name", flat=True
        )
    )
    spec.volumes = _volume_refs(cluster, [params.get("volume", "")])
    if kind == TemplateKind.LANE_DETECTION:
        _lane_tasks(spec, params, cluster)
    elif kind == TemplateKind.FACE_IDENTIFICATION:
        args: list = ["faces"]
        if params["known"]:
            args += ["--known", VolumePath(params["volume"], params["known"])]
        if params["images"]:
            args += ["--images", *[VolumePath(params["volume"], item) for item in params["images"]]]
        spec.tasks = [TaskSpec("faces", args, image=params["image"], inputs=params["images"])]
    elif kind == TemplateKind.CAMERA_STREAM:
        args = ["stream", "--source", _stream_source(params), "--process", params["processing"],
                "--fps", f"{params['fps']:g}"]  # fmt: skip
        if params["width"]:  # 0: the source's own size
            args += ["--width", str(params["width"])]
        spec.tasks = [TaskSpec("stream", args, image=params["image"], port=STREAM_PORT)]
        spec.long_running = True
    elif kind == TemplateKind.FACE_RECOGNITION_SERVICE:
        _face_service(spec, params, cluster)
    elif kind == TemplateKind.GPU_JOB:
        spec.tasks = [
            TaskSpec("gpu", params["args"], image=params["image"], pipeline=False,
                     command=params["command"], gpus=params["gpus"],
                     restart_policy=params["restart_policy"],
                     backoff_limit=params.get("backoff_limit"),
                     host_paths=_nvidia_mount(params, cluster))
        ]  # fmt: skip
    elif kind == TemplateKind.RAW_MANIFEST:
        spec.manifests = parse_manifests(params["manifest"])
    if cluster.is_local and (spec.manifests or any(not t.pipeline for t in spec.tasks)):
        raise ValidationError(
            {"cluster": "The local cluster runs media-pipeline workloads only; choose a "
             "Kubernetes cluster for images, GPUs and manifests."}
        )  # fmt: skip
    return spec


def _nvidia_mount(params: dict, cluster: Cluster) -> list[tuple[str, str]]:
    """The workshop's read-only /usr/local/nvidia hostPath: asked for, or by default where the
    nodes are AKS N-series (their driver libraries live there)."""
    wanted = params.get("nvidia_volume", "auto")
    if wanted == "auto":
        wanted = "yes" if not cluster.is_local and gpu.driver_mount_default(cluster) else "no"
    return [("nvidia", gpu.NVIDIA_DRIVER_PATH)] if wanted == "yes" else []


def _face_service(spec: WorkloadSpec, params: dict, cluster: Cluster) -> None:
    """`faces-serve` with every chosen volume as NAME=DIR: a long-running Deployment + Service.

    Each volume is mounted at /volumes/<name> whatever its own mount path (several volumes of a
    cluster often share the default /data, and a pod cannot mount two at one path); the
    back-end addresses them by name only."""
    refs = _volume_refs(cluster, params["volumes"])
    spec.volumes = [replace(ref, mount_path=f"/volumes/{ref.name}") for ref in refs]
    args: list = ["faces-serve"]
    for ref in spec.volumes:
        args += ["--volume", VolumePath(ref.name, "", prefix=f"{ref.name}=")]
    spec.tasks = [
        TaskSpec(FACE_SERVICE_TASK, args, image=params["image"], port=FACE_SERVICE_PORT,
                 replicas=params["replicas"])
    ]  # fmt: skip
    spec.long_running = True


def _stream_source(params: dict):
    """A `file:` source is a path on the run's volume (params checked it), resolved where the
    stream runs; every other source is passed as it is."""
    source = params["source"]
    if not source.startswith("file:"):
        return source
    path, sep, options = source.removeprefix("file:").partition("?")
    return VolumePath(params["volume"], path, prefix="file:", suffix=sep + options)


def _lane_tasks(spec: WorkloadSpec, params: dict, cluster: Cluster) -> None:
    output = _output_dir(params, spec.run_id)
    shards = params["parallelism"]
    entries = params["inputs"]
    if entries and cluster.is_local:
        entries = _local_files(cluster, spec.volumes[0], entries)
    if shards > 1 and len(entries) < shards:
        raise ValidationError(
            {
                "parallelism": f"{shards} pods need at least {shards} inputs; there are {len(entries)}."
            }
        )
    if not entries:  # no inputs: the pipeline's bundled sample footage
        spec.tasks = [TaskSpec("0", ["lanes", "--output", output], image=params["image"])]
        return
    spec.shard_count = shards
    spec.tasks = [
        TaskSpec(
            str(index),
            ["lanes", "--output", output, *[VolumePath(params["volume"], item) for item in shard]],
            image=params["image"], inputs=shard,
        )
        for index, shard in enumerate(split_inputs(entries, shards))
    ]  # fmt: skip
