"""The Kubernetes runtime: renders, validates and applies Jobs / Deployments / Services.

A client is built per call from the cluster's stored kubeconfig. Every object carries the run's
labels, so status, logs, cancel and clean-up all work from a label selector, even after the
panel restarted or someone deleted objects behind its back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from clusters import kubeconfig, podsecurity
from clusters.runtimes import manifests
from clusters.runtimes.base import LogLine, PodStatus, RunStatus, StartRejected, WorkloadSpec

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DELETE_BACKGROUND = k8s.V1DeleteOptions(propagation_policy="Background")


@dataclass
class DryRun:
    """One rendered object and what the API server said of it in a server-side dry-run."""

    object: dict
    accepted: bool
    message: str


def supports_indexed_jobs(git_version: str) -> bool:
    """Indexed Jobs are beta (on by default) from Kubernetes 1.22 and usable from 1.21."""
    digits = git_version.lstrip("v").split(".")
    try:
        return (int(digits[0]), int("".join(c for c in digits[1] if c.isdigit()))) >= (1, 21)
    except (IndexError, ValueError):
        return False


def pipeline_accepts_shards() -> bool:
    """Indexed Jobs need the pipeline to take its share by index; the image is built from the
    same media_pipeline source as this panel, so ask its argument parser."""
    from media_pipeline.cli import _parser

    lanes = _parser()._subparsers._group_actions[0].choices["lanes"]  # noqa: SLF001
    return any("--shard-index" in action.option_strings for action in lanes._actions)  # noqa: SLF001


def _interrupt_on(stop: threading.Event, done: threading.Event, response, *, name: str) -> None:
    """Shut the log stream's socket when `stop` is set, waking the read blocked on it."""

    def watch() -> None:
        while not done.is_set():
            if stop.wait(0.5):
                try:
                    response.shutdown()
                except (RuntimeError, OSError):
                    pass  # the stream ended meanwhile (its connection went back to the pool)
                return

    threading.Thread(target=watch, daemon=True, name=name).start()


class KubernetesRuntime:
    def __init__(self, cluster) -> None:
        from clusters.services import cluster_kubeconfig

        self.cluster = cluster
        self.namespace = cluster.namespace or "default"
        self._kubeconfig = cluster_kubeconfig(cluster)

    def _api(self) -> k8s.ApiClient:
        return kubeconfig.api_client(self._kubeconfig)

    def _render(self, api: k8s.ApiClient, spec: WorkloadSpec) -> tuple[list[dict], str, bool]:
        """The objects a run would create, checked against the schema and the cluster's Pod
        Security level as it is now; with the server's version and whether Jobs are indexed."""
        version = k8s.VersionApi(api).get_code().git_version
        indexed = (
            spec.shard_count > 1 and supports_indexed_jobs(version) and pipeline_accepts_shards()
        )
        objects = manifests.render(spec, self.namespace, indexed_jobs=indexed)
        for obj in objects:
            try:
                manifests.validate(obj)
            except manifests.ManifestInvalid as exc:
                raise StartRejected(str(exc)) from None
        # The last line: whatever was checked when the run was created, what is applied now
        # meets the cluster's level as it is now.
        violations = podsecurity.check_for_cluster(self.cluster, objects)
        if violations:
            raise StartRejected(podsecurity.refusal(self.cluster, violations))
        return objects, version, indexed

    def preview(self, spec: WorkloadSpec) -> list[DryRun]:
        """Render the run and ask the API server to admit each object without keeping it
        (server-side dry-run): admission errors show before anything exists."""
        api = self._api()
        try:
            objects, _, _ = self._render(api, spec)
            results = []
            for obj in objects:
                try:
                    _creator(api, obj["kind"])(
                        self.namespace, obj, dry_run="All", _preload_content=False
                    )
                except ApiException as exc:
                    results.append(DryRun(obj, False, _api_message(exc)))
                else:
                    results.append(DryRun(obj, True, "accepted (dry run)"))
            return results
        finally:
            api.close()

    def start(self, spec: WorkloadSpec) -> dict:
        api = self._api()
        try:
            objects, version, indexed = self._render(api, spec)
            created = []
            for obj in objects:
                try:
                    # Raw response: some client versions cannot parse every server's status.
                    _creator(api, obj["kind"])(self.namespace, obj, _preload_content=False)
                except ApiException as exc:
                    self._delete(api, created)  # all or nothing: no half-started run
                    raise StartRejected(
                        f"{obj['kind']} {obj['metadata']['name']}: {_api_message(exc)}"
                    ) from None
                created.append(_ref(obj))
        finally:
            api.close()
        replicas = sum(task.replicas for task in spec.tasks)
        expected = spec.shard_count if indexed else replicas if not spec.manifests else 0
        endpoints = {}
        for obj in objects:
            if obj["kind"] == "Service":
                # Where the Service answers through the API server (clusters.proxy reaches it).
                name, port = obj["metadata"]["name"], obj["spec"]["ports"][0]["name"]
                endpoints[name] = (
                    f"/api/v1/namespaces/{self.namespace}/services/{name}:{port}/proxy/"
                )
        return {
            "runtime": "kubernetes", "namespace": self.namespace, "run_id": spec.run_id,
            "objects": created, "server_version": version, "indexed": indexed,
            "expected_pods": expected, "endpoints": endpoints,
            # What was sent, for the run's "View YAML" (the run keeps it; see run_submit_task).
            "manifests": objects,
        }  # fmt: skip

    def status(self, handle: dict) -> RunStatus:
        api = self._api()
        try:
            batch, apps, core = k8s.BatchV1Api(api), k8s.AppsV1Api(api), k8s.CoreV1Api(api)
            selector = manifests.run_selector(handle["run_id"])
            ns = handle["namespace"]
            jobs = batch.list_namespaced_job(ns, label_selector=selector).items
            deployments = apps.list_namespaced_deployment(ns, label_selector=selector).items
            pods = [
                _pod_status(pod)
                for pod in core.list_namespaced_pod(ns, label_selector=selector).items
            ]
            _explain_waiting(core, ns, pods)
        finally:
            api.close()
        endpoints = handle.get("endpoints", {})
        kinds = {ref["kind"] for ref in handle.get("objects", [])}
        if not jobs and not deployments and (kinds & {"Job", "Deployment"}):
            return RunStatus("lost", pods, "its Kubernetes objects were deleted outside the panel")
        if deployments:
            return RunStatus("running", pods, endpoints=endpoints)
        if jobs:
            failed = [job for job in jobs if _condition(job, "Failed")]
            if failed:
                bad = next((pod for pod in pods if pod.phase == "Failed"), None)
                detail = (
                    f"{bad.name} exited with code {bad.exit_code}"
                    if bad
                    else _condition(failed[0], "Failed")
                )
                return RunStatus("failed", pods, detail)
            if all(_condition(job, "Complete") for job in jobs):
                return RunStatus("succeeded", pods)
            if all(pod.phase == "Pending" for pod in pods):
                # Nothing runs yet (not scheduled, image pulling): the run is not "running" while
                # its pod waits, e.g. for a GPU; the pod's message says why.
                return RunStatus("submitted", pods)
            return RunStatus("running", pods)
        # Raw manifests with neither Jobs nor Deployments: follow bare pods, else done at once.
        if pods and any(pod.phase in ("Pending", "Running") for pod in pods):
            return RunStatus("running", pods)
        if any(pod.phase == "Failed" for pod in pods):
            return RunStatus("failed", pods, "a pod failed")
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
        """Lines of the pod's log; `since` counts lines already read (positions are line counts).
        Setting `stop` ends a follow at once, even on a pod that prints nothing."""
        api = self._api()
        done = threading.Event()
        try:
            core = k8s.CoreV1Api(api)
            response = core.read_namespaced_pod_log(
                pod, handle["namespace"], follow=follow, _preload_content=False
            )
            if follow and stop is not None:
                _interrupt_on(stop, done, response, name=f"log-stop-{pod}")
            position, pending = 0, b""
            for chunk in response.stream(4096):
                *complete, pending = (pending + chunk).split(b"\n")
                for line in complete:
                    position += 1
                    if position > since:
                        yield LogLine(line.decode("utf-8", "replace"), position)
            if pending:
                position += 1
                if position > since:
                    yield LogLine(pending.decode("utf-8", "replace"), position)
            response.release_conn()
        except urllib3.exceptions.HTTPError:
            if stop is None or not stop.is_set():
                raise  # the stream broke by itself: the monitor reports it and follows again
        finally:
            done.set()
            api.close()

    def cancel(self, handle: dict) -> None:
        api = self._api()
        try:
            self._delete(api, handle.get("objects", []))
        finally:
            api.close()

    def cleanup(self, handle: dict) -> None:
        self.cancel(handle)

    def resolve_output(self, handle: dict, path: str) -> str:
        return ""  # files stay on the cluster's volumes

    def _delete(self, api: k8s.ApiClient, refs: list[dict]) -> None:
        for ref in reversed(refs):
            try:
                _deleter(api, ref["kind"])(
                    ref["name"], ref["namespace"], body=DELETE_BACKGROUND, _preload_content=False
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise


def _ref(obj: dict) -> dict:
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": meta["name"],
        "namespace": meta["namespace"],
    }


def _creator(api: k8s.ApiClient, kind: str):
    core, apps, batch = k8s.CoreV1Api(api), k8s.AppsV1Api(api), k8s.BatchV1Api(api)
    return {
        "Job": batch.create_namespaced_job, "Pod": core.create_namespaced_pod,
        "Service": core.create_namespaced_service, "ConfigMap": core.create_namespaced_config_map,
        "Deployment": apps.create_namespaced_deployment, "StatefulSet": apps.create_namespaced_stateful_set,
        "DaemonSet": apps.create_namespaced_daemon_set,
    }[kind]  # fmt: skip


def _deleter(api: k8s.ApiClient, kind: str):
    core, apps, batch = k8s.CoreV1Api(api), k8s.AppsV1Api(api), k8s.BatchV1Api(api)
    return {
        "Job": batch.delete_namespaced_job, "Pod": core.delete_namespaced_pod,
        "Service": core.delete_namespaced_service, "ConfigMap": core.delete_namespaced_config_map,
        "Deployment": apps.delete_namespaced_deployment, "StatefulSet": apps.delete_namespaced_stateful_set,
        "DaemonSet": apps.delete_namespaced_daemon_set,
    }[kind]  # fmt: skip


def _condition(job, kind: str) -> str:
    for condition in (job.status and job.status.conditions) or []:
        if condition.type == kind and condition.status == "True":
            return condition.message or condition.reason or kind
    return ""


def _api_message(exc: ApiException) -> str:
    import json

    try:
        return json.loads(exc.body).get("message", exc.reason)
    except (TypeError, ValueError):
        return str(exc.reason)


def _explain_waiting(core: k8s.CoreV1Api, namespace: str, pods: list[PodStatus]) -> None:
    """A pending pod without a word from its conditions: the newest warning event about it (the
    scheduler's FailedScheduling, a failed image pull, a missing volume)."""
    for pod in pods:
        if pod.phase != "Pending" or pod.message:
            continue
        try:
            events = core.list_namespaced_event(
                namespace, field_selector=f"involvedObject.kind=Pod,involvedObject.name={pod.name}"
            ).items
        except ApiException:
            return  # events are an explanation, not the status: without them, say less
        warnings = [event for event in events if event.type == "Warning" and event.message]
        if warnings:
            newest = max(warnings, key=lambda e: e.last_timestamp or e.event_time or EPOCH)
            pod.reason = pod.reason or newest.reason or ""
            pod.message = newest.message


def _pod_status(pod) -> PodStatus:
    status = pod.status
    exit_code, reason, restarts = None, status.reason or "", 0
    message = ""
    if status.phase == "Pending":
        for condition in status.conditions or []:
            # The scheduler's verdict: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
            if condition.type == "PodScheduled" and condition.status == "False":
                reason, message = condition.reason or reason, condition.message or ""
    started: datetime | None = status.start_time
    finished: datetime | None = None
    for container in status.container_statuses or []:
        restarts += container.restart_count or 0
        terminated = container.state and container.state.terminated
        if terminated:
            exit_code, reason = terminated.exit_code, terminated.reason or reason
            finished = terminated.finished_at
        waiting = container.state and container.state.waiting
        if waiting and waiting.reason:
            reason = waiting.reason
            if status.phase == "Pending" and waiting.message:
                message = waiting.message
    return PodStatus(
        pod.metadata.name, status.phase or "Unknown", exit_code, reason, restarts, started,
        finished, message,
    )  # fmt: skip
