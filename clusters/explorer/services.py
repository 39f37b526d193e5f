"""The explorer's only writes: delete a pod, restart or scale a workload, delete a finished Job.

Operators and admins only, each one checked here as well as in the views, and recorded in the
audit log once the API server has done it."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from clusters.explorer.client import connect
from clusters.explorer.kinds import KINDS
from clusters.explorer.rows import job_state
from clusters.explorer.selectors import clean_name, clean_namespace
from clusters.models import Cluster
from core.choices import AuditAction, Role
from core.selectors import has_role
from core.services import Actor, audit_record

logger = logging.getLogger(__name__)

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
SCALABLE = ("deployments", "statefulsets")
# More replicas than this from a button is a typo, not a plan.
MAX_REPLICAS = 100
BACKGROUND = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}


def _check(actor: Actor, cluster: Cluster, namespace: str, name: str) -> tuple[str, str]:
    if actor.user is not None and not has_role(actor.user, Role.OPERATOR):
        raise PermissionDenied("Only operators and admins change objects on a cluster.")
    namespace, name = clean_namespace(namespace), clean_name(name)
    if not namespace:
        raise ValidationError({"namespace": "Name the object's namespace."})
    return namespace, name


def _audit(actor: Actor, action: str, cluster: Cluster, kind: str, namespace: str, name: str,
           **changes) -> None:  # fmt: skip
    audit_record(
        actor=actor,
        action=action,
        object_type=kind.lower(),
        object_repr=f"{cluster.name}/{namespace}/{name}",
        changes={"cluster": cluster.name, "namespace": namespace, "kind": kind, **changes},
    )
    logger.info("%s %s %s %s/%s on %s", actor.name, action, kind, namespace, name, cluster.name)


def pod_delete(*, actor: Actor, cluster: Cluster, namespace: str, name: str) -> None:
    """Delete a pod (its controller, if any, makes a new one)."""
    namespace, name = _check(actor, cluster, namespace, name)
    kind = KINDS["pods"]
    with connect(cluster) as session:
        session.request(
            "DELETE", kind.path(namespace, name),
            verb="delete", resource="pods", namespace=namespace,
        )  # fmt: skip
    _audit(actor, AuditAction.DELETE, cluster, "Pod", namespace, name)


def deployment_restart(*, actor: Actor, cluster: Cluster, namespace: str, name: str) -> str:
    """`kubectl rollout restart`: a new pod-template annotation rolls every pod."""
    namespace, name = _check(actor, cluster, namespace, name)
    stamp = timezone.now().isoformat(timespec="seconds")
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    with connect(cluster) as session:
        session.request(
            "PATCH", KINDS["deployments"].path(namespace, name), body=patch,
            content_type="application/strategic-merge-patch+json",
            verb="patch", resource="deployments", namespace=namespace,
        )  # fmt: skip
    _audit(actor, AuditAction.UPDATE, cluster, "Deployment", namespace, name, restarted_at=stamp)
    return stamp


def workload_scale(
    *, actor: Actor, cluster: Cluster, kind: str, namespace: str, name: str, replicas: int
) -> int:
    """Set the replicas of a Deployment or StatefulSet through its scale subresource; returns
    the number before."""
    if kind not in SCALABLE:
        raise ValidationError({"kind": "Only Deployments and StatefulSets are scaled here."})
    if (
        isinstance(replicas, bool)
        or not isinstance(replicas, int)
        or not 0 <= replicas <= MAX_REPLICAS
    ):
        raise ValidationError({"replicas": f"A whole number from 0 to {MAX_REPLICAS}."})
    namespace, name = _check(actor, cluster, namespace, name)
    path = KINDS[kind].path(namespace, name) + "/scale"
    with connect(cluster) as session:
        before = session.request(
            "GET", path, verb="get", resource=f"{kind}/scale", namespace=namespace
        )
        session.request(
            "PATCH", path, body={"spec": {"replicas": replicas}},
            content_type="application/merge-patch+json",
            verb="patch", resource=f"{kind}/scale", namespace=namespace,
        )  # fmt: skip
    old = (before.get("spec") or {}).get("replicas", 0)
    _audit(
        actor, AuditAction.UPDATE, cluster, KINDS[kind].kind, namespace, name,
        replicas=[old, replicas],
    )  # fmt: skip
    return old


def job_delete_finished(*, actor: Actor, cluster: Cluster, namespace: str, name: str) -> str:
    """Delete a Job that has completed or failed, with its pods; a running Job is refused."""
    namespace, name = _check(actor, cluster, namespace, name)
    kind = KINDS["jobs"]
    with connect(cluster) as session:
        job = session.get(kind, namespace, name)
        state = job_state(job)
        if state == "Running":
            raise ValidationError(
                {"job": f"Job {name} has not finished; only finished Jobs are deleted here."}
            )
        session.request(
            "DELETE", kind.path(namespace, name), body=BACKGROUND,
            verb="delete", resource="jobs", namespace=namespace,
        )  # fmt: skip
    _audit(actor, AuditAction.DELETE, cluster, "Job", namespace, name, state=state)
    return state
