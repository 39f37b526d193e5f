"""REST endpoints for credentials and clusters: declarative viewsets calling services."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from clusters import gpu, selectors, services
from clusters.akri import akri_inventory
from clusters.api.serializers import (
    AkriInventorySerializer,
    ClusterSerializer,
    ClusterUpdateSerializer,
    CredentialSerializer,
    DevicePluginSerializer,
)
from clusters.filtersets import ClusterFilterSet, CredentialFilterSet
from clusters.kubeconfig import KubeconfigError
from clusters.tasks import cluster_refresh_task
from core.choices import Role
from core.services import Actor


class AcceptedSerializer(serializers.Serializer):
    detail = serializers.CharField()


@extend_schema_view(
    list=extend_schema(summary="List credentials (secrets are never returned)"),
    create=extend_schema(summary="Store a credential (Azure service principal or kubeconfig)"),
    test=extend_schema(
        summary="Test the connection on a worker",
        request=None,
        responses={202: OpenApiResponse(AcceptedSerializer)},
    ),
)
class CredentialViewSet(viewsets.ModelViewSet):
    queryset = selectors.credential_list()
    serializer_class = CredentialSerializer
    filterset_class = CredentialFilterSet
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at"]
    write_role = Role.ADMIN

    def perform_create(self, serializer):
        try:
            serializer.instance = services.credential_create(
                actor=Actor.from_request(self.request), **serializer.validated_data
            )
        except KubeconfigError as exc:
            raise serializers.ValidationError({"kubeconfig": str(exc)}) from exc

    def perform_update(self, serializer):
        serializer.instance = services.credential_update(
            actor=Actor.from_request(self.request),
            credential=serializer.instance,
            **serializer.validated_data,
        )

    def perform_destroy(self, instance):
        if instance.clusters.exists() or instance.managed_clusters.exists():
            raise serializers.ValidationError(
                {"credential": "Clusters still use this credential; delete them first."}
            )
        services.credential_delete(actor=Actor.from_request(self.request), credential=instance)

    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        credential = self.get_object()
        services.credential_test_request(actor=Actor.from_request(request), credential=credential)
        return Response({"detail": "Connection test queued."}, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(summary="List clusters with their health"),
    retrieve=extend_schema(summary="A cluster: status, version, nodes, namespaces"),
    create=extend_schema(
        summary="Import a Kubernetes cluster from a kubeconfig",
        description="The API server is contacted first; nothing is saved if it cannot be used.",
    ),
    partial_update=extend_schema(
        summary="Change a cluster's name, description, namespace or (admins) Pod Security",
        description="`pod_security_level` and `pod_security_exemptions` are for admins only "
        "(403 otherwise) and are recorded in the audit log.",
    ),
    refresh=extend_schema(
        summary="Run a health check now",
        request=None,
        responses={202: OpenApiResponse(AcceptedSerializer)},
    ),
    akri=extend_schema(
        summary="Akri on this cluster: Configurations and Instances, read now",
        description='`installed` is false when the cluster has no Akri CRDs ("Akri is not '
        'installed"); `error` says why they could not be read (unreachable, missing role).',
        responses={200: AkriInventorySerializer},
    ),
)
class ClusterViewSet(viewsets.ModelViewSet):
    queryset = selectors.cluster_list()
    filterset_class = ClusterFilterSet
    search_fields = ["name", "description"]
    ordering_fields = ["name", "status", "created_at"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    action_roles = {"destroy": Role.ADMIN, "device_plugin": Role.ADMIN}

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return ClusterUpdateSerializer
        return ClusterSerializer

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = services.cluster_import(
                actor=Actor.from_request(self.request),
                name=data["name"],
                kubeconfig=data["kubeconfig"],
                context=data.get("context", ""),
                namespace=data.get("namespace", "default"),
                description=data.get("description", ""),
            )
        except services.ClusterImportError as exc:
            raise serializers.ValidationError({exc.field: exc.message}) from exc

    def perform_update(self, serializer):
        with transaction.atomic():
            self._update(serializer)

    def _update(self, serializer):
        validated = serializer.validated_data
        actor = Actor.from_request(self.request)
        if "pod_security_level" in validated or "pod_security_exemptions" in validated:
            # First: a refusal (403 for non-admins, 400) must leave the other fields unchanged.
            exemptions = validated.get("pod_security_exemptions")
            try:
                services.cluster_set_pod_security(
                    actor=actor, cluster=serializer.instance,
                    level=validated.get("pod_security_level"),
                    exemptions=[dict(item) for item in exemptions] if exemptions is not None else None,
                )  # fmt: skip
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.message_dict) from exc
        data = {
            key: value
            for key, value in validated.items()
            if key in ("name", "description", "namespace")
        }
        serializer.instance = services.cluster_update(
            actor=actor, cluster=serializer.instance, **data
        )

    def perform_destroy(self, instance):
        try:
            services.cluster_delete(actor=Actor.from_request(self.request), cluster=instance)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc

    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        cluster = self.get_object()
        cluster_refresh_task.delay(cluster.pk)
        return Response({"detail": "Health check queued."}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Install the NVIDIA device plugin (admins)",
        description="Applies the DaemonSet shipped with the panel (NVIDIA k8s-device-plugin "
        "v0.20.0) in kube-system, so GPU nodes report nvidia.com/gpu. Idempotent: `result` is "
        "created, updated or unchanged. Audited. Needs the optional role "
        "docker/rbac/optional-nvidia-device-plugin.yaml on the cluster (else a 400 saying so).",
        request=None,
        responses={200: DevicePluginSerializer},
    )
    @action(detail=True, methods=["post"], url_path="device-plugin")
    def device_plugin(self, request, pk=None):
        cluster = self.get_object()
        try:
            result = services.cluster_install_device_plugin(
                actor=Actor.from_request(request), cluster=cluster
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        cluster_refresh_task.delay(cluster.pk)
        return Response({"result": result, "version": gpu.device_plugin_version()})

    @action(detail=True, methods=["get"])
    def akri(self, request, pk=None):
        cluster = self.get_object()
        inventory = akri_inventory(cluster)
        data = AkriInventorySerializer(inventory).data
        return Response(data)
