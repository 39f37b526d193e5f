"""Renders a WorkloadSpec into Kubernetes objects (plain dicts) and validates them.

Every object carries `app.kubernetes.io/managed-by: controlpanel` and the run id, so the panel can
find (and clean up) everything a run created, including orphans.
"""

from __future__ import annotations

import copy
import posixpath

import kubernetes_validate

from clusters.runtimes.base import TaskSpec, VolumePath, WorkloadSpec, WorkPath

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_RUN_ID = "controlpanel.io/run-id"
LABEL_TASK = "controlpanel.io/task"
MANAGED_BY = "controlpanel"
# The newest schema kubernetes-validate ships that we test against; the test bed itself is 1.20.
VALIDATE_VERSION = "1.30.0"
# Not /work: the test bed runs the pipeline from /work/main and rewrites paths under mounts.
WORK_MOUNT = "/scratch"
STREAM_PORT = 8080
# The face-recognition back-end (`faces-serve`); its Service is object_name(run_id, "serve").
FACE_SERVICE_PORT = 8090
FACE_SERVICE_TASK = "serve"
PIPELINE_COMMAND = ["python", "-m", "media_pipeline"]
# The media-pipeline image's user and group (docker/media-pipeline.Dockerfile: USER 10001:10001).
PIPELINE_UID = 10001


class ManifestInvalid(ValueError):
    """A manifest fails the Kubernetes schema; the message names the object and the field."""


def run_labels(run_id: int) -> dict[str, str]:
    return {LABEL_MANAGED_BY: MANAGED_BY, LABEL_RUN_ID: str(run_id)}


def run_selector(run_id: int) -> str:
    return f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_RUN_ID}={run_id}"


def object_name(run_id: int, task: str) -> str:
    return f"run-{run_id}-{task}"


def validate(obj: dict, version: str = VALIDATE_VERSION) -> None:
    """Check one object against the official schema (strict: unknown fields are errors)."""
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        # jsonschema's error: `message` is one line; str(exc) would dump the whole schema.
        where = ".".join(str(part) for part in getattr(exc, "absolute_path", []) or [])
        message = getattr(exc, "message", "") or str(exc).splitlines()[0]
        name = (obj.get("metadata") or {}).get("name", "?")
        raise ManifestInvalid(
            f"{obj.get('kind', '?')} {name}: {where or 'object'}: {message}"
        ) from None
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
        raise ManifestInvalid(f"{obj.get('kind', '?')}: {str(exc).splitlines()[0]}") from None


def _resolve(spec: WorkloadSpec, arg) -> str:
    if isinstance(arg, VolumePath):
        volume = next(v for v in spec.volumes if v.name == arg.volume)
        path = (
            posixpath.join(volume.mount_path, arg.relative) if arg.relative else volume.mount_path
        )
        return f"{arg.prefix}{path}{arg.suffix}"
    if isinstance(arg, WorkPath):
        return posixpath.join(WORK_MOUNT, arg.relative) if arg.relative else WORK_MOUNT
    return arg


def _pod_spec(spec: WorkloadSpec, task: TaskSpec, args: list[str], restart_policy: str) -> dict:
    container: dict = {"name": "main", "image": task.image, "args": args}
    if task.pipeline:
        container["command"] = list(PIPELINE_COMMAND)
    elif task.command:
        container["command"] = list(task.command)
    mounts = [{"name": "work", "mountPath": WORK_MOUNT}]
    volumes: list[dict] = [{"name": "work", "emptyDir": {}}]
    for index, volume in enumerate(spec.volumes):
        volumes.append(
            {"name": f"data-{index}", "persistentVolumeClaim": {"claimName": volume.claim_name}}
        )
        mounts.append({"name": f"data-{index}", "mountPath": volume.mount_path})
    for name, host_path in task.host_paths:
        volumes.append({"name": name, "hostPath": {"path": host_path}})
        mounts.append({"name": name, "mountPath": host_path, "readOnly": True})
    container["volumeMounts"] = mounts
    pod_security, container["securityContext"] = _security_contexts(task)
    if task.gpus:
        # A Quantity is a string: the strict client refuses the number 1 here.
        container["resources"] = {"limits": {"nvidia.com/gpu": str(task.gpus)}}
    if task.port is not None:
        container["ports"] = [{"name": "http", "containerPort": task.port}]
        container["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": task.port}}
    pod = {
        "restartPolicy": restart_policy, "securityContext": pod_security,
        "containers": [container], "volumes": volumes,
    }  # fmt: skip
    if spec.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in spec.image_pull_secrets]
    return pod


def _security_contexts(task: TaskSpec) -> tuple[dict, dict]:
    """(pod, container) securityContext. Pipeline pods meet the restricted Pod Security level (the
    image's user is known); other images (GPU jobs) baseline, hardened where it cannot break them,
    since their user may be root."""
    pod: dict = {"seccompProfile": {"type": "RuntimeDefault"}}
    container: dict = {"allowPrivilegeEscalation": False}
    if task.pipeline:
        # OnRootMismatch: a volume of footage is not chowned file by file at every start.
        pod.update(runAsNonRoot=True, runAsUser=PIPELINE_UID, runAsGroup=PIPELINE_UID,
                   fsGroup=PIPELINE_UID, fsGroupChangePolicy="OnRootMismatch")  # fmt: skip
        container["capabilities"] = {"drop": ["ALL"]}
    return pod, container


def _metadata(spec: WorkloadSpec, name: str, namespace: str, task: str) -> dict:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {**run_labels(spec.run_id), LABEL_TASK: task},
    }


def render_job(spec: WorkloadSpec, task: TaskSpec, namespace: str) -> dict:
    """One Job per task: a single pod that is not retried, so its exit code is the answer."""
    name = object_name(spec.run_id, task.name)
    metadata = _metadata(spec, name, namespace, task.name)
    args = [_resolve(spec, arg) for arg in task.args]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": _backoff_limit(task),
            "completions": 1,
            "parallelism": 1,
            "template": {
                "metadata": {"labels": dict(metadata["labels"])},
                "spec": _pod_spec(spec, task, args, task.restart_policy),
            },
        },
    }


def _backoff_limit(task: TaskSpec) -> int:
    if task.backoff_limit is not None:
        return task.backoff_limit
    return 0 if task.restart_policy == "Never" else 3


def render_indexed_job(spec: WorkloadSpec, task: TaskSpec, namespace: str, shards: int) -> dict:
    """A parallel batch as one Indexed Job (Kubernetes >= 1.21): each pod takes the shard of
    its completion index, so every input is processed by exactly one pod."""
    # One pod template for all shards: it carries every input, the index picks the share.
    inputs = [arg for t in spec.tasks for arg in t.args[3:]]
    task = TaskSpec(task.name, [*task.args[:3], *inputs], image=task.image, inputs=inputs)
    job = render_job(spec, task, namespace)
    job["spec"].update({"completionMode": "Indexed", "completions": shards, "parallelism": shards})
    job["spec"]["backoffLimit"] = 0
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["args"] = [
        *container["args"][:1], "--shard-index", "$(JOB_COMPLETION_INDEX)", "--shard-count", str(shards),
        *container["args"][1:],
    ]  # fmt: skip
    return job


def render_stream(spec: WorkloadSpec, task: TaskSpec, namespace: str) -> list[dict]:
    """A long-running server (camera stream, face back-end): a Deployment with the task's
    replicas + a ClusterIP Service (port `http`) spreading connections over the ready ones."""
    name = object_name(spec.run_id, task.name)
    metadata = _metadata(spec, name, namespace, task.name)
    selector = {LABEL_RUN_ID: str(spec.run_id), LABEL_TASK: task.name}
    args = [_resolve(spec, arg) for arg in task.args] + ["--port", str(task.port)]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": task.replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": dict(metadata["labels"])},
                "spec": _pod_spec(spec, task, args, "Always"),
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": copy.deepcopy(metadata),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": task.port, "targetPort": "http"}],
        },
    }
    return [deployment, service]


def _quantity(value):
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def quantities_as_strings(node, parent: str = "") -> None:
    """YAML reads `nvidia.com/gpu: 1` or `cpu: 0.5` as numbers; the client types every Quantity
    as a string and refuses them. Resource limits, requests, pod overhead and sizeLimit become
    strings, in place."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, dict) and (
                (parent == "resources" and key in ("limits", "requests")) or key == "overhead"
            ):
                node[key] = {name: _quantity(amount) for name, amount in value.items()}
            elif key == "sizeLimit":
                node[key] = _quantity(value)
            else:
                quantities_as_strings(value, key)
    elif isinstance(node, list):
        for item in node:
            quantities_as_strings(item, parent)


def label_raw(spec: WorkloadSpec, manifest: dict, namespace: str) -> dict:
    """A user's manifest with our labels and namespace added (pod templates labelled too)."""
    obj = copy.deepcopy(manifest)
    quantities_as_strings(obj)
    metadata = obj.setdefault("metadata", {})
    metadata["namespace"] = namespace
    metadata.setdefault("labels", {}).update(run_labels(spec.run_id))
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict):
        template.setdefault("metadata", {}).setdefault("labels", {}).update(run_labels(spec.run_id))
    return obj


def render(spec: WorkloadSpec, namespace: str, *, indexed_jobs: bool) -> list[dict]:
    """All objects of a run, in the order they are applied."""
    if spec.manifests:
        return [label_raw(spec, manifest, namespace) for manifest in spec.manifests]
    if spec.long_running:
        return [obj for task in spec.tasks for obj in render_stream(spec, task, namespace)]
    if indexed_jobs and spec.shard_count > 1:
        batch = TaskSpec("batch", spec.tasks[0].args, image=spec.tasks[0].image)
        return [render_indexed_job(spec, batch, namespace, spec.shard_count)]
    return [render_job(spec, task, namespace) for task in spec.tasks]
