"""Pages of the explorer: thin views over its selectors and services."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views import View

from clusters import selectors as cluster_selectors
from clusters.explorer import nodes as nodes_mod
from clusters.explorer import selectors, services
from clusters.explorer.client import PAGE_DEFAULT, ExplorerError
from clusters.explorer.kinds import KINDS
from clusters.models import Cluster
from core.choices import Role
from core.permissions import RoleRequiredMixin
from core.services import Actor

# The columns of each kind's table after name, namespace and age: (heading, row key).
COLUMNS = {
    "pods": [("Phase", "phase"), ("Ready", "ready"), ("Restarts", "restarts"),
             ("Node", "node"), ("Reason", "reason")],
    "deployments": [("Ready", "ready"), ("Up to date", "up_to_date"), ("Available", "available")],
    "statefulsets": [("Ready", "ready")],
    "daemonsets": [("Desired", "desired"), ("Current", "current"), ("Ready", "ready")],
    "jobs": [("State", "state"), ("Completions", "completions"), ("Active", "active"),
             ("Failed", "failed")],
    "cronjobs": [("Schedule", "schedule"), ("Suspended", "suspend"), ("Active", "active"),
                 ("Last schedule", "last_schedule")],
    "services": [("Type", "type"), ("Cluster IP", "cluster_ip"), ("Ports", "ports")],
    "persistentvolumeclaims": [("Status", "status"), ("Volume", "volume"),
                               ("Capacity", "capacity"), ("Access modes", "access_modes"),
                               ("Storage class", "storage_class")],
    "persistentvolumes": [("Status", "status"), ("Claim", "claim"), ("Capacity", "capacity"),
                          ("Access modes", "access_modes"), ("Reclaim", "reclaim_policy")],
    "configmaps": [("Keys", "keys")],
    "secrets": [("Type", "type"), ("Keys", "keys")],
    "events": [("Type", "type"), ("Reason", "reason"), ("Object", "object_name"),
               ("Message", "message"), ("Count", "count"), ("Last seen", "last_seen")],
}  # fmt: skip


def _cell(value) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _table(slug: str, rows: list[dict]) -> list[tuple[dict, list[str]]]:
    return [(row, [_cell(row.get(key)) for _, key in COLUMNS[slug]]) for row in rows]


def _explorable(pk: int) -> Cluster:
    cluster = get_object_or_404(cluster_selectors.cluster_list(), pk=pk)
    if cluster.is_local:
        raise ExplorerError(f"{cluster.name} runs workloads as local processes: no Kubernetes "
                            "objects to explore.", status=404)  # fmt: skip
    return cluster


def _error(request, cluster, exc: ExplorerError, **context):
    status = exc.status if exc.status in (400, 403, 404) else 502
    return render(
        request, "clusters/explorer/error.html",
        {"cluster": cluster, "error": exc.message, "kinds": KINDS.values(), **context},
        status=status,
    )  # fmt: skip


class ExplorerListView(RoleRequiredMixin, View):
    """A page of one kind, in a namespace or all, filtered by labels; `continue` pages on."""

    def get(self, request, pk: int, kind: str = "pods"):
        cluster = get_object_or_404(cluster_selectors.cluster_list(), pk=pk)
        query = request.GET
        try:
            _explorable(pk)
            listing = selectors.object_list(
                cluster, kind, namespace=query.get("namespace", ""),
                labels=query.get("label", ""), token=query.get("continue", ""),
                limit=PAGE_DEFAULT,
            )  # fmt: skip
        except ExplorerError as exc:
            return _error(request, cluster, exc, slug=kind)
        next_url = ""
        if listing.next:
            params = {"namespace": listing.namespace, "label": listing.labels,
                      "continue": listing.next}  # fmt: skip
            next_url = f"{request.path}?{urlencode({k: v for k, v in params.items() if v})}"
        return render(request, "clusters/explorer/list.html", {
            "cluster": cluster, "listing": listing, "slug": kind, "kinds": KINDS.values(),
            "columns": [heading for heading, _ in COLUMNS[kind]],
            "table": _table(kind, listing.rows), "next_url": next_url,
            "paged": bool(query.get("continue")),
            "namespaces": cluster.namespaces,
        })  # fmt: skip


class ExplorerDetailView(RoleRequiredMixin, View):
    """One object: conditions, events, pods, the redacted YAML; a pod's live logs."""

    def get(self, request, pk: int, kind: str, name: str, namespace: str = ""):
        cluster = get_object_or_404(cluster_selectors.cluster_list(), pk=pk)
        try:
            _explorable(pk)
            detail = selectors.object_detail(cluster, kind, namespace, name)
        except ExplorerError as exc:
            return _error(request, cluster, exc, slug=kind)
        pods_table = _table("pods", detail.pods.rows) if detail.pods else []
        events_table = _table("events", detail.events.rows) if detail.events else []
        container = request.GET.get("container") or ""
        containers = detail.row.get("containers", []) if kind == "pods" else []
        if container not in containers:
            container = containers[0] if containers else ""
        previous = request.GET.get("previous") == "1"
        log_ws = ""
        if kind == "pods" and container:
            log_ws = (
                f"/ws/clusters/{cluster.pk}/namespaces/{detail.namespace}/pods/{detail.name}"
                f"/logs/{container}/{'previous' if previous else 'current'}/"
            )
        return render(request, "clusters/explorer/detail.html", {
            "cluster": cluster, "d": detail, "slug": kind, "kinds": KINDS.values(),
            "pod_columns": [h for h, _ in COLUMNS["pods"]], "pods_table": pods_table,
            "event_columns": [h for h, _ in COLUMNS["events"]], "events_table": events_table,
            "containers": containers, "container": container, "previous": previous,
            "log_ws": log_ws, "max_replicas": services.MAX_REPLICAS,
        })  # fmt: skip


class ExplorerActionView(RoleRequiredMixin, View):
    """POST: delete a pod, restart or scale a workload, delete a finished Job (operators)."""

    write_role = Role.OPERATOR
    actions = {
        ("pods", "delete"), ("deployments", "restart"), ("deployments", "scale"),
        ("statefulsets", "scale"), ("jobs", "delete"),
    }  # fmt: skip

    def post(self, request, pk: int, kind: str, namespace: str, name: str, action: str):
        cluster = get_object_or_404(Cluster, pk=pk)
        if (kind, action) not in self.actions:
            raise PermissionDenied(f"No {action} for {kind} here.")
        actor = Actor.from_request(request)
        detail_url = reverse("explorer-detail", args=[cluster.pk, kind, namespace, name])
        try:
            if action == "delete" and kind == "pods":
                services.pod_delete(actor=actor, cluster=cluster, namespace=namespace, name=name)
                messages.success(request, f"Deleted pod {namespace}/{name}.")
                return redirect(reverse("explorer-list", args=[cluster.pk, "pods"])
                                + f"?namespace={namespace}")  # fmt: skip
            if action == "restart":
                services.deployment_restart(
                    actor=actor, cluster=cluster, namespace=namespace, name=name
                )
                messages.success(request, f"Restarting the pods of {namespace}/{name}.")
            elif action == "scale":
                replicas = request.POST.get("replicas", "")
                services.workload_scale(
                    actor=actor, cluster=cluster, kind=kind, namespace=namespace, name=name,
                    replicas=int(replicas) if replicas.isdecimal() else -1,
                )  # fmt: skip
                messages.success(request, f"Scaled {namespace}/{name} to {replicas}.")
            else:
                services.job_delete_finished(
                    actor=actor, cluster=cluster, namespace=namespace, name=name
                )
                messages.success(request, f"Deleted job {namespace}/{name} and its pods.")
                return redirect(reverse("explorer-list", args=[cluster.pk, "jobs"])
                                + f"?namespace={namespace}")  # fmt: skip
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except ExplorerError as exc:
            messages.error(request, exc.message)
        return redirect(detail_url)


class NodesView(RoleRequiredMixin, View):
    """Nodes: conditions, taints, allocatable against requested, live usage if measured."""

    def get(self, request, pk: int):
        cluster = get_object_or_404(cluster_selectors.cluster_list(), pk=pk)
        try:
            _explorable(pk)
            report = nodes_mod.node_report(cluster)
        except ExplorerError as exc:
            return _error(request, cluster, exc, slug="nodes")
        return render(request, "clusters/explorer/nodes.html", {
            "cluster": cluster, "report": report, "kinds": KINDS.values(), "slug": "nodes",
        })  # fmt: skip
