"""API shapes of the explorer. Secret values are never in them: a Secret shows its key names."""

from __future__ import annotations

from rest_framework import serializers

COMMON = ("name", "namespace", "created", "age", "labels", "run_id")


class ObjectRowSerializer(serializers.Serializer):
    name = serializers.CharField()
    namespace = serializers.CharField(allow_blank=True)
    created = serializers.CharField(allow_blank=True, help_text="creationTimestamp (RFC 3339).")
    age = serializers.CharField(
        allow_blank=True, help_text="As kubectl shows it: 45s, 12m, 3h, 5d."
    )
    labels = serializers.DictField(child=serializers.CharField())
    run_id = serializers.IntegerField(
        allow_null=True, help_text="The panel's run that created the object (its labels), or null."
    )
    details = serializers.DictField(
        help_text="What the kind's table shows: pods phase, ready, restarts, node, reason; "
        "Secrets only `type` and `keys` (names, never values); events type, reason, message..."
    )

    def to_representation(self, row):
        return {
            **{key: row.get(key) for key in COMMON},
            "details": {key: value for key, value in row.items() if key not in COMMON},
        }


class ListingSerializer(serializers.Serializer):
    kind = serializers.CharField(source="kind.slug")
    namespace = serializers.CharField(allow_blank=True, help_text="'' means all namespaces.")
    labels = serializers.CharField(allow_blank=True)
    items = ObjectRowSerializer(source="rows", many=True)
    next = serializers.CharField(
        allow_blank=True, help_text="Pass as `continue` for the next page; '' on the last page."
    )
    remaining = serializers.IntegerField(allow_null=True)
    forbidden = serializers.CharField(
        allow_blank=True,
        help_text="Set when the panel's identity may not list these: why there are no items.",
    )
    not_served = serializers.CharField(
        allow_blank=True, help_text="Set when this server version does not serve the kind."
    )


class ConditionSerializer(serializers.Serializer):
    type = serializers.CharField()
    status = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    message = serializers.CharField(allow_blank=True)
    last_transition = serializers.CharField(allow_blank=True)


class DetailSerializer(serializers.Serializer):
    kind = serializers.CharField(source="kind.kind")
    namespace = serializers.CharField(allow_blank=True)
    name = serializers.CharField()
    summary = ObjectRowSerializer(source="row")
    conditions = ConditionSerializer(many=True)
    events = ListingSerializer(allow_null=True)
    pods = ListingSerializer(allow_null=True)
    yaml = serializers.CharField(help_text="Read-only; Secret values and credentials redacted.")
    object = serializers.DictField(source="obj", help_text="The same, as JSON.")


class ReplicasSerializer(serializers.Serializer):
    replicas = serializers.IntegerField(min_value=0, max_value=100)


class ActionResultSerializer(serializers.Serializer):
    detail = serializers.CharField()


class NodeUsageSerializer(serializers.Serializer):
    cpu = serializers.FloatField(help_text="Cores.")
    memory = serializers.FloatField(help_text="Bytes.")
    gpu = serializers.FloatField(required=False)


class NodeConditionSerializer(serializers.Serializer):
    type = serializers.CharField()
    status = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    ok = serializers.BooleanField()


class NodeRowSerializer(serializers.Serializer):
    name = serializers.CharField()
    conditions = NodeConditionSerializer(many=True)
    taints = serializers.ListField(child=serializers.CharField())
    unschedulable = serializers.BooleanField()
    allocatable = NodeUsageSerializer()
    requested = NodeUsageSerializer(allow_null=True, help_text="null: the pods cannot be listed.")
    usage = NodeUsageSerializer(allow_null=True, help_text="From metrics-server; null without it.")


class NodeReportSerializer(serializers.Serializer):
    nodes = NodeRowSerializer(many=True)
    requested_note = serializers.CharField(allow_blank=True)
    metrics_note = serializers.CharField(
        allow_blank=True, help_text='e.g. "metrics-server is not installed: no live usage."'
    )


class HealthCheckSerializer(serializers.Serializer):
    checked_at = serializers.DateTimeField()
    status = serializers.CharField()
    nodes = serializers.IntegerField()
    ready_nodes = serializers.IntegerField()
    latency_ms = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
