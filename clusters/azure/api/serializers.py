"""Serializers for AKS provisioning, Azure operations, file shares and registries."""

from __future__ import annotations

import re

from rest_framework import serializers

from clusters.azure.models import (
    AksCluster,
    AzureOperation,
    ContainerRegistry,
    FileShare,
    PullSecret,
)
from clusters.models import Cluster, Credential
from clusters.validators import validate_storage_account_name

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
POOL_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
TAINT_RE = re.compile(r"^[A-Za-z0-9./-]+=[A-Za-z0-9._-]*:(NoSchedule|PreferNoSchedule|NoExecute)$")


def azure_credentials():
    return Credential.objects.filter(kind="azure")


class AzureOperationSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    cluster_name = serializers.CharField(
        source="cluster.name", read_only=True, allow_null=True, default=None
    )
    # A plain string in the schema: an enum named "status" would collide with the clusters' one.
    status = serializers.CharField(read_only=True, help_text="queued, running, succeeded or failed")  # fmt: skip
    kind = serializers.CharField(read_only=True, help_text="create, scale_pool, add_pool, remove_pool, upgrade, delete, register_providers, create_share, create_registry")  # fmt: skip

    class Meta:
        model = AzureOperation
        fields = [
            "id", "kind", "kind_display", "cluster", "cluster_name", "target", "params",
            "status", "progress", "step", "error_code", "error_message", "remedy", "attempts",
            "started_at", "finished_at", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class PoolSerializer(serializers.Serializer):
    name = serializers.RegexField(POOL_RE, help_text="1-12 lowercase letters/digits, a letter first.")  # fmt: skip
    vm_size = serializers.RegexField(r"^Standard_[A-Za-z0-9_]+$", help_text="e.g. Standard_D4s_v5, Standard_NC4as_T4_v3.")  # fmt: skip
    count = serializers.IntegerField(min_value=0, max_value=1000)
    autoscale = serializers.BooleanField(default=False)
    min_count = serializers.IntegerField(min_value=0, max_value=1000, required=False)
    max_count = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    taints = serializers.ListField(child=serializers.RegexField(TAINT_RE), required=False, default=list)  # fmt: skip

    def validate(self, attrs):
        if attrs.get("autoscale"):
            if "min_count" not in attrs or "max_count" not in attrs:
                raise serializers.ValidationError("Autoscale needs min_count and max_count.")
            if not attrs["min_count"] <= attrs["count"] <= attrs["max_count"]:
                raise serializers.ValidationError("count must lie between min_count and max_count.")  # fmt: skip
        return attrs


class AksProvisionSerializer(serializers.Serializer):
    credential = serializers.PrimaryKeyRelatedField(queryset=azure_credentials())
    name = serializers.RegexField(NAME_RE, max_length=63)
    resource_group = serializers.RegexField(r"^[-\w._()]{1,90}$")
    location = serializers.RegexField(r"^[a-z0-9]{2,50}$", help_text="e.g. eastus, westeurope.")
    kubernetes_version = serializers.RegexField(r"^\d+\.\d+(\.\d+)?$", required=False, allow_blank=True)  # fmt: skip
    system_pool = PoolSerializer()
    user_pools = PoolSerializer(many=True, required=False, default=list)
    tags = serializers.DictField(child=serializers.CharField(max_length=256), required=False, default=dict)  # fmt: skip
    namespace = serializers.RegexField(NAME_RE, required=False, default="default")


class AksClusterSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="cluster.name", read_only=True)
    status = serializers.CharField(source="cluster.status", read_only=True)
    last_error = serializers.CharField(source="cluster.last_error", read_only=True)

    class Meta:
        model = AksCluster
        fields = [
            "cluster", "name", "status", "last_error", "resource_group", "location",
            "azure_name", "kubernetes_version", "node_pools", "tags", "arm_id", "fqdn",
            "provisioning_state",
        ]  # fmt: skip
        read_only_fields = fields


class PreflightSerializer(serializers.Serializer):
    credential = serializers.PrimaryKeyRelatedField(queryset=azure_credentials())
    resource_group = serializers.RegexField(r"^[-\w._()]{1,90}$")


class CheckSerializer(serializers.Serializer):
    name = serializers.CharField()
    ok = serializers.BooleanField()
    detail = serializers.CharField()
    fix = serializers.CharField()
    action = serializers.CharField()


class RegisterProvidersSerializer(serializers.Serializer):
    credential = serializers.PrimaryKeyRelatedField(queryset=azure_credentials())
    namespaces = serializers.ListField(child=serializers.RegexField(r"^[A-Za-z]+\.[A-Za-z.]+$"), min_length=1)  # fmt: skip


class ScaleSerializer(serializers.Serializer):
    pool = serializers.CharField()
    count = serializers.IntegerField(min_value=0, max_value=1000)
    autoscale = serializers.BooleanField(required=False)
    min_count = serializers.IntegerField(min_value=0, required=False)
    max_count = serializers.IntegerField(min_value=1, required=False)


class PoolNameSerializer(serializers.Serializer):
    pool = serializers.CharField()


class UpgradeSerializer(serializers.Serializer):
    kubernetes_version = serializers.RegexField(r"^\d+\.\d+\.\d+$")


class DeleteSerializer(serializers.Serializer):
    confirm_name = serializers.CharField(help_text="Type the cluster's name to confirm.")


class VersionSerializer(serializers.Serializer):
    version = serializers.CharField()
    default = serializers.BooleanField()
    preview = serializers.BooleanField()


# File shares
PATH_RE = r"^[^\\:*?\"<>|]{1,1024}$"


class FileShareSerializer(serializers.ModelSerializer):
    credential = serializers.PrimaryKeyRelatedField(queryset=azure_credentials())
    cluster = serializers.PrimaryKeyRelatedField(queryset=Cluster.objects.all())
    account_name = serializers.CharField(max_length=64, validators=[validate_storage_account_name])
    share_name = serializers.RegexField(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
    resource_group = serializers.RegexField(r"^[-\w._()]{1,90}$")
    location = serializers.RegexField(r"^[a-z0-9]{2,50}$")
    quota_gb = serializers.IntegerField(min_value=1, max_value=102400, default=100)
    namespace = serializers.CharField(required=False, allow_blank=True, default="")

    class Meta:
        model = FileShare
        fields = [
            "id", "cluster", "credential", "resource_group", "location", "account_name",
            "share_name", "quota_gb", "namespace", "volume", "file_endpoint", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "volume", "file_endpoint", "created_at"]


class UploadSerializer(serializers.Serializer):
    path = serializers.RegexField(PATH_RE, help_text="Destination path in the share, e.g. input/video.mp4")  # fmt: skip
    file = serializers.FileField()


class EntrySerializer(serializers.Serializer):
    name = serializers.CharField()
    is_directory = serializers.BooleanField()
    size = serializers.IntegerField(allow_null=True)


# Container registries
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
