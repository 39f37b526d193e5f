"""Resource handlers of the fake Resource Manager: AKS clusters and pools, storage accounts and
file shares, container registries. Called with FakeAzure.lock held."""

from __future__ import annotations

import base64
import copy
import secrets
from typing import TYPE_CHECKING, Any

from tests.fakes.azure_arm import arm_error, b64, example

if TYPE_CHECKING:
    from tests.fakes.azure_arm import FakeAzure

Answer = tuple[int, Any, dict]
CS = "containerservice/"


def handle(fake: FakeAzure, method, group, namespace, segments, body) -> Answer:
    base = f"{fake.group_id(group)}/providers/{namespace}"
    rid = f"{base}/{'/'.join(segments)}"
    key = rid.lower()
    kind = "/".join(s.lower() for s in segments[0::2])
    if method == "PUT" and fake.providers.get(_ns(fake, namespace)) != "Registered":
        ns = _ns(fake, namespace)
        message = (
            f"The subscription is not registered to use namespace '{ns}'. See "
            "https://aka.ms/rps-not-found for how to register subscriptions."
        )
        details = [{"code": "MissingSubscriptionRegistration", "target": ns, "message": message}]
        return 409, arm_error("MissingSubscriptionRegistration", message, details=details), {}
    if len(segments) % 2 == 1:  # a collection (GET) or an action (POST) on the parent
        parent = "/".join(segments[:-1]).lower()
        return _action(fake, method, f"{base}/{parent}".lower(), kind, segments[-1], group)
    if kind == "managedclusters/upgradeprofiles" and method == "GET":
        return _upgrade_profile(fake, rid, key.rsplit("/upgradeprofiles/", 1)[0], segments[1])
    if kind == "managedclusters" or kind == "managedclusters/agentpools":
        return _aks(fake, method, rid, key, kind, segments, body)
    if kind == "storageaccounts":
        return _storage_account(fake, method, rid, key, segments[1], body)
    if kind == "storageaccounts/fileservices/shares":
        return _share(fake, method, rid, key, segments, body)
    if kind == "registries":
        return _registry(fake, method, rid, key, segments[1], body)
    return 404, arm_error("NotFound", f"No fake resource type {namespace}/{kind}"), {}


def _ns(fake: FakeAzure, namespace: str) -> str:
    return {ns.lower(): ns for ns in fake.providers}.get(namespace.lower(), namespace)


def _not_found(kind: str, name: str) -> Answer:
    return 404, arm_error("ResourceNotFound", f"The {kind} '{name}' was not found."), {}


def _async_headers(fake: FakeAzure, op) -> dict:
    return {"Azure-AsyncOperation": fake._op_url(op), "Location": fake._op_url(op, "operationresults")}  # fmt: skip


def _aks(fake: FakeAzure, method, rid, key, kind, segments, body) -> Answer:
    is_pool = kind.endswith("agentpools")
    name = segments[-1]
    current = fake.resources.get(key)
    if method == "GET":
        if current is None:
            return _not_found(segments[-2][:-1], name)
        return 200, _with_pools(fake, current) if not is_pool else current, {}
    if method == "DELETE":
        if current is None:
            return 204, None, {}
        current["properties"]["provisioningState"] = "Deleting"

        def gone():
            for other in [k for k in fake.resources if k == key or k.startswith(key + "/")]:
                del fake.resources[other]

        op = fake._start_operation(key, "Microsoft.ContainerService", gone)
        return 202, None, _async_headers(fake, op)
    if method != "PUT":
        return 405, arm_error("MethodNotAllowed", method), {}
    created = current is None
    if is_pool:
        resource = example(CS + "AgentPoolsCreate_ManagedGPU.json", "201" if created else "200")
        resource["properties"] = {k: v for k, v in resource["properties"].items() if k == "osType"}
    else:
        resource = example(CS + "ManagedClustersCreate_Update.json", "201" if created else "200")
        resource.pop("identity", None)
        resource["location"] = body.get("location", resource["location"])
        resource["tags"] = body.get("tags", {})
    resource.update(id=rid, name=name)
    props = body.get("properties", {})
    resource["properties"].update({k: v for k, v in props.items() if k != "agentPoolProfiles"})
    state = "Creating" if created else ("Upgrading" if _upgrading(current, props) else "Updating")
    resource["properties"]["provisioningState"] = state
    if current is not None and current["properties"]["provisioningState"] == "Creating":
        resource["properties"]["provisioningState"] = "Creating"  # a repeated PUT joins the create
    fake.resources[key] = resource
    if not is_pool:
        resource["properties"]["fqdn"] = f"{name}-dns.hcp.{resource['location']}.azmk8s.io"
        for profile in props.get("agentPoolProfiles", []):
            pool = {
                "id": f"{rid}/agentPools/{profile['name']}",
                "name": profile["name"],
                "type": "Microsoft.ContainerService/managedClusters/agentPools",
                "properties": {k: v for k, v in profile.items() if k != "name"}
                | {"provisioningState": state},
            }
            fake.resources[f"{key}/agentpools/{profile['name'].lower()}"] = pool

    def succeeded():
        for k, res in fake.resources.items():
            if k == key or (not is_pool and k.startswith(key + "/agentpools/")):
                res["properties"]["provisioningState"] = "Succeeded"
                version = res["properties"].get("kubernetesVersion") or res["properties"].get(
                    "orchestratorVersion"
                )
                if version:
                    field = "currentKubernetesVersion" if k == key and not is_pool else "currentOrchestratorVersion"  # fmt: skip
                    res["properties"][field] = version

    op = fake._start_operation(key, "Microsoft.ContainerService", succeeded)
    headers = {"Azure-AsyncOperation": fake._op_url(op)}
    answer = _with_pools(fake, resource) if not is_pool else resource
    return (201 if created else 200), copy.deepcopy(answer), headers


def _upgrade_profile(fake: FakeAzure, rid, cluster_key, name) -> Answer:
    """The published upgrade profile, with the upgrades the versions list allows from the
    cluster's current version."""
    cluster = fake.resources.get(cluster_key)
    if cluster is None:
        return _not_found("managedCluster", name)
    props = cluster["properties"]
    current = props.get("currentKubernetesVersion") or props.get("kubernetesVersion", "")
    allowed: list[str] = []
    for minor in example(CS + "KubernetesVersions_List.json")["values"]:
        allowed += minor.get("patchVersions", {}).get(current, {}).get("upgrades", [])
    profile = example(CS + "ManagedClustersGetUpgradeProfile.json")
    profile["id"] = rid
    plane = profile["properties"]["controlPlaneProfile"]
    plane.update(kubernetesVersion=current, upgrades=[{"kubernetesVersion": v} for v in allowed])
    for pool in profile["properties"]["agentPoolProfiles"]:
        pool.update(kubernetesVersion=current, upgrades=plane["upgrades"])
    return 200, profile, {}


def _upgrading(current: dict | None, props: dict) -> bool:
    if not current or "kubernetesVersion" not in props:
        return False
    return props["kubernetesVersion"] != current["properties"].get("kubernetesVersion")


def _with_pools(fake: FakeAzure, cluster: dict) -> dict:
    prefix = cluster["id"].lower() + "/agentpools/"
    pools = [
        {"name": res["name"], **res["properties"]}
        for k, res in sorted(fake.resources.items())
        if k.startswith(prefix)
    ]
    answer = copy.deepcopy(cluster)
    answer["properties"]["agentPoolProfiles"] = pools
    return answer


def _action(fake: FakeAzure, method, parent_key, kind, action, group) -> Answer:
    parent = fake.resources.get(parent_key)
    action = action.lower()
    if parent is None:
        return _not_found(kind.split("/")[0], parent_key.rsplit("/", 1)[-1])
    if method == "GET" and action == "agentpools":
        prefix = parent_key + "/agentpools/"
        items = [
            copy.deepcopy(r) for k, r in sorted(fake.resources.items()) if k.startswith(prefix)
        ]
        return 200, {"value": items}, {}
    if method == "POST" and action == "listclusteradmincredential":
        answer = example(CS + "ManagedClustersListClusterAdminCredentials.json")
        answer["kubeconfigs"][0].update(name="clusterAdmin", value=b64(fake.kubeconfig))
        return 200, answer, {}
    if method == "POST" and action == "listclusterusercredential":
        answer = example(CS + "ManagedClustersListClusterUserCredentials.json")
        user = fake.user_kubeconfig or fake.kubeconfig
        answer["kubeconfigs"][0].update(name="clusterUser", value=b64(user))
        return 200, answer, {}
    if method == "POST" and action == "listkeys":
        answer = example("storage/StorageAccountListKeys.json")
        account = parent["name"]
        for item in answer["keys"]:
            item["value"] = fake.storage_keys[account]
        return 200, answer, {}
    if method == "POST" and action == "listcredentials":
        answer = example("containerregistry/RegistryListCredentials.json")
        answer["username"] = parent["name"]
        for item in answer["passwords"]:
            item["value"] = parent["_password"]
        return 200, answer, {}
    return 404, arm_error("NotFound", f"No fake action {method} {action}"), {}


def _storage_account(fake: FakeAzure, method, rid, key, name, body) -> Answer:
    current = fake.resources.get(key)
    if method == "GET":
        return (200, current, {}) if current else _not_found("storage account", name)
    if method != "PUT":
        return 405, arm_error("MethodNotAllowed", method), {}
    if current is not None:
        return 200, current, {}
    account = example("storage/StorageAccountCreate.json")
    account.pop("extendedLocation", None)
    account.update(id=rid, name=name, location=body.get("location"), tags=body.get("tags", {}))
    account["kind"] = body.get("kind", "StorageV2")
    account["sku"] = body.get("sku", {"name": "Standard_LRS"})
    account["properties"]["provisioningState"] = "Creating"
    account["properties"]["primaryEndpoints"]["file"] = f"{fake.files_url}/{name}/"
    fake.resources[key] = account
    fake.storage_keys[name] = base64.b64encode(secrets.token_bytes(64)).decode()

    def succeeded():
        account["properties"]["provisioningState"] = "Succeeded"

    op = fake._start_operation(key, "Microsoft.Storage", succeeded)
    return 202, None, {"Location": fake._op_url(op, "asyncoperations")}


def _share(fake: FakeAzure, method, rid, key, segments, body) -> Answer:
    account, name = segments[1], segments[-1]
    current = fake.resources.get(key)
    if method == "GET":
        return (200, current, {}) if current else _not_found("share", name)
    if method != "PUT":
        return 405, arm_error("MethodNotAllowed", method), {}
    status = "200" if current else "201"
    share = example("storage/FileSharesPut.json", status)
    share.update(id=rid, name=name, properties=body.get("properties", {}))
    fake.resources[key] = share
    fake.files.setdefault(account, {}).setdefault(name, {})
    return int(status), share, {}


def _registry(fake: FakeAzure, method, rid, key, name, body) -> Answer:
    current = fake.resources.get(key)
    if method == "GET":
        if current is None:
            return _not_found("registry", name)
        return 200, {k: v for k, v in current.items() if not k.startswith("_")}, {}
    if method != "PUT":
        return 405, arm_error("MethodNotAllowed", method), {}
    created = current is None
    registry = example("containerregistry/RegistryCreate.json", "201" if created else "200")
    registry.update(id=rid, name=name, location=body.get("location"), tags=body.get("tags", {}))
    registry["sku"] = body.get("sku", registry["sku"])
    registry["properties"].update(body.get("properties", {}))
    registry["properties"]["loginServer"] = f"{name.lower()}.azurecr.io"
    registry["properties"]["provisioningState"] = "Creating" if created else "Updating"
    registry["_password"] = (current or {}).get("_password") or secrets.token_urlsafe(24)
    fake.resources[key] = registry

    def succeeded():
        registry["properties"]["provisioningState"] = "Succeeded"

    op = fake._start_operation(key, "Microsoft.ContainerRegistry", succeeded)
    public = {k: v for k, v in registry.items() if not k.startswith("_")}
    return (201 if created else 200), public, {"Azure-AsyncOperation": fake._op_url(op)}
