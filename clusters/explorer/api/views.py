"""REST endpoints of the explorer, under a cluster: thin views over its selectors and services.

Lists answer 200 with `forbidden` set (and no items) when the panel's identity may not list
the kind there, so a client can tell "none" from "not allowed"."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from clusters import selectors as cluster_selectors
from clusters.explorer import health, nodes, selectors, services
from clusters.explorer.api.serializers import (
    ActionResultSerializer,
    DetailSerializer,
    HealthCheckSerializer,
    ListingSerializer,
    NodeReportSerializer,
    ReplicasSerializer,
)
from clusters.explorer.client import PAGE_DEFAULT, PAGE_MAX, ExplorerError, Forbidden, NotFound
from clusters.explorer.kinds import KINDS
from clusters.models import Cluster
from core.choices import Role
from core.services import Actor


class UpstreamError(exceptions.APIException):
    status_code = 502
    default_code = "cluster_error"


class PanelForbidden(exceptions.APIException):
    """The panel's identity (not the caller) may not do this on the cluster."""

    status_code = 403
    default_code = "cluster_forbidden"


def _raise(exc: ExplorerError):
    if isinstance(exc, selectors.BadInput):
        raise serializers.ValidationError({exc.field: exc.message})
    if isinstance(exc, NotFound):
        raise exceptions.NotFound(exc.message)
    if isinstance(exc, Forbidden):
        raise PanelForbidden(exc.message)
    if exc.status == 400:
        raise serializers.ValidationError({"detail": exc.message})
    raise UpstreamError(exc.message)


def _cluster(pk: int) -> Cluster:
    cluster = get_object_or_404(cluster_selectors.cluster_list(), pk=pk)
    if cluster.is_local:
        raise exceptions.NotFound("The local cluster has no Kubernetes objects to explore.")
    return cluster


def _limit(request) -> int:
    value = request.query_params.get("limit", "")
    if not value:
        return PAGE_DEFAULT
    if not value.isdecimal() or not 1 <= int(value) <= PAGE_MAX:
        raise serializers.ValidationError({"limit": f"A whole number from 1 to {PAGE_MAX}."})
    return int(value)


KIND_PARAM = OpenApiParameter(
    "kind", OpenApiTypes.STR, OpenApiParameter.PATH, enum=sorted(KINDS),
    description="The resource, by its plural name.",
)  # fmt: skip
LIST_PARAMS = [
    OpenApiParameter("label", OpenApiTypes.STR, description="Label selector, e.g. `app=web`."),
    OpenApiParameter("limit", OpenApiTypes.INT, description=f"Page size, 1-{PAGE_MAX} (default {PAGE_DEFAULT})."),
    OpenApiParameter("continue", OpenApiTypes.STR, description="`next` of the previous page."),
]  # fmt: skip


class _Base(APIView):
    read_role = Role.VIEWER


class ObjectListView(_Base):
    @extend_schema(
        summary="A page of objects of one kind in every namespace (or a cluster-scoped kind)",
        operation_id="clusters_objects_list",
        parameters=[KIND_PARAM, OpenApiParameter("namespace", OpenApiTypes.STR,
                    description="Only this namespace."), *LIST_PARAMS],
        responses=ListingSerializer,
    )  # fmt: skip
    def get(self, request, pk: int, kind: str, namespace: str | None = None):
        cluster = _cluster(pk)
        try:
            listing = selectors.object_list(
                cluster, kind,
                namespace=namespace if namespace is not None else request.query_params.get("namespace", ""),
                labels=request.query_params.get("label", ""),
                limit=_limit(request), token=request.query_params.get("continue", ""),
            )  # fmt: skip
        except ExplorerError as exc:
            _raise(exc)
        return Response(ListingSerializer(listing).data)


class NamespacedListView(ObjectListView):
    @extend_schema(
        summary="A page of objects of one kind in a namespace",
        operation_id="clusters_namespaces_objects_list",
        parameters=[KIND_PARAM, *LIST_PARAMS], responses=ListingSerializer,
    )  # fmt: skip
    def get(self, request, pk: int, namespace: str, kind: str):
        return super().get(request, pk, kind, namespace)


class ObjectDetailView(_Base):
    write_role = Role.OPERATOR

    @extend_schema(
        summary="One object: conditions, events, pods and its YAML (secrets redacted)",
        operation_id="clusters_namespaces_objects_retrieve",
        parameters=[KIND_PARAM], responses=DetailSerializer,
    )  # fmt: skip
    def get(self, request, pk: int, kind: str, name: str, namespace: str = ""):
        cluster = _cluster(pk)
        try:
            detail = selectors.object_detail(cluster, kind, namespace, name)
        except ExplorerError as exc:
            _raise(exc)
        return Response(DetailSerializer(detail).data)

    @extend_schema(
        summary="Delete a pod, or a finished Job with its pods (operators; audited)",
        operation_id="clusters_namespaces_objects_destroy",
        parameters=[KIND_PARAM], request=None, responses=ActionResultSerializer,
    )  # fmt: skip
    def delete(self, request, pk: int, kind: str, name: str, namespace: str = ""):
        cluster = get_object_or_404(Cluster, pk=pk)
        actor = Actor.from_request(request)
        try:
            if kind == "pods":
                services.pod_delete(actor=actor, cluster=cluster, namespace=namespace, name=name)
                detail = f"Deleted pod {namespace}/{name}."
            elif kind == "jobs":
                services.job_delete_finished(
                    actor=actor, cluster=cluster, namespace=namespace, name=name
                )
                detail = f"Deleted job {namespace}/{name} and its pods."
            else:
                raise exceptions.MethodNotAllowed(
                    "DELETE", f"Only pods and finished jobs are deleted here, not {kind}."
                )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        except ExplorerError as exc:
            _raise(exc)
        return Response({"detail": detail})


class ClusterObjectDetailView(ObjectDetailView):
    http_method_names = ["get", "head", "options"]

    @extend_schema(
        summary="One cluster-scoped object (a PersistentVolume)",
        operation_id="clusters_objects_retrieve",
        parameters=[KIND_PARAM], responses=DetailSerializer,
    )  # fmt: skip
    def get(self, request, pk: int, kind: str, name: str, namespace: str = ""):
        return super().get(request, pk, kind, name)


class RestartView(_Base):
    write_role = Role.OPERATOR

    @extend_schema(
        summary="Rollout restart of a Deployment (operators; audited)",
        request=None, responses=ActionResultSerializer,
    )  # fmt: skip
    def post(self, request, pk: int, namespace: str, name: str):
        cluster = get_object_or_404(Cluster, pk=pk)
        try:
            stamp = services.deployment_restart(
                actor=Actor.from_request(request), cluster=cluster, namespace=namespace, name=name
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        except ExplorerError as exc:
            _raise(exc)
        return Response({"detail": f"Restart of {namespace}/{name} asked at {stamp}."})


class ScaleView(_Base):
    write_role = Role.OPERATOR

    @extend_schema(
        summary="Scale a Deployment or StatefulSet (operators; audited)",
        parameters=[OpenApiParameter("kind", OpenApiTypes.STR, OpenApiParameter.PATH,
                                     enum=list(services.SCALABLE))],
        request=ReplicasSerializer, responses=ActionResultSerializer,
    )  # fmt: skip
    def post(self, request, pk: int, namespace: str, kind: str, name: str):
        cluster = get_object_or_404(Cluster, pk=pk)
        body = ReplicasSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        replicas = body.validated_data["replicas"]
        try:
            before = services.workload_scale(
                actor=Actor.from_request(request), cluster=cluster, kind=kind,
                namespace=namespace, name=name, replicas=replicas,
            )  # fmt: skip
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        except ExplorerError as exc:
            _raise(exc)
        return Response({"detail": f"Scaled {namespace}/{name} from {before} to {replicas}."})


class NodesView(_Base):
    @extend_schema(
        summary="Nodes: conditions, taints, allocatable against requested, live usage",
        responses=NodeReportSerializer,
    )
    def get(self, request, pk: int):
        cluster = _cluster(pk)
        try:
            report = nodes.node_report(cluster)
        except ExplorerError as exc:
            _raise(exc)
        return Response(NodeReportSerializer(report).data)


class HealthHistoryView(_Base):
    @extend_schema(
        summary="The cluster's recent health checks, oldest first",
        responses=HealthCheckSerializer(many=True),
    )
    def get(self, request, pk: int):
        cluster = get_object_or_404(cluster_selectors.cluster_list(), pk=pk)
        return Response(HealthCheckSerializer(health.history(cluster), many=True).data)
