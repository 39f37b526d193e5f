"""Akri on a Kubernetes cluster: its `Configuration`s and `Instance`s (`akri.sh/v0`), read
through the official client's custom objects API with the cluster's stored credential.

Akri's agent records every device it discovers on a node (a udev video device, an ONVIF camera)
as an Instance of the Configuration that asked for it; the controller starts a broker pod per
instance and a Service `<instance>-svc` in front of it (Akri's controller names them so). The
panel only reads them. Cluster-wide listing needs the optional role
docker/rbac/clusterrole-akri-reader.yaml; without it the panel reads the cluster's own namespace
(where its namespace RoleBinding may grant it), and says which role is missing otherwise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from clusters import kubeconfig as kubeconfig_mod
from clusters.choices import ClusterKind

logger = logging.getLogger(__name__)

GROUP, VERSION = "akri.sh", "v0"
INSTANCE_SERVICE_SUFFIX = "-svc"
REQUEST_TIMEOUT_S = 10
# Broker properties that name the device an instance stands for (udev, ONVIF, OPC UA...).
DEVICE_PROPERTY_PREFIXES = (
    "UDEV_DEVNODE", "ONVIF_DEVICE_SERVICE_URL", "ONVIF_DEVICE_IP_ADDRESS", "OPCUA_DISCOVERY_URL",
    "DEBUG_ECHO_DESCRIPTION",
)  # fmt: skip
# A Configuration opts in as a camera with this annotation, whatever its discovery handler.
CAMERA_ANNOTATION = "controlpanel.io/camera"
NOT_INSTALLED = "Akri is not installed (no akri.sh Configuration/Instance resources)."
RBAC_HINT = (
    "The panel may not read Akri objects: apply docker/rbac/clusterrole-akri-reader.yaml "
    "(optional read-only role)."
)


@dataclass
class AkriConfiguration:
    namespace: str
    name: str
    discovery_handler: str
    discovery_details: str
    capacity: int | None
    broker_image: str
    is_camera: bool


@dataclass
class AkriInstance:
    namespace: str
    name: str
    configuration: str
    nodes: list[str]
    shared: bool
    broker_properties: dict[str, str]
    device: str

    @property
    def service(self) -> str:
        return f"{self.name}{INSTANCE_SERVICE_SUFFIX}"


@dataclass
class AkriInventory:
    installed: bool
    configurations: list[AkriConfiguration] = field(default_factory=list)
    instances: list[AkriInstance] = field(default_factory=list)
    error: str = ""  # the cluster could not be read: nothing is known (not "no instances")
    scope: str = ""  # "cluster" or the namespace that was read

    def camera_instances(self) -> list[AkriInstance]:
        cameras = {(c.namespace, c.name) for c in self.configurations if c.is_camera}
        return [i for i in self.instances if (i.namespace, i.configuration) in cameras]


def _is_camera(handler: str, details: str, annotations: dict) -> bool:
    if str(annotations.get(CAMERA_ANNOTATION, "")).lower() in ("true", "1", "yes"):
        return True
    if handler == "onvif":
        return True
    # Akri's udev camera configurations match video4linux devices (KERNEL=="video[0-9]*").
    return handler == "udev" and "video" in details.lower()


def _configuration(item: dict) -> AkriConfiguration:
    meta, spec = item.get("metadata") or {}, item.get("spec") or {}
    handler = spec.get("discoveryHandler") or {}
    broker = spec.get("brokerSpec") or {}
    pod_spec = broker.get("brokerPodSpec") or (
        ((broker.get("brokerJobSpec") or {}).get("template") or {}).get("spec") or {}
    )
    containers = pod_spec.get("containers") or [{}]
    details = str(handler.get("discoveryDetails") or "")
    name = str(handler.get("name") or "")
    return AkriConfiguration(
        namespace=meta.get("namespace", ""), name=meta.get("name", ""),
        discovery_handler=name, discovery_details=details,
        capacity=spec.get("capacity"), broker_image=str(containers[0].get("image") or ""),
        is_camera=_is_camera(name, details, meta.get("annotations") or {}),
    )  # fmt: skip


def device_of(properties: dict[str, str]) -> str:
    for prefix in DEVICE_PROPERTY_PREFIXES:
        for key in sorted(properties):
            if key.startswith(prefix) and properties[key]:
                return str(properties[key])
    return ""


def _instance(item: dict) -> AkriInstance:
    meta, spec = item.get("metadata") or {}, item.get("spec") or {}
    properties = {str(k): str(v) for k, v in (spec.get("brokerProperties") or {}).items()}
    return AkriInstance(
        namespace=meta.get("namespace", ""), name=meta.get("name", ""),
        configuration=str(spec.get("configurationName") or ""),
        nodes=[str(n) for n in spec.get("nodes") or []], shared=bool(spec.get("shared")),
        broker_properties=properties, device=device_of(properties),
    )  # fmt: skip


def _list(api: k8s.CustomObjectsApi, plural: str, namespace: str | None) -> list[dict]:
    if namespace is None:
        body = api.list_cluster_custom_object(
            GROUP, VERSION, plural, _request_timeout=REQUEST_TIMEOUT_S
        )
    else:
        body = api.list_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, _request_timeout=REQUEST_TIMEOUT_S
        )
    return list(body.get("items") or [])


def _read(api: k8s.CustomObjectsApi, namespace: str | None) -> tuple[list[dict], list[dict]]:
    return _list(api, "configurations", namespace), _list(api, "instances", namespace)


def api_client_of(cluster) -> k8s.ApiClient:
    from clusters.services import _kubeconfig_of

    return kubeconfig_mod.api_client(_kubeconfig_of(cluster.credential))


def akri_inventory(cluster) -> AkriInventory:
    """What Akri has on `cluster` now; never raises for an unreachable or Akri-less cluster."""
    if cluster.kind == ClusterKind.LOCAL or cluster.credential is None:
        return AkriInventory(installed=False, error="Akri runs on Kubernetes clusters only.")
    try:
        client = api_client_of(cluster)
    except kubeconfig_mod.KubeconfigError as exc:
        return AkriInventory(installed=False, error=str(exc))
    try:
        api = k8s.CustomObjectsApi(client)
        scope = "cluster"
        try:
            configurations, instances = _read(api, None)
        except ApiException as exc:
            if exc.status != 403:
                raise
            scope = cluster.namespace or "default"
            configurations, instances = _read(api, scope)
    except ApiException as exc:
        if exc.status == 404:
            return AkriInventory(installed=False)
        if exc.status in (401, 403):
            return AkriInventory(installed=False, error=RBAC_HINT)
        return AkriInventory(
            installed=False, error=f"API server answered {exc.status}: {exc.reason}"
        )
    except (HTTPError, OSError) as exc:
        logger.info("cluster %s: Akri not readable: %s", cluster.name, exc)
        return AkriInventory(installed=False, error=f"Cluster unreachable: {type(exc).__name__}")
    finally:
        client.close()
    return AkriInventory(
        installed=True, scope=scope,
        configurations=sorted(map(_configuration, configurations), key=lambda c: (c.namespace, c.name)),
        instances=sorted(map(_instance, instances), key=lambda i: (i.namespace, i.name)),
    )  # fmt: skip


def broker_endpoint(cluster, instance: AkriInstance, *, by_dns: bool) -> str | None:
    """Where a pod in the cluster reaches `instance`'s broker, as HOST:PORT.

    By the instance Service's cluster DNS name and port where the cluster has DNS and
    kube-proxy; otherwise (no DNS, no kube-proxy, as on the test bed) a ready broker pod's
    address and target port from the Service's Endpoints. None while the Service or its
    endpoints are missing. gRPC does not pass the API server's service proxy, so the panel
    never reads a broker itself: a stream pod in the cluster does."""
    client = api_client_of(cluster)
    try:
        core = k8s.CoreV1Api(client)
        try:
            service = core.read_namespaced_service(
                instance.service, instance.namespace, _request_timeout=REQUEST_TIMEOUT_S
            )
            ports = service.spec.ports or []
            if not ports:
                return None
            if by_dns:
                return f"{instance.service}.{instance.namespace}.svc.cluster.local:{ports[0].port}"
            endpoints = core.read_namespaced_endpoints(
                instance.service, instance.namespace, _request_timeout=REQUEST_TIMEOUT_S
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
    finally:
        client.close()
    for subset in endpoints.subsets or []:
        if subset.addresses and subset.ports:
            return f"{subset.addresses[0].ip}:{subset.ports[0].port}"
    return None
