"""REST endpoints for Azure Container Registries and their pull secrets in clusters.

No endpoint ever answers with a registry password: it goes from Azure into the Secret."""

from __future__ import annotations

from azure.core.exceptions import AzureError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from clusters.api.azure_serializers import NAME_RE, AzureOperationSerializer, azure_credentials
from clusters.azure import registry as registry_mod
from clusters.azure.errors import AzureFailure, describe
from clusters.azure.services import AzureInputError
from clusters.models import Cluster
from clusters.models_azure import ContainerRegistry, PullSecret
from controlpanel.choices import Role
from controlpanel.services import Actor

ACR_NAME = r"^[A-Za-z0-9]{5,50}$"


class ContainerRegistrySerializer(serializers.ModelSerializer):
    class Meta:
        model = ContainerRegistry
        fields = [
            "id", "name", "resource_group", "location", "sku", "login_server", "arm_id",
            "attached", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class RegistryRequestSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(["create", "attach"], help_text="Create a new registry or attach an existing one.")  # fmt: skip
    credential = serializers.PrimaryKeyRelatedField(queryset=azure_credentials())
    name = serializers.RegexField(ACR_NAME, required=False, allow_blank=True, default="", help_text="5-50 letters and digits.")  # fmt: skip
    resource_group = serializers.RegexField(r"^[-\w._()]{1,90}$", required=False, allow_blank=True, default="")  # fmt: skip
    location = serializers.RegexField(r"^[a-z0-9]{2,50}$", required=False, allow_blank=True, default="")  # fmt: skip
    sku = serializers.ChoiceField(["Basic", "Standard", "Premium"], default="Basic")
    resource_id = serializers.CharField(required=False, allow_blank=True, default="", help_text="Attach: the registry's resource id (instead of group + name).")  # fmt: skip

    def validate(self, attrs):
        if attrs["mode"] == "create":
            for field in ("name", "resource_group", "location"):
                if not attrs[field]:
                    raise serializers.ValidationError({field: "Required to create a registry."})
        return attrs


class PullSecretSerializer(serializers.ModelSerializer):
    cluster = serializers.PrimaryKeyRelatedField(queryset=Cluster.objects.all())
    namespace = serializers.RegexField(NAME_RE, max_length=63)
    secret_name = serializers.RegexField(NAME_RE, max_length=253)
    registry = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = PullSecret
        fields = ["id", "registry", "cluster", "namespace", "secret_name", "created_at"]
        read_only_fields = ["id", "registry", "created_at"]


def _refused(exc: Exception):
    if isinstance(exc, AzureInputError):
        return serializers.ValidationError({exc.field: exc.message})
    failure = exc if isinstance(exc, AzureFailure) else describe(exc)
    return serializers.ValidationError({"registry": str(failure)})


class ContainerRegistryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):  # fmt: skip
    """Container registries the panel created or attached, and their pull secrets."""

    queryset = ContainerRegistry.objects.all()
    serializer_class = ContainerRegistrySerializer
    action_roles = {"create": Role.ADMIN}

    @extend_schema(
        summary="Create (202, an operation) or attach (201, the registry) a container registry",
        request=RegistryRequestSerializer,
        responses={
            202: OpenApiResponse(AzureOperationSerializer),
            201: ContainerRegistrySerializer,
        },  # fmt: skip
    )
    def create(self, request):
        data = RegistryRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values, actor = dict(data.validated_data), Actor.from_request(request)
        try:
            if values.pop("mode") == "create":
                values.pop("resource_id")
                op = registry_mod.registry_create(actor=actor, **values)
                return Response(AzureOperationSerializer(op).data, status=status.HTTP_202_ACCEPTED)  # fmt: skip
            registry = registry_mod.registry_attach(
                actor=actor, credential=values["credential"], resource_id=values["resource_id"],
                resource_group=values["resource_group"], name=values["name"],
            )  # fmt: skip
        except AzureInputError as exc:
            raise _refused(exc) from None
        return Response(ContainerRegistrySerializer(registry).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["get"], summary="Pull secrets made from this registry", responses={200: PullSecretSerializer(many=True)})  # fmt: skip
    @extend_schema(methods=["post"], summary="Create a docker-registry pull secret in a cluster namespace", request=PullSecretSerializer, responses={201: PullSecretSerializer})  # fmt: skip
    @action(detail=True, methods=["get", "post"], url_path="pull-secrets")
    def pull_secrets(self, request, pk=None):
        registry = self.get_object()
        if request.method == "GET":
            return Response(PullSecretSerializer(registry.pull_secrets.all(), many=True).data)
        data = PullSecretSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            secret = registry_mod.pull_secret_create(
                actor=Actor.from_request(request), registry=registry, **data.validated_data
            )
        except (AzureInputError, AzureFailure, AzureError) as exc:
            raise _refused(exc) from None
        return Response(PullSecretSerializer(secret).data, status=status.HTTP_201_CREATED)
