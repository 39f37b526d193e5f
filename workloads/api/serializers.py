"""API shapes of templates and runs. Validation of parameters lives in services/params."""

from __future__ import annotations

from pathlib import Path

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from workloads import selectors
from workloads.models import (
    FaceResult,
    Run,
    RunEvent,
    RunLogLine,
    RunOutput,
    RunPod,
    WorkloadTemplate,
)
from workloads.params import DEFAULTS


class TemplateSerializer(serializers.ModelSerializer):
    params = serializers.DictField(required=False, default=dict, help_text="Parameter defaults.")
    parameters = serializers.SerializerMethodField(help_text="Every parameter with its default.")

    class Meta:
        model = WorkloadTemplate
        fields = [
            "id",
            "slug",
            "name",
            "kind",
            "description",
            "params",
            "parameters",
            "is_preset",
            "created_at",
        ]
        read_only_fields = ["is_preset", "created_at"]

    def get_parameters(self, obj) -> dict:
        return {**DEFAULTS[obj.kind], **obj.params}


class RunPodSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunPod
        fields = [
            "name",
            "phase",
            "exit_code",
            "reason",
            "message",
            "restarts",
            "started_at",
            "finished_at",
            "progress",
        ]


class RunOutputSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    size = serializers.SerializerMethodField()

    class Meta:
        model = RunOutput
        fields = ["id", "kind", "path", "source", "pod", "url", "size"]

    def get_url(self, obj) -> str:
        if obj.local_path:
            return f"/runs/{obj.run_id}/outputs/{obj.pk}/"
        return obj.url

    def get_size(self, obj) -> int | None:
        if obj.local_path and Path(obj.local_path).is_file():
            return Path(obj.local_path).stat().st_size
        return obj.size


class FaceResultSerializer(serializers.ModelSerializer):
    # A plain string in the schema: an enum named "status" would collide with the clusters'.
    status = serializers.CharField(
        read_only=True, help_text="identified, unknown, no_face or error"
    )

    class Meta:
        model = FaceResult
        fields = ["image", "person", "status", "distance", "box", "pod"]


class RunSerializer(serializers.ModelSerializer):
    template = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="None: the panel itself."
    )

    class Meta:
        model = Run
        fields = [
            "id", "template", "cluster", "params", "state", "progress", "error", "created_by",
            "created_at", "submitted_at", "started_at", "finished_at", "rerun_of",
        ]  # fmt: skip


class RunDetailSerializer(RunSerializer):
    pods = RunPodSerializer(many=True, read_only=True)
    outputs = RunOutputSerializer(many=True, read_only=True)
    results = FaceResultSerializer(many=True, read_only=True, source="face_results")
    endpoints = serializers.SerializerMethodField(
        help_text="While the run is active, its servers (camera streams, the face back-end): "
        "pod name -> http://127.0.0.1:<port> on the local cluster; Service name -> its path "
        "through the API server's service proxy on Kubernetes."
    )

    warnings = serializers.SerializerMethodField(
        help_text='What to know before it starts, e.g. "no volume: outputs will be lost when '
        'the pod ends" for a Kubernetes lane run without a volume.'
    )

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "pods", "outputs", "results", "endpoints", "warnings"]

    def get_warnings(self, obj) -> list[str]:
        return selectors.run_warnings(
            kind=obj.template.kind, params=obj.params, cluster=obj.cluster
        )

    def get_endpoints(self, obj) -> dict[str, str]:
        return dict(obj.handle.get("endpoints") or {}) if obj.is_active else {}


@extend_schema_field({"type": "object", "additionalProperties": True})
class ParamsField(serializers.JSONField):
    """Any JSON (a non-object is refused by the parameter check, naming `params`), documented
    as the object it must be, not as a string."""


class RunCreateSerializer(serializers.Serializer):
    template = serializers.CharField(help_text="Template slug or id.")
    cluster = serializers.CharField(help_text="Cluster id or name (`local` for this machine).")
    params = ParamsField(
        required=False, default=dict,
        help_text="The template's parameters by name; omitted ones take the template's defaults.",
    )  # fmt: skip


class LogLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunLogLine
        fields = ["cursor", "pod", "text", "time"]


class LogPageSerializer(serializers.Serializer):
    lines = LogLineSerializer(many=True)
    next_cursor = serializers.IntegerField(help_text="Ask `?since=` this next.")
    complete = serializers.BooleanField(help_text="The run has finished and every line is here.")


class RunEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunEvent
        fields = ["id", "kind", "data", "pod", "time", "log_cursor"]


class PreviewItemSerializer(serializers.Serializer):
    kind = serializers.CharField()
    name = serializers.CharField()
    accepted = serializers.BooleanField(help_text="The API server admitted it (dry run).")
    message = serializers.CharField(help_text="The admission error when refused.")
    yaml = serializers.CharField(help_text="The rendered object (credentials redacted).")


class RunManifestsSerializer(serializers.Serializer):
    yaml = serializers.CharField(help_text="Every object sent, as YAML documents; '' if none.")


class MetricSeriesSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="progress, throughput, or a name the template declares.")
    x = serializers.CharField(help_text="What the first number of each point is: seconds or step.")
    y = serializers.CharField(help_text="Unit of the second number (%, per second, the name).")
    points = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        help_text="[x, y] pairs in order.",
    )


class RunMetricsSerializer(serializers.Serializer):
    series = MetricSeriesSerializer(many=True)
