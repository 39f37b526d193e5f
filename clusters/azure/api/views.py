"""REST endpoints for AKS provisioning and Azure operations: validate, call a service, answer."""

from __future__ import annotations

from contextlib import contextmanager

from azure.core.exceptions import AzureError, ResourceNotFoundError
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from clusters.azure import aks, preflight, storage
from clusters.azure import registry as registry_mod
from clusters.azure import services as azure_services
from clusters.azure.api import serializers as s
from clusters.azure.choices import OperationKind
from clusters.azure.errors import AzureFailure, describe
from clusters.azure.models import AksCluster, AzureOperation, ContainerRegistry, FileShare
from clusters.azure.services import AzureInputError
from clusters.services import service_principal_of
from core.choices import Role
from core.services import Actor

ACCEPTED = OpenApiResponse(s.AzureOperationSerializer, description="Queued operation")


def _accepted(op: AzureOperation) -> Response:
    return Response(s.AzureOperationSerializer(op).data, status=status.HTTP_202_ACCEPTED)


def _refused(exc: azure_services.AzureInputError):
    return serializers.ValidationError({exc.field: exc.message})


class AzureUnavailable(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "azure_error"


class AzureOperationViewSet(viewsets.ReadOnlyModelViewSet):
    """Long Azure actions with status, progress (percent), step and error with remedy."""

    queryset = AzureOperation.objects.select_related("cluster").all()
    serializer_class = s.AzureOperationSerializer
    filterset_fields = ["cluster", "status", "kind"]
    ordering_fields = ["created_at"]


class AksClusterViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """AKS clusters the panel provisions; `{id}` is the cluster id."""

    queryset = AksCluster.objects.select_related("cluster").order_by("cluster__name")
    serializer_class = s.AksClusterSerializer
    lookup_field = "cluster"
    action_roles = {"create": Role.ADMIN, "remove": Role.ADMIN, "preflight": Role.OPERATOR}

    def _op(self, kind: OperationKind, target: str = "", params: dict | None = None) -> Response:
        try:
            op = azure_services.aks_operation_request(
                actor=Actor.from_request(self.request),
                cluster=self.get_object().cluster,
                kind=kind,
                target=target,
                params=params,
            )
        except azure_services.AzureInputError as exc:
            raise _refused(exc) from exc
        return _accepted(op)

    @extend_schema(summary="Provision an AKS cluster", request=s.AksProvisionSerializer, responses={202: ACCEPTED})  # fmt: skip
    def create(self, request):
        data = s.AksProvisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            op = azure_services.aks_provision(actor=Actor.from_request(request), **data.validated_data)  # fmt: skip
        except azure_services.AzureInputError as exc:
            raise _refused(exc) from exc
        return _accepted(op)

    @extend_schema(summary="Preflight: credentials, providers, permission on the group", request=s.PreflightSerializer, responses={200: s.CheckSerializer(many=True)})  # fmt: skip
    @action(detail=False, methods=["post"])
    def preflight(self, request):
        data = s.PreflightSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sp = service_principal_of(data.validated_data["credential"])
        checks = preflight.run_preflight(sp, data.validated_data["resource_group"])
        return Response([c.as_dict() for c in checks])

    @extend_schema(
        summary="Kubernetes versions available to the subscription in a region",
        parameters=[
            OpenApiParameter("credential", int, required=True),
            OpenApiParameter("location", str, required=True),
        ],  # fmt: skip
        responses={200: s.VersionSerializer(many=True)},
    )
    @action(detail=False, methods=["get"])
    def versions(self, request):
        data = s.PreflightSerializer(
            data={"credential": request.query_params.get("credential"), "resource_group": "x"}
        )
        data.is_valid(raise_exception=True)
        location = request.query_params.get("location", "")
        if not s.re.fullmatch(r"[a-z0-9]{2,50}", location):
            raise serializers.ValidationError({"location": "A region name such as eastus."})
        try:
            versions = aks.kubernetes_versions(service_principal_of(data.validated_data["credential"]), location)  # fmt: skip
        except AzureError as exc:
            failure = describe(exc)
            raise serializers.ValidationError({"credential": str(failure)}) from exc
        return Response(versions)

    @extend_schema(summary="Register resource providers and wait", request=s.RegisterProvidersSerializer, responses={202: ACCEPTED})  # fmt: skip
    @action(detail=False, methods=["post"], url_path="register-providers")
    def register_providers(self, request):
        data = s.RegisterProvidersSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        op = azure_services.providers_register_request(actor=Actor.from_request(request), **data.validated_data)  # fmt: skip
        return _accepted(op)

    @extend_schema(summary="Scale a node pool", request=s.ScaleSerializer, responses={202: ACCEPTED})  # fmt: skip
    @action(detail=True, methods=["post"])
    def scale(self, request, cluster=None):
        data = s.ScaleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = {k: v for k, v in data.validated_data.items() if k != "pool"}
        return self._op(OperationKind.SCALE_POOL, data.validated_data["pool"], params)

    @extend_schema(summary="Add a node pool (GPU sizes with taints welcome)", request=s.PoolSerializer, responses={202: ACCEPTED})  # fmt: skip
    @action(detail=True, methods=["post"], url_path="add-pool")
    def add_pool(self, request, cluster=None):
        data = s.PoolSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = {**data.validated_data, "mode": "User"}
        return self._op(OperationKind.ADD_POOL, params["name"], params)

    @extend_schema(summary="Remove a user node pool", request=s.PoolNameSerializer, responses={202: ACCEPTED})  # fmt: skip
    @action(detail=True, methods=["post"], url_path="remove-pool")
    def remove_pool(self, request, cluster=None):
        data = s.PoolNameSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._op(OperationKind.REMOVE_POOL, data.validated_data["pool"])

    @extend_schema(summary="Upgrade the Kubernetes version", request=s.UpgradeSerializer, responses={202: ACCEPTED})  # fmt: skip
    @action(detail=True, methods=["post"])
    def upgrade(self, request, cluster=None):
        data = s.UpgradeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._op(OperationKind.UPGRADE, params=dict(data.validated_data))

    @extend_schema(summary="Delete the AKS cluster (type its name to confirm)", request=s.DeleteSerializer, responses={202: ACCEPTED})  # fmt: skip
    @action(detail=True, methods=["post"])
    def remove(self, request, cluster=None):
        data = s.DeleteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["confirm_name"] != self.get_object().cluster.name:
            raise serializers.ValidationError({"confirm_name": "Type the cluster's exact name to delete it."})  # fmt: skip
        return self._op(OperationKind.DELETE)


class FileShareViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = FileShare.objects.select_related("cluster").order_by("pk")
    serializer_class = s.FileShareSerializer

    @extend_schema(summary="Create a storage account + file share and mount it in the cluster", responses={202: OpenApiResponse(s.AzureOperationSerializer)})  # fmt: skip
    def create(self, request):
        data = s.FileShareSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            op = azure_services.file_share_create(actor=Actor.from_request(request), **data.validated_data)  # fmt: skip
        except azure_services.AzureInputError as exc:
            raise serializers.ValidationError({exc.field: exc.message}) from exc
        return Response(s.AzureOperationSerializer(op).data, status=status.HTTP_202_ACCEPTED)

    @staticmethod
    @contextmanager
    def _share_call():
        """The share's data plane as answers: a path it does not hold is a 404, anything else
        Azure (or the way to it) fails with is a 502 saying what to fix, never a 500."""
        try:
            yield
        except ResourceNotFoundError as exc:
            raise exceptions.NotFound(str(describe(exc))) from None
        except AzureError as exc:
            raise AzureUnavailable(str(describe(exc))) from None

    @extend_schema(summary="Upload a file into the share", request={"multipart/form-data": s.UploadSerializer}, responses={201: s.EntrySerializer})  # fmt: skip
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def upload(self, request, pk=None):
        data = s.UploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        content = data.validated_data["file"].read()
        share = self.get_object()
        with self._share_call():
            storage.upload(share, data.validated_data["path"], content)
        entry = {"name": data.validated_data["path"], "is_directory": False, "size": len(content)}
        return Response(entry, status=status.HTTP_201_CREATED)

    @extend_schema(summary="List a directory of the share", parameters=[OpenApiParameter("directory", str)], responses={200: s.EntrySerializer(many=True)})  # fmt: skip
    @action(detail=True, methods=["get"])
    def files(self, request, pk=None):
        share = self.get_object()
        with self._share_call():
            return Response(storage.listing(share, request.query_params.get("directory", "")))

    @extend_schema(summary="Download a file of the share", parameters=[OpenApiParameter("path", str, required=True)], responses={(200, "application/octet-stream"): bytes})  # fmt: skip
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        path = request.query_params.get("path", "")
        if not path:
            raise serializers.ValidationError({"path": "Give the file's path in the share."})
        share = self.get_object()
        with self._share_call():
            data = storage.download(share, path)
        response = HttpResponse(data, content_type="application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="{path.rsplit("/", 1)[-1]}"'
        return response


def _registry_refused(exc: Exception):
    if isinstance(exc, AzureInputError):
        return serializers.ValidationError({exc.field: exc.message})
    failure = exc if isinstance(exc, AzureFailure) else describe(exc)
    return serializers.ValidationError({"registry": str(failure)})


class ContainerRegistryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):  # fmt: skip
    """Container registries the panel created or attached, and their pull secrets."""

    queryset = ContainerRegistry.objects.all()
    serializer_class = s.ContainerRegistrySerializer
    action_roles = {"create": Role.ADMIN}

    @extend_schema(
        summary="Create (202, an operation) or attach (201, the registry) a container registry",
        request=s.RegistryRequestSerializer,
        responses={
            202: OpenApiResponse(s.AzureOperationSerializer),
            201: s.ContainerRegistrySerializer,
        },  # fmt: skip
    )
    def create(self, request):
        data = s.RegistryRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values, actor = dict(data.validated_data), Actor.from_request(request)
        try:
            if values.pop("mode") == "create":
                values.pop("resource_id")
                op = registry_mod.registry_create(actor=actor, **values)
                return Response(s.AzureOperationSerializer(op).data, status=status.HTTP_202_ACCEPTED)  # fmt: skip
            registry = registry_mod.registry_attach(
                actor=actor, credential=values["credential"], resource_id=values["resource_id"],
                resource_group=values["resource_group"], name=values["name"],
            )  # fmt: skip
        except AzureInputError as exc:
            raise _registry_refused(exc) from None
        return Response(
            s.ContainerRegistrySerializer(registry).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(methods=["get"], summary="Pull secrets made from this registry", responses={200: s.PullSecretSerializer(many=True)})  # fmt: skip
    @extend_schema(methods=["post"], summary="Create a docker-registry pull secret in a cluster namespace", request=s.PullSecretSerializer, responses={201: s.PullSecretSerializer})  # fmt: skip
    @action(detail=True, methods=["get", "post"], url_path="pull-secrets")
    def pull_secrets(self, request, pk=None):
        registry = self.get_object()
        if request.method == "GET":
            # Paged like every other list (its schema says so).
            page = self.paginate_queryset(registry.pull_secrets.order_by("pk"))
            return self.get_paginated_response(s.PullSecretSerializer(page, many=True).data)
        data = s.PullSecretSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            secret = registry_mod.pull_secret_create(
                actor=Actor.from_request(request), registry=registry, **data.validated_data
            )
        except (AzureInputError, AzureFailure, AzureError) as exc:
            raise _registry_refused(exc) from None
        return Response(s.PullSecretSerializer(secret).data, status=status.HTTP_201_CREATED)
