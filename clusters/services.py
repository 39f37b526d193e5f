"""Writes about credentials and clusters. Views, serializers and tasks call these."""

from __future__ import annotations

import json
import logging
import re
import time

import urllib3
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone
from kubernetes.client.exceptions import ApiException

from clusters import gpu
from clusters import kubeconfig as kubeconfig_mod
from clusters.azure.checks import check_service_principal
from clusters.azure.clients import ServicePrincipal
from clusters.choices import (
    SECRET_FIELDS,
    ClusterKind,
    ClusterStatus,
    ConnectionTestStatus,
    CredentialKind,
    PodSecurityLevel,
)
from clusters.explorer import health
from clusters.models import Cluster, Credential
from clusters.probe import ProbeError, Snapshot, classify, probe_kubernetes, probe_local
from clusters.validators import clean_host_path_exemptions
from core.choices import AuditAction, Role
from core.crypto import encrypt
from core.selectors import has_role
from core.services import SYSTEM, Actor, audit_record

logger = logging.getLogger(__name__)


class ClusterImportError(ValueError):
    """The kubeconfig was refused; `field` names the input at fault."""

    def __init__(self, message: str, field: str = "kubeconfig"):
        super().__init__(message)
        self.message = message
        self.field = field


def _encrypt_secrets(values: dict[str, str]) -> str:
    return encrypt(json.dumps(values)) if values else ""


@transaction.atomic
def credential_create(
    *,
    actor: Actor,
    name: str,
    kind: str,
    description: str = "",
    tenant_id: str = "",
    client_id: str = "",
    subscription_id: str = "",
    client_secret: str = "",
    kubeconfig: str = "",
    context: str = "",
) -> Credential:
    """Store a credential. Secrets are encrypted here and appear nowhere else."""
    server = ""
    if kind == CredentialKind.KUBECONFIG:
        parsed = kubeconfig_mod.parse(kubeconfig, context or None)
        context, server = parsed.context, parsed.server
        secrets = {"kubeconfig": kubeconfig}
    else:
        secrets = {"client_secret": client_secret}
    credential = Credential.objects.create(
        name=name,
        kind=kind,
        description=description,
        tenant_id=tenant_id,
        client_id=client_id,
        subscription_id=subscription_id,
        context=context,
        server=server,
        secret_data=_encrypt_secrets(secrets),
        created_by=actor.user,
    )
    audit_record(actor=actor, action=AuditAction.CREATE, obj=credential, changes={"kind": kind})
    return credential


@transaction.atomic
def credential_update(*, actor: Actor, credential: Credential, **fields) -> Credential:
    """Change public fields; a secret given non-empty replaces the stored one (write-only)."""
    changes: dict = {}
    secrets = credential.secrets()
    for name in SECRET_FIELDS[CredentialKind(credential.kind)]:
        value = fields.pop(name, "")
        if value:
            secrets[name] = value
            changes[name] = "replaced"
    if credential.kind == CredentialKind.KUBECONFIG:
        parsed = kubeconfig_mod.parse(secrets["kubeconfig"], fields.get("context") or None)
        fields["context"], fields["server"] = parsed.context, parsed.server
    for name, value in fields.items():
        if getattr(credential, name) != value:
            changes[name] = [getattr(credential, name), value]
            setattr(credential, name, value)
    if any(name in changes for name in SECRET_FIELDS[CredentialKind(credential.kind)]):
        credential.secret_data = _encrypt_secrets(secrets)
    credential.test_status = ConnectionTestStatus.NEVER if changes else credential.test_status
    credential.save()
    if changes:
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=credential, changes=changes)
    return credential


@transaction.atomic
def credential_delete(*, actor: Actor, credential: Credential) -> None:
    audit_record(actor=actor, action=AuditAction.DELETE, obj=credential)
    credential.delete()


def credential_test_request(*, actor: Actor, credential: Credential) -> None:
    """Mark the credential as being tested and run the test on a worker after commit."""
    from clusters.tasks import credential_test_task

    with transaction.atomic():
        Credential.objects.filter(pk=credential.pk).update(
            test_status=ConnectionTestStatus.PENDING, test_message=""
        )
        actor_id = actor.user.pk if actor.user else None
        transaction.on_commit(lambda: credential_test_task.delay(credential.pk, actor_id))


def _kubeconfig_of(credential: Credential) -> kubeconfig_mod.Kubeconfig:
    return kubeconfig_mod.parse(credential.secrets()["kubeconfig"], credential.context or None)


def cluster_kubeconfig(cluster: Cluster) -> kubeconfig_mod.Kubeconfig:
    """How to reach a Kubernetes cluster: its stored kubeconfig, or for the cluster the panel
    runs in, its ServiceAccount."""
    if cluster.kind == ClusterKind.IN_CLUSTER:
        return kubeconfig_mod.in_cluster()
    if cluster.credential is None:
        raise kubeconfig_mod.KubeconfigError("No kubeconfig credential is attached.")
    return _kubeconfig_of(cluster.credential)


def service_principal_of(credential: Credential) -> ServicePrincipal:
    return ServicePrincipal(
        tenant_id=credential.tenant_id,
        client_id=credential.client_id,
        client_secret=credential.secrets().get("client_secret", ""),
        subscription_id=credential.subscription_id,
    )


def credential_test(*, credential_id: int, actor_id: int | None = None) -> Credential | None:
    """Try the credential for real and record success or the precise reason it failed, in the
    credential and in the audit log (as the user who asked for the test)."""
    credential = Credential.objects.filter(pk=credential_id).first()
    if credential is None:
        return None
    try:
        if credential.kind == CredentialKind.KUBECONFIG:
            parsed = _kubeconfig_of(credential)
            snapshot = probe_kubernetes(kubeconfig_mod.api_client(parsed), parsed.server)
            message = f"Connected to {parsed.server}: Kubernetes {snapshot.version}, {len(snapshot.nodes)} node(s)."
        else:
            message = check_service_principal(service_principal_of(credential))
        status = ConnectionTestStatus.OK
    except ProbeError as exc:
        status, message = ConnectionTestStatus.FAILED, exc.message
    except (ValueError, kubeconfig_mod.KubeconfigError) as exc:
        status, message = ConnectionTestStatus.FAILED, str(exc)
    Credential.objects.filter(pk=credential.pk).update(
        test_status=status, test_message=message, tested_at=timezone.now()
    )
    user = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    audit_record(actor=Actor(user=user), action=AuditAction.TEST, obj=credential,
                 changes={"outcome": str(status), "message": message[:300]})  # fmt: skip
    logger.info("credential %s test: %s", credential.name, status)
    credential.refresh_from_db()
    return credential


def _probe_kubeconfig(parsed: kubeconfig_mod.Kubeconfig) -> Snapshot:
    return probe_kubernetes(kubeconfig_mod.api_client(parsed), parsed.server)


def _unique_credential_name(base: str) -> str:
    name, n = base, 2
    while Credential.objects.filter(name=name).exists():
        name, n = f"{base}-{n}", n + 1
    return name


def cluster_import(
    *,
    actor: Actor,
    name: str,
    kubeconfig: str,
    context: str = "",
    namespace: str = "default",
    description: str = "",
) -> Cluster:
    """Import a cluster from a kubeconfig, after checking that it can really be reached.

    Nothing is saved unless the kubeconfig parses, the context exists and the API server
    answers with these credentials.
    """
    try:
        parsed = kubeconfig_mod.parse(kubeconfig, context or None)
    except kubeconfig_mod.KubeconfigError as exc:
        field = "context" if context and "context" in str(exc).lower() else "kubeconfig"
        raise ClusterImportError(str(exc), field=field) from exc
    try:
        snapshot = _probe_kubeconfig(parsed)
    except ProbeError as exc:
        raise ClusterImportError(exc.message) from exc
    except kubeconfig_mod.KubeconfigError as exc:
        raise ClusterImportError(str(exc), field="kubeconfig") from exc
    with transaction.atomic():
        credential = Credential.objects.create(
            name=_unique_credential_name(f"{name}-kubeconfig"),
            kind=CredentialKind.KUBECONFIG,
            description=f"Imported with cluster {name}",
            context=parsed.context,
            server=parsed.server,
            secret_data=_encrypt_secrets({"kubeconfig": kubeconfig}),
            test_status=ConnectionTestStatus.OK,
            test_message=f"Connected at import: Kubernetes {snapshot.version}.",
            tested_at=timezone.now(),
            created_by=actor.user,
        )
        cluster = Cluster.objects.create(
            name=name,
            kind=ClusterKind.KUBERNETES,
            description=description,
            credential=credential,
            namespace=namespace or "default",
            status=snapshot.status,
            version=snapshot.version,
            nodes=snapshot.nodes,
            namespaces=snapshot.namespaces,
            checked_at=timezone.now(),
            created_by=actor.user,
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            obj=cluster,
            changes={"kind": cluster.kind, "server": parsed.server, "context": parsed.context},
        )
    return cluster


@transaction.atomic
def cluster_update(*, actor: Actor, cluster: Cluster, **fields) -> Cluster:
    changes = {}
    for name, value in fields.items():
        if getattr(cluster, name) != value:
            changes[name] = [getattr(cluster, name), value]
            setattr(cluster, name, value)
    if changes:
        cluster.save()
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=cluster, changes=changes)
    return cluster


@transaction.atomic
def cluster_set_pod_security(
    *, actor: Actor, cluster: Cluster, level: str | None = None, exemptions: list | None = None
) -> Cluster:
    """Change the Pod Security level or the named hostPath exemptions of a cluster: admins only,
    audited. None leaves a value as it is."""
    if actor.user is not None and not has_role(actor.user, Role.ADMIN):
        raise PermissionDenied("Only admins change a cluster's Pod Security level or exemptions.")
    wanted: dict = {}
    if level is not None:
        if level not in PodSecurityLevel.values:
            raise ValidationError(
                {"pod_security_level": f"Must be one of {', '.join(PodSecurityLevel.values)}."}
            )
        wanted["pod_security_level"] = level
    if exemptions is not None:
        try:
            wanted["pod_security_exemptions"] = clean_host_path_exemptions(exemptions)
        except ValidationError as exc:
            raise ValidationError({"pod_security_exemptions": exc.messages}) from None
    changes = {
        name: [getattr(cluster, name), value]
        for name, value in wanted.items()
        if getattr(cluster, name) != value
    }
    if changes and cluster.is_local:
        raise ValidationError(
            {next(iter(changes)): "The local cluster runs workloads as processes, not pods: "
             "Pod Security levels do not apply to it."}
        )  # fmt: skip
    if changes:
        for name, (_, value) in changes.items():
            setattr(cluster, name, value)
        cluster.save(update_fields=[*changes, "updated_at"])
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=cluster, changes=changes)
        logger.info("cluster %s: Pod Security changed by %s: %s", cluster.name, actor.name, changes)
    return cluster


@transaction.atomic
def cluster_delete(*, actor: Actor, cluster: Cluster) -> None:
    """Forget a cluster (its workloads keep running); an imported kubeconfig goes with it.

    What still refers to it (the runs that ran there) is deleted first, on purpose."""
    credential = cluster.credential
    audit_record(actor=actor, action=AuditAction.DELETE, obj=cluster)
    try:
        cluster.delete()
    except ProtectedError as exc:
        kinds = sorted({str(obj._meta.verbose_name_plural) for obj in exc.protected_objects})
        raise ValidationError(
            {"cluster": f"{cluster.name} still has {len(exc.protected_objects)} "
             f"{' and '.join(kinds)}: delete them first."}
        ) from None  # fmt: skip
    if (
        credential is not None
        and not credential.clusters.exists()
        and credential.description.startswith("Imported with cluster")
    ):
        credential.delete()


def cluster_snapshot(cluster: Cluster) -> Snapshot:
    """Look at the cluster now; never raises for an unreachable cluster."""
    if cluster.kind == ClusterKind.LOCAL:
        return probe_local()
    try:
        return _probe_kubeconfig(cluster_kubeconfig(cluster))
    except ProbeError as exc:
        return Snapshot(status=exc.status, error=exc.message)
    except kubeconfig_mod.KubeconfigError as exc:
        return Snapshot(status=ClusterStatus.ERROR, error=str(exc))


def cluster_refresh(*, cluster_id: int) -> Cluster | None:
    """Health check: record reachability, version, nodes and namespaces."""
    cluster = Cluster.objects.select_related("credential").filter(pk=cluster_id).first()
    if cluster is None or cluster.status in (ClusterStatus.PROVISIONING, ClusterStatus.DELETING):
        return cluster
    started = time.monotonic()
    snapshot = cluster_snapshot(cluster)
    latency_ms = round((time.monotonic() - started) * 1000)
    fields = {"status": snapshot.status, "last_error": snapshot.error, "checked_at": timezone.now()}
    if not snapshot.error:
        fields |= {
            "version": snapshot.version,
            "nodes": snapshot.nodes,
            "namespaces": snapshot.namespaces,
        }
    # A conditional update: a cluster being provisioned or deleted meanwhile is left alone.
    Cluster.objects.filter(pk=cluster.pk).exclude(
        status__in=(ClusterStatus.PROVISIONING, ClusterStatus.DELETING)
    ).update(**fields)
    health.check_record(
        cluster=cluster, status=snapshot.status, nodes=snapshot.nodes,
        latency_ms=None if snapshot.error else latency_ms, error=snapshot.error,
    )  # fmt: skip
    if snapshot.error:
        logger.warning("cluster %s is %s: %s", cluster.name, snapshot.status, snapshot.error)
    cluster.refresh_from_db()
    return cluster


def local_cluster_name() -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", settings.LOCAL_CLUSTER_NAME.lower()).strip("-")
    return name[:63] or "local"


def cluster_ensure_in_cluster(*, actor: Actor = SYSTEM) -> tuple[Cluster, bool]:
    """ "This cluster": the one the panel runs in, created on first start in such an install
    (IN_CLUSTER), its runs in IN_CLUSTER_NAMESPACE."""
    existing = Cluster.objects.filter(kind=ClusterKind.IN_CLUSTER).first()
    if existing:
        return existing, False
    with transaction.atomic():
        cluster = Cluster.objects.create(
            name=settings.IN_CLUSTER_NAME,
            kind=ClusterKind.IN_CLUSTER,
            namespace=settings.IN_CLUSTER_NAMESPACE,
            description="The cluster the panel runs in, reached through its ServiceAccount.",
        )
        audit_record(
            actor=actor, action=AuditAction.CREATE, obj=cluster, changes={"kind": "in_cluster"}
        )
    cluster_refresh(cluster_id=cluster.pk)
    cluster.refresh_from_db()
    return cluster, True


def cluster_ensure_local(*, actor: Actor = SYSTEM) -> tuple[Cluster, bool]:
    """The embedded `local` cluster, created on first start and named after the machine."""
    existing = Cluster.objects.filter(kind=ClusterKind.LOCAL).first()
    if existing:
        return existing, False
    snapshot = probe_local()
    with transaction.atomic():
        cluster = Cluster.objects.create(
            name=local_cluster_name(),
            kind=ClusterKind.LOCAL,
            description="Runs workloads as processes on the panel's own machine.",
            status=snapshot.status,
            version=snapshot.version,
            nodes=snapshot.nodes,
            checked_at=timezone.now(),
        )
        audit_record(actor=actor, action=AuditAction.CREATE, obj=cluster, changes={"kind": "local"})
    return cluster, True


def cluster_install_device_plugin(*, actor: Actor, cluster: Cluster) -> str:
    """Install the NVIDIA device plugin DaemonSet (kube-system) shipped with the panel: admins
    only, audited, idempotent ("created", "updated" or "unchanged"). A cluster-wide add-on, so
    outside the Pod Security level of user workloads; its permissions are an optional role."""
    if actor.user is not None and not has_role(actor.user, Role.ADMIN):
        raise PermissionDenied("Only admins install cluster add-ons.")
    if cluster.is_local or cluster.credential is None:
        raise ValidationError({"cluster": f"{cluster.name} is not a Kubernetes cluster."})
    api = kubeconfig_mod.api_client(_kubeconfig_of(cluster.credential))
    try:
        result = gpu.install_device_plugin(api)
    except ApiException as exc:
        if exc.status == 403:
            raise ValidationError(
                {"cluster": f"The panel's identity on {cluster.name} may not manage DaemonSets in "
                 "kube-system. A cluster admin applies the optional role "
                 "docker/rbac/optional-nvidia-device-plugin.yaml, or applies "
                 f"clusters/addons/nvidia-device-plugin/{gpu.DEVICE_PLUGIN_FILE.name} directly."}
            ) from None  # fmt: skip
        raise ValidationError(
            {"cluster": f"{cluster.name} refused the device plugin: {exc.status} {exc.reason}."}
        ) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ValidationError({"cluster": classify(exc, cluster.name).message}) from None
    finally:
        api.close()
    audit_record(
        actor=actor, action=AuditAction.CREATE if result == "created" else AuditAction.UPDATE,
        obj=cluster, changes={"addon": "nvidia-device-plugin", "version": gpu.device_plugin_version(),
                              "result": result},
    )  # fmt: skip
    logger.info("cluster %s: NVIDIA device plugin %s by %s", cluster.name, result, actor.name)
    return result
