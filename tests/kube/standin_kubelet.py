"""A stand-in kubelet: the one test double of the Kubernetes test bed (containers cannot run here).

It registers Nodes (capacity configurable, `nvidia.com/gpu` included), renews their Leases, and
runs every pod bound to them (see kubelet_pods / kubelet_containers / kubelet_volumes): our
pipeline commands as real local processes, anything else by the pod's scripted annotations.
It honours deletion (stop, then remove the pod object as a kubelet does) and serves the kubelet's
container-log endpoint, so `read_namespaced_pod_log` (follow too) works through the API server.

Use in-process (StandinKubelet(...).start(), as the pytest plugin does), or from a shell:
    python -m tests.kube.standin_kubelet --kubeconfig FILE --pki DIR --volumes DIR \
        [--node name=gpu-1,cpu=8,memory=32Gi,nvidia.com/gpu=2,label:pool=gpu]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from tests.kube.kubelet_containers import IMAGE_ENTRYPOINTS
from tests.kube.kubelet_logs import ContainerLog, LogServer
from tests.kube.kubelet_network import (
    LocalLauncher,
    NoPodIPs,
    PodIPAllocator,
    ProcessLauncher,
    RangePodIPs,
)
from tests.kube.kubelet_pods import PodWorker
from tests.kube.kubelet_volumes import VolumeMapper

LEASE_SECONDS = 40
HEARTBEAT_SECONDS = 10


@dataclass
class NodeSpec:
    name: str
    capacity: dict[str, str] = field(
        default_factory=lambda: {"cpu": "8", "memory": "32Gi", "pods": "110"}
    )
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> NodeSpec:
        """`name=N,cpu=8,memory=32Gi,nvidia.com/gpu=1,label:key=value` (unnamed keys: capacity)."""
        spec = cls(name="")
        for item in text.split(","):
            key, _, value = item.partition("=")
            if key == "name":
                spec.name = value
            elif key.startswith("label:"):
                spec.labels[key[len("label:") :]] = value
            else:
                spec.capacity[key] = value
        if not spec.name:
            raise ValueError(f"node spec without name=: {text!r}")
        return spec


class StandinKubelet:
    def __init__(
        self,
        api_client: k8s.ApiClient,
        nodes: list[NodeSpec],
        pki_dir: Path,
        volumes_root: Path,
        logs_root: Path,
        pod_ips: PodIPAllocator | None = None,
        launcher: ProcessLauncher | None = None,
        image_entrypoints: dict[str, list[str]] | None = None,
        verbose: bool = False,
    ) -> None:
        self.core = k8s.CoreV1Api(api_client)
        self.coordination = k8s.CoordinationV1Api(api_client)
        self.nodes = {node.name: node for node in nodes}
        self.volumes = VolumeMapper(volumes_root, self.core)
        self.logs_root = Path(logs_root)
        self.pod_ips = pod_ips or NoPodIPs()
        self.launcher = launcher or LocalLauncher()
        self.image_entrypoints = image_entrypoints or IMAGE_ENTRYPOINTS
        self.verbose = verbose
        self.workers: dict[str, PodWorker] = {}
        self.workers_lock = threading.Lock()
        self.stopping = threading.Event()
        self.errors: list[str] = []
        self.log_server = LogServer(self.find_log, pki_dir / "kubelet.crt", pki_dir / "kubelet.key")
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> StandinKubelet:
        self.log_server.start()
        for node in self.nodes.values():
            self._register(node)
            self._renew_lease(node.name)
        for target in (self._heartbeat, self._sync_pods):
            thread = threading.Thread(target=target, name=f"kubelet{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop every pod's processes (so none outlive the test session) and the servers."""
        self.stopping.set()
        with self.workers_lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.stop(grace_seconds=1)
        self.log_server.stop()

    def log(self, message: str) -> None:
        self.errors.append(message)
        if self.verbose:
            print(f"standin-kubelet: {message}", file=sys.stderr, flush=True)

    # -- nodes ----------------------------------------------------------------------------------

    def _register(self, node: NodeSpec) -> None:
        labels = {
            "kubernetes.io/hostname": node.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "standin-kubelet": "true",
            **node.labels,
        }
        try:
            self.core.create_node(
                k8s.V1Node(metadata=k8s.V1ObjectMeta(name=node.name, labels=labels))
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
        self.core.patch_node_status(node.name, {"status": self._node_status(node)})

    def _node_status(self, node: NodeSpec) -> dict:
        now = _timestamp()
        conditions = [
            ("Ready", "True", "KubeletReady"),
            ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID"),
            ("NetworkUnavailable", "False", "RouteCreated"),
        ]
        return {
            "capacity": node.capacity,
            "allocatable": node.capacity,
            "conditions": [
                {
                    "type": kind,
                    "status": status,
                    "reason": reason,
                    "message": "stand-in kubelet",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
                for kind, status, reason in conditions
            ],  # fmt: skip
            # The API server reaches the kubelet (for logs) at InternalIP:kubeletEndpoint.Port.
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": node.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.log_server.port}},
            "nodeInfo": {
                "kubeletVersion": "v1.20.2-standin",
                "kubeProxyVersion": "v1.20.2-standin",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "containerRuntimeVersion": "standin://1",
                "kernelVersion": "",
                "osImage": "stand-in",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },  # fmt: skip
        }

    def _renew_lease(self, name: str) -> None:
        now = dt.datetime.now(dt.UTC)
        try:
            lease = self.coordination.read_namespaced_lease(name, "kube-node-lease")
            lease.spec.renew_time = now
            self.coordination.replace_namespaced_lease(name, "kube-node-lease", lease)
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.coordination.create_namespaced_lease(
                "kube-node-lease",
                k8s.V1Lease(
                    metadata=k8s.V1ObjectMeta(name=name),
                    spec=k8s.V1LeaseSpec(
                        holder_identity=name, lease_duration_seconds=LEASE_SECONDS, renew_time=now
                    ),
                ),
            )

    def _heartbeat(self) -> None:
        beats = 0
        while not self.stopping.wait(HEARTBEAT_SECONDS):
            beats += 1
            for node in self.nodes.values():
                try:
                    self._renew_lease(node.name)
                    if beats % 6 == 0:  # full status now and then, as a kubelet does
                        self.core.patch_node_status(node.name, {"status": self._node_status(node)})
                except Exception as exc:
                    self.log(f"heartbeat for {node.name}: {exc}")

    # -- pods -----------------------------------------------------------------------------------

    def _sync_pods(self) -> None:
        """List, then watch, all pods; relist now and then so nothing missed stays missed."""
        while not self.stopping.is_set():
            try:
                listing = self.core.list_pod_for_all_namespaces()
                for pod in listing.items:
                    self._handle(pod)
                stream = watch.Watch().stream(
                    self.core.list_pod_for_all_namespaces,
                    resource_version=listing.metadata.resource_version,
                    timeout_seconds=30,
                )
                for event in stream:
                    if self.stopping.is_set():
                        return
                    if event["type"] == "DELETED":
                        self._forget(event["object"].metadata.uid)
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        self._handle(event["object"])
            except Exception as exc:
                if not self.stopping.is_set():
                    self.log(f"pod watch: {exc}")
                    time.sleep(1)

    def _handle(self, pod: k8s.V1Pod) -> None:
        if pod.spec.node_name not in self.nodes:
            return
        uid = pod.metadata.uid
        with self.workers_lock:
            worker = self.workers.get(uid)
            if pod.metadata.deletion_timestamp is not None:
                if worker is None or not worker.stopping.is_set():
                    threading.Thread(target=self._delete, args=(pod, worker), daemon=True).start()
                    if worker is not None:
                        worker.stopping.set()
                return
            if worker is None and pod.status.phase not in ("Succeeded", "Failed"):
                worker = self.workers[uid] = PodWorker(self, pod)
                worker.start()

    def _delete(self, pod: k8s.V1Pod, worker: PodWorker | None) -> None:
        """Graceful deletion: stop the containers, then remove the object (grace 0, same uid)."""
        if worker is not None:
            worker.stop(pod.metadata.deletion_grace_period_seconds)
        meta = pod.metadata
        try:
            self.core.delete_namespaced_pod(
                meta.name, meta.namespace,
                body=k8s.V1DeleteOptions(
                    grace_period_seconds=0, preconditions=k8s.V1Preconditions(uid=meta.uid)
                ),
            )  # fmt: skip
        except ApiException as exc:
            if exc.status not in (404, 409):
                self.log(f"delete {meta.namespace}/{meta.name}: {exc.status} {exc.reason}")
        self._forget(meta.uid)

    def _forget(self, uid: str) -> None:
        with self.workers_lock:
            worker = self.workers.pop(uid, None)
        if worker is not None and not worker.done.is_set():
            worker.stop(grace_seconds=0)
        self.pod_ips.release(uid)

    def find_log(
        self, namespace: str, pod: str, container: str, previous: bool
    ) -> ContainerLog | str:
        with self.workers_lock:
            # The newest pod of that name (a deleted and recreated pod has a new uid).
            candidates = [
                w for w in self.workers.values()
                if w.pod.metadata.namespace == namespace and w.pod.metadata.name == pod
            ]  # fmt: skip
        if not candidates:
            return f'pod "{pod}" not found on this node'
        newest = max(candidates, key=lambda w: w.pod.metadata.creation_timestamp)
        return newest.log_for(container, previous)


def _timestamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str] | None = None) -> None:
    from kubernetes import config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--pki", type=Path, required=True, help="directory with kubelet.crt/.key")
    parser.add_argument("--volumes", type=Path, required=True, help="root for pod volumes")
    parser.add_argument("--node", action="append", type=NodeSpec.parse, default=[])
    parser.add_argument("--pod-ip-range", help="give pods IPs from this CIDR (bookkeeping only)")
    args = parser.parse_args(argv)
    kubelet = StandinKubelet(
        config.new_client_from_config(args.kubeconfig),
        args.node or [NodeSpec("standin-1")],
        args.pki,
        args.volumes,
        args.volumes / "_logs",
        pod_ips=RangePodIPs(args.pod_ip_range) if args.pod_ip_range else None,
        verbose=True,
    ).start()
    print(f"stand-in kubelet serving {', '.join(kubelet.nodes)}; Ctrl-C stops", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        kubelet.stop()


if __name__ == "__main__":
    main()
