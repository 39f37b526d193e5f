"""API shapes of credentials and clusters. Secret fields are write-only."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clusters import kubeconfig as kubeconfig_mod
from clusters.choices import (
    CLIENT_SECRET_MAX_CHARS,
    KUBECONFIG_MAX_CHARS,
    SECRET_FIELDS,
    ClusterKind,
    CredentialKind,
    PodSecurityLevel,
)
from clusters.models import Cluster, Credential
from clusters.validators import validate_dns_label, validate_guid, validate_tenant


def _django_validator(func):
    def run(value):
        try:
            func(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc

    return run


class CredentialSerializer(serializers.ModelSerializer):
    client_secret = serializers.CharField(
        write_only=True,
        max_length=CLIENT_SECRET_MAX_CHARS,
        required=False,
        allow_blank=True,
        trim_whitespace=True,
        help_text="Azure: the service principal's secret. Write-only; never returned.",
        style={"input_type": "password"},
    )
    kubeconfig = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=KUBECONFIG_MAX_CHARS,
        help_text="Kubeconfig: the file's text, certificates embedded. Write-only.",
    )
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = Credential
        fields = [
            "id",
            "name",
            "kind",
            "description",
            "tenant_id",
            "client_id",
            "subscription_id",
            "context",
            "server",
            "client_secret",
            "kubeconfig",
            "has_secret",
            "test_status",
            "test_message",
            "tested_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "server",
            "test_status",
            "test_message",
            "tested_at",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(serializers.BooleanField)
    def get_has_secret(self, obj: Credential) -> bool:
        return bool(obj.secret_data)

    def validate(self, attrs):
        kind = attrs.get("kind") or getattr(self.instance, "kind", None)
        if self.instance is not None and "kind" in attrs and attrs["kind"] != self.instance.kind:
            raise serializers.ValidationError({"kind": "The kind of a credential cannot change."})
        creating = self.instance is None
        errors = {}
        for other, names in SECRET_FIELDS.items():
            for name in names:
                if kind and other != kind and attrs.get(name):
                    errors[name] = f"Not a field of a {CredentialKind(kind).label} credential."
        if errors:
            raise serializers.ValidationError(errors)
        if kind == CredentialKind.AZURE:
            checks = {
                "tenant_id": validate_tenant,
                "client_id": validate_guid,
                "subscription_id": validate_guid,
            }
            for name, check in checks.items():
                value = attrs.get(name, getattr(self.instance, name, ""))
                if not value:
                    errors[name] = "This field is required for an Azure service principal."
                    continue
                try:
                    check(value)
                except DjangoValidationError as exc:
                    errors[name] = exc.messages
            if creating and not attrs.get("client_secret"):
                errors["client_secret"] = "This field is required for an Azure service principal."
        elif kind == CredentialKind.KUBECONFIG:
            text = attrs.get("kubeconfig")
            if creating and not text:
                errors["kubeconfig"] = "Paste or upload the kubeconfig."
            elif text or "context" in attrs:
                if not text:
                    text = self.instance.secrets()["kubeconfig"]
                try:
                    kubeconfig_mod.parse(text, attrs.get("context") or None)
                except kubeconfig_mod.KubeconfigError as exc:
                    field = (
                        "context"
                        if "context" in str(exc).lower() and attrs.get("context")
                        else "kubeconfig"
                    )
                    errors[field] = str(exc)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class NodeSerializer(serializers.Serializer):
    name = serializers.CharField()
    ready = serializers.BooleanField()
    status = serializers.CharField()
    cpu = serializers.FloatField(help_text="CPU capacity in cores.")
    memory = serializers.IntegerField(help_text="Memory capacity in bytes.")
    gpu = serializers.IntegerField(help_text="nvidia.com/gpu capacity.")
    gpu_allocatable = serializers.IntegerField(
        required=False, help_text="nvidia.com/gpu the scheduler may hand out."
    )
    gpu_requested = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="nvidia.com/gpu held by the node's running pods; null when the panel may not "
        "list pods cluster-wide (optional role, docker/rbac/).",
    )
    gpu_node = serializers.BooleanField(
        required=False, help_text="Labelled as having NVIDIA GPUs or of an N-series size."
    )
    instance_type = serializers.CharField(required=False, allow_blank=True)
    allocatable_cpu = serializers.FloatField()
    allocatable_memory = serializers.IntegerField()
    roles = serializers.ListField(child=serializers.CharField())
    kubelet_version = serializers.CharField(allow_blank=True)
    os_image = serializers.CharField(allow_blank=True)
    taints = serializers.ListField(child=serializers.CharField())
    unschedulable = serializers.BooleanField()


class CapacitySerializer(serializers.Serializer):
    cpu = serializers.FloatField()
    memory = serializers.IntegerField()
    gpu = serializers.IntegerField()
    nodes = serializers.IntegerField()
    ready = serializers.IntegerField()


class PodSecurityExemptionSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=63, help_text="A DNS-1123 label naming it.")
    path = serializers.CharField(
        max_length=300,
        help_text="Host folder: hostPath volumes at or under it are allowed when every mount "
        "of them is read-only.",
    )
    reason = serializers.CharField(max_length=300, help_text="Why it is needed.")


class ClusterSerializer(serializers.ModelSerializer):
    nodes = NodeSerializer(many=True, read_only=True)
    pod_security_level = serializers.ChoiceField(
        choices=PodSecurityLevel.choices,
        read_only=True,
        help_text="The Pod Security Standards level every pod the panel creates here must meet.",
    )
    pod_security_exemptions = PodSecurityExemptionSerializer(
        many=True, read_only=True, help_text="Named read-only hostPath exemptions."
    )
    namespaces = serializers.ListField(child=serializers.CharField(), read_only=True)
    capacity = serializers.SerializerMethodField()
    kubeconfig = serializers.CharField(
        write_only=True,
        required=False,
        trim_whitespace=False,
        max_length=KUBECONFIG_MAX_CHARS,
        help_text="For kind=kubernetes: the kubeconfig text (certificates embedded). Write-only.",
    )
    context = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        help_text="The kubeconfig context to use (default: its current-context).",
    )
    server = serializers.SerializerMethodField(help_text="The API server (empty when local).")
    name = serializers.CharField(max_length=63, validators=[_django_validator(validate_dns_label)])
    namespace = serializers.CharField(
        max_length=63,
        required=False,
        default="default",
        validators=[_django_validator(validate_dns_label)],
    )

    class Meta:
        model = Cluster
        fields = [
            "id",
            "name",
            "kind",
            "description",
            "namespace",
            "status",
            "version",
            "last_error",
            "checked_at",
            "server",
            "nodes",
            "namespaces",
            "capacity",
            "pod_security_level",
            "pod_security_exemptions",
            "kubeconfig",
            "context",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "status",
            "version",
            "last_error",
            "checked_at",
            "created_at",
            "updated_at",
        ]

    # A method, not `source="credential.server"`: a PATCH answer would drop the field when
    # there is no credential, and generated clients expect every field.
    def get_server(self, obj: Cluster) -> str:
        return obj.credential.server if obj.credential_id else ""

    @extend_schema_field(CapacitySerializer)
    def get_capacity(self, obj: Cluster) -> dict:
        return obj.capacity()

    def validate_name(self, value: str) -> str:
        qs = Cluster.objects.filter(name=value)
        if self.instance is not None:
            qs = qs.exclude(pk=self.instance.pk)
        if qs.exists():
            raise serializers.ValidationError("A cluster with this name already exists.")
        return value

    def validate(self, attrs):
        if self.instance is None:
            kind = attrs.get("kind")
            if kind != ClusterKind.KUBERNETES:
                raise serializers.ValidationError(
                    {
                        "kind": "Only kind=kubernetes clusters are imported here; the local cluster "
                        "exists already and AKS clusters are created through /api/aks/."
                    }
                )
            if not attrs.get("kubeconfig"):
                raise serializers.ValidationError({"kubeconfig": "This field is required."})
        elif "kind" in attrs and attrs["kind"] != self.instance.kind:
            raise serializers.ValidationError({"kind": "The kind of a cluster cannot change."})
        return attrs


class ClusterUpdateSerializer(ClusterSerializer):
    pod_security_level = serializers.ChoiceField(
        choices=PodSecurityLevel.choices,
        required=False,
        help_text="Admins only (403 otherwise); audited. Not for the local cluster.",
    )
    pod_security_exemptions = PodSecurityExemptionSerializer(
        many=True,
        required=False,
        help_text="Admins only; replaces the list. Named read-only hostPath exemptions.",
    )

    class Meta(ClusterSerializer.Meta):
        read_only_fields = [*ClusterSerializer.Meta.read_only_fields, "kind"]


class DevicePluginSerializer(serializers.Serializer):
    result = serializers.ChoiceField(choices=["created", "updated", "unchanged"])
    version = serializers.CharField(help_text="The device plugin's version, e.g. v0.20.0.")


class AkriConfigurationSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    name = serializers.CharField()
    discovery_handler = serializers.CharField()
    capacity = serializers.IntegerField(allow_null=True)
    broker_image = serializers.CharField()
    is_camera = serializers.BooleanField(help_text="Its instances become cameras.")


class AkriInstanceSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    name = serializers.CharField()
    configuration = serializers.CharField()
    nodes = serializers.ListField(child=serializers.CharField())
    shared = serializers.BooleanField()
    broker_properties = serializers.DictField(child=serializers.CharField())
    device = serializers.CharField(help_text="The device node or camera URL, from the properties.")
    service = serializers.CharField(help_text="The instance's Service (`<instance>-svc`).")


class AkriInventorySerializer(serializers.Serializer):
    installed = serializers.BooleanField(help_text="False: Akri is not installed (no CRDs).")
    error = serializers.CharField(help_text="Why the cluster's Akri objects could not be read.")
    scope = serializers.CharField(help_text='"cluster", or the one namespace that was read.')
    configurations = AkriConfigurationSerializer(many=True)
    instances = AkriInstanceSerializer(many=True)
