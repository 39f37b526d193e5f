"""Operations on a provisioned AKS cluster, Azure refusals with remedies, retries, and a create
that survives the death of the process running it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest
from django.db import connection

from clusters.azure.models import AzureOperation
from clusters.models import Cluster
from tests.clusters.azure.conftest import PROVISION, wait_operation
from tests.conftest import wait_for

pytestmark = pytest.mark.kubernetes
CLUSTER_PATH = r"/managedClusters/vision-aks$"


def _provision(api, credential, **overrides) -> AzureOperation:
    response = api.post("/api/aks/", PROVISION | {"credential": credential.pk} | overrides, format="json")  # fmt: skip
    assert response.status_code == 202, response.content
    return wait_operation(response.json()["id"])


def test_missing_registration_is_shown_with_the_provider_to_register(
    celery_worker, admin_api, fake_azure, azure_credential
):
    """409 MissingSubscriptionRegistration: code, message and 'register Microsoft.ContainerService'."""
    fake_azure.providers["Microsoft.ContainerService"] = "NotRegistered"
    op = _provision(admin_api, azure_credential)
    assert op.status == "failed"
    assert op.error_code == "MissingSubscriptionRegistration"
    assert "Microsoft.ContainerService" in op.error_message
    assert "az provider register --namespace Microsoft.ContainerService" in op.remedy
    cluster = Cluster.objects.get(pk=op.cluster_id)
    assert cluster.status == "error" and "not registered" in cluster.last_error
    shown = admin_api.get(f"/api/azure-operations/{op.pk}/").json()
    assert shown["remedy"] == op.remedy and shown["error_code"] == op.error_code


def test_authorization_failed_names_the_role_and_scope(
    celery_worker, admin_api, fake_azure, azure_credential
):
    """403 AuthorizationFailed on the group: the remedy names the action and the scope."""
    fake_azure.actions[fake_azure.client_id] = ["*/read"]
    op = _provision(admin_api, azure_credential)
    assert op.status == "failed" and op.error_code == "AuthorizationFailed"
    assert "'Microsoft.Resources/subscriptions/resourcegroups/write'" in op.remedy
    assert "/subscriptions/" in op.remedy and "Contributor" in op.remedy


def test_throttling_is_retried_after_the_time_azure_asks(
    celery_worker, admin_api, fake_azure, azure_credential, kube_kubeconfig
):
    """A 429 with Retry-After and a 503 on the cluster PUT are retried; the create succeeds."""
    fake_azure.kubeconfig = kube_kubeconfig
    fake_azure.add_fault("PUT", CLUSTER_PATH.lower(), 429, body={"error": {"code": "TooManyRequests", "message": "slow down"}}, headers={"Retry-After": "1"})  # fmt: skip
    fake_azure.add_fault("PUT", CLUSTER_PATH.lower(), 503, body={"error": {"code": "ServiceUnavailable", "message": "busy"}})  # fmt: skip
    op = _provision(admin_api, azure_credential)
    assert op.status == "succeeded", op.error_message
    statuses = [s for _m, _p, s in fake_azure.requests("PUT", CLUSTER_PATH)]
    assert statuses[:3] == [429, 503, 201]


def test_a_failed_long_running_operation_reports_its_error(
    celery_worker, admin_api, fake_azure, azure_credential
):
    """The async operation ends Failed with a quota error: shown with a remedy."""
    fake_azure.fail_next_operation = {"code": "QuotaExceeded", "message": "Operation could not be completed as it results in exceeding approved standardNCASv3_T4 Family Cores quota."}  # fmt: skip
    op = _provision(admin_api, azure_credential)
    assert op.status == "failed" and op.error_code == "QuotaExceeded"
    assert "quota" in op.remedy.lower()


def test_pools_scale_add_remove_upgrade_and_delete(
    celery_worker, admin_api, fake_azure, azure_credential, kube_kubeconfig
):
    """Each change is an operation that finishes and is reflected in Azure and the panel."""
    fake_azure.kubeconfig = kube_kubeconfig
    op = _provision(admin_api, azure_credential)
    assert op.status == "succeeded", op.error_message
    cid = op.cluster_id
    arm = f"{fake_azure.group_id('rg-vision')}/providers/Microsoft.ContainerService/managedClusters/vision-aks"  # fmt: skip

    def run(path, body):
        response = admin_api.post(f"/api/aks/{cid}/{path}/", body, format="json")
        assert response.status_code == 202, response.content
        done = wait_operation(response.json()["id"])
        assert done.status == "succeeded", done.error_message
        return done

    run("scale", {"pool": "gpu", "count": 3})
    assert fake_azure.resource(arm + "/agentPools/gpu")["properties"]["count"] == 3
    run("add-pool", {"name": "gpu2", "vm_size": "Standard_NC24ads_A100_v4", "count": 1, "taints": ["sku=gpu:NoSchedule"]})  # fmt: skip
    assert fake_azure.resource(arm + "/agentPools/gpu2")["properties"]["vmSize"] == "Standard_NC24ads_A100_v4"  # fmt: skip
    run("remove-pool", {"pool": "gpu"})
    assert fake_azure.resource(arm + "/agentPools/gpu") is None
    pools = [p["name"] for p in admin_api.get(f"/api/aks/{cid}/").json()["node_pools"]]
    assert pools == ["system", "gpu2"]
    run("upgrade", {"kubernetes_version": "1.26.0"})
    assert fake_azure.resource(arm)["properties"]["currentKubernetesVersion"] == "1.26.0"

    refused = admin_api.post(f"/api/aks/{cid}/remove/", {"confirm_name": "vision"}, format="json")
    assert refused.status_code == 400 and "confirm_name" in refused.json()["error"]["fields"]
    assert Cluster.objects.filter(pk=cid).exists()
    run("remove", {"confirm_name": "vision-aks"})
    assert fake_azure.resource(arm) is None
    assert not Cluster.objects.filter(pk=cid).exists()


def test_bad_input_names_the_field_and_writes_nothing(admin_api, fake_azure, azure_credential):
    """An autoscale pool whose count is outside min/max: 400 naming system_pool, no cluster."""
    pool = PROVISION["system_pool"] | {"count": 5, "max_count": 3}
    response = admin_api.post("/api/aks/", PROVISION | {"credential": azure_credential.pk, "system_pool": pool}, format="json")  # fmt: skip
    assert response.status_code == 400
    assert "system_pool" in response.json()["error"]["fields"]
    assert not Cluster.objects.filter(name="vision-aks").exists()
    assert not AzureOperation.objects.exists()


def test_a_viewer_cannot_provision(viewer_api, fake_azure, azure_credential):
    response = viewer_api.post("/api/aks/", PROVISION | {"credential": azure_credential.pk}, format="json")  # fmt: skip
    assert response.status_code == 403


@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="needs a database another process can open (PostgreSQL)"
)
def test_a_create_survives_the_death_of_its_worker(
    celery_worker, admin_api, fake_azure, azure_credential, kube_kubeconfig, settings, azure_pki
):
    """A real Celery worker running the create is SIGKILLed (its main process and its child)
    mid-poll; the stale sweeper re-queues the row, the same PUT joins Azure's running create,
    and it finishes: one cluster, not two."""
    from clusters.azure import services as azure_services
    from clusters.azure.tasks import azure_operation_task, azure_operations_resume
    from core.services import SYSTEM

    fake_azure.kubeconfig = kube_kubeconfig
    fake_azure.hold.set()  # Azure keeps the create InProgress until released
    with pytest.MonkeyPatch.context() as patch:  # queued below, to the worker this test kills
        patch.setattr(azure_services, "_enqueue", lambda op: None)
        op = azure_services.aks_provision(
            actor=SYSTEM, credential=azure_credential, name="vision-aks",
            resource_group="rg-vision", location="eastus",
            system_pool={"name": "system", "vm_size": "Standard_D4s_v5", "count": 1},
        )  # fmt: skip
    db = connection.settings_dict
    env = os.environ | {
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "ENCRYPTION_KEYS": ",".join(settings.ENCRYPTION_KEYS),
        "AZURE_AUTHORITY_HOST": fake_azure.url,
        "AZURE_RESOURCE_MANAGER_URL": fake_azure.url,
        "AZURE_DISABLE_INSTANCE_DISCOVERY": "1",
        "AZURE_CA_BUNDLE": str(azure_pki.ca_bundle),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "tests.clusters.azure.worker_settings",
    }
    # A queue of its own, so the suite's in-process worker does not take the message.
    queue = f"aks-fault-{uuid.uuid4().hex[:8]}"
    worker = subprocess.Popen(
        [str(Path(sys.executable).with_name("celery")), "-A", "controlpanel", "worker", "-Q", queue,
         "--pool", "prefork", "--concurrency", "1", "--without-mingle", "--without-gossip",
         "--hostname", f"{queue}@%h", "--loglevel", "INFO"],
        env=env, start_new_session=True,
    )  # fmt: skip
    try:
        azure_operation_task.apply_async((op.pk,), queue=queue)
        wait_for(lambda: fake_azure.requests("GET", r"/operations/"), timeout=90)
        wait_for(lambda: AzureOperation.objects.get(pk=op.pk).progress >= 10, timeout=30)
        child = psutil.Process(worker.pid).children()
        assert child, "the create runs in the worker's pool process"
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the whole worker: main process and pool child
        worker.wait()
    assert AzureOperation.objects.get(pk=op.pk).status == "running"  # left behind by the dead
    settings.AZURE_OPERATION_STALE_SECONDS = 0
    fake_azure.hold.clear()
    azure_operations_resume.delay()
    done = wait_operation(op.pk)
    assert done.status == "succeeded", done.error_message
    assert done.attempts == 2
    puts = fake_azure.requests("PUT", CLUSTER_PATH)
    assert len(puts) == 2 and len(fake_azure.operations) == 1  # the second PUT joined the first
    assert Cluster.objects.get(pk=op.cluster_id).status == "healthy"
