"""REST endpoints for templates and runs: declarative viewsets calling services."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from clusters.selectors import cluster_get_by_ref
from core.services import Actor
from workloads import selectors, services
from workloads.api.serializers import (
    LogPageSerializer,
    PreviewItemSerializer,
    RunCreateSerializer,
    RunDetailSerializer,
    RunEventSerializer,
    RunManifestsSerializer,
    RunMetricsSerializer,
    RunSerializer,
    TemplateSerializer,
)
from workloads.choices import FINAL_STATES
from workloads.filtersets import RunFilterSet, TemplateFilterSet
from workloads.metrics import run_metrics
from workloads.models import RunEvent


def _drf_error(exc: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(
        exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
    )


@extend_schema_view(
    list=extend_schema(summary="List workload templates (presets first)"),
    create=extend_schema(summary="Save a template with parameter defaults"),
)
class TemplateViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    mixins.DestroyModelMixin, viewsets.GenericViewSet,
):  # fmt: skip
    queryset = selectors.template_list()
    serializer_class = TemplateSerializer
    filterset_class = TemplateFilterSet
    search_fields = ["slug", "name", "description"]
    lookup_field = "slug"
    lookup_value_regex = r"[-\w]{1,63}"

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = services.template_create(
                actor=Actor.from_request(self.request), slug=data["slug"], name=data["name"],
                kind=data["kind"], params=data.get("params") or {}, description=data.get("description", ""),
            )  # fmt: skip
        except DjangoValidationError as exc:
            raise _drf_error(exc) from exc

    def perform_destroy(self, instance):
        try:
            services.template_delete(actor=Actor.from_request(self.request), template=instance)
        except DjangoValidationError as exc:
            raise _drf_error(exc) from exc


def _template_and_cluster(data: dict):
    template = selectors.template_get_by_ref(data["template"])
    if template is None:
        raise serializers.ValidationError({"template": f"No template {data['template']!r}."})
    cluster = cluster_get_by_ref(data["cluster"])
    if cluster is None:
        raise serializers.ValidationError({"cluster": f"No cluster {data['cluster']!r}."})
    return template, cluster


RUN_EXAMPLES = [
    OpenApiExample(
        "Lane detection (the bundled sample, nothing to set)",
        value={"template": "lane-detection", "cluster": "local", "params": {}},
        request_only=True,
    ),
    OpenApiExample(
        "Lane detection of videos on a volume, 4 pods",
        value={"template": "lane-detection", "cluster": "edge", "params": {
            "volume": "videos", "inputs": ["input/dashcam.mp4"], "output": "output/lanes",
            "parallelism": 4}},
        request_only=True,
    ),
    OpenApiExample(
        "Face identification of photos against known faces",
        value={"template": "face-identification", "cluster": "local", "params": {
            "volume": "photos", "known": "known", "images": ["door/0001.jpg"]}},
        request_only=True,
    ),
    OpenApiExample(
        "Camera stream from an RTSP camera, lanes drawn",
        value={"template": "camera-stream", "cluster": "local", "params": {
            "source": "rtsp://192.0.2.10:554/stream1", "processing": "lanes", "fps": 10,
            "width": 640}},
        request_only=True,
    ),
    OpenApiExample(
        "Face-recognition back-end, two replicas",
        value={"template": "face-recognition-service", "cluster": "local",
               "params": {"replicas": 2}},
        request_only=True,
    ),
    OpenApiExample(
        "GPU job",
        value={"template": "gpu-job", "cluster": "edge", "params": {
            "image": "nvcr.io/nvidia/cuda:12.2.0-base-ubuntu22.04", "command": ["nvidia-smi"],
            "gpus": 1}},
        request_only=True,
    ),
    OpenApiExample(
        "Raw manifest",
        value={"template": "raw-manifest", "cluster": "edge", "params": {
            "manifest": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: hello\nspec:\n"
            "  template:\n    spec:\n      restartPolicy: Never\n      containers:\n"
            "      - name: hello\n        image: busybox\n        command: [echo, hello]\n"}},
        request_only=True,
    ),
]  # fmt: skip


@extend_schema_view(
    list=extend_schema(summary="List runs (filter by state, template, cluster)"),
    retrieve=extend_schema(summary="A run: state, progress, pods, outputs, face results"),
    create=extend_schema(
        summary="Start a run from a template",
        request=RunCreateSerializer,
        responses={201: RunDetailSerializer},
        description="Parameters are validated first; nothing is created anywhere on a 400. "
        "Each template takes its own `params` (see the examples; `GET /api/templates/` lists "
        "every template's parameters with their defaults); an unknown one is refused with the "
        "nearest known name.",
        examples=RUN_EXAMPLES,
    ),
    destroy=extend_schema(summary="Delete a finished run and its stored logs"),
)
class RunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    mixins.DestroyModelMixin, viewsets.GenericViewSet,
):  # fmt: skip
    queryset = selectors.run_list()
    filterset_class = RunFilterSet
    search_fields = ["template__slug", "cluster__name", "error"]
    ordering_fields = ["created_at", "state", "progress"]

    def get_serializer_class(self):
        if self.action == "retrieve":
            return RunDetailSerializer
        if self.action == "create":
            return RunCreateSerializer
        return RunSerializer

    def filter_queryset(self, queryset):
        # The list's filters and `?search=` choose runs; on one run they must not hide it (the
        # logs action has a `search` of its own, for lines).
        if self.detail:
            return queryset
        return super().filter_queryset(queryset)

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("pods", "outputs", "face_results")
        elif self.action == "list":
            queryset = selectors.run_list_rows()
        return queryset

    def create(self, request, *args, **kwargs):
        serializer = RunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        template, cluster = _template_and_cluster(data)
        try:
            run = services.run_create(
                actor=Actor.from_request(request),
                template=template,
                cluster=cluster,
                params=data["params"],
            )
        except DjangoValidationError as exc:
            raise _drf_error(exc) from exc
        return Response(RunDetailSerializer(run).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        try:
            services.run_delete(actor=Actor.from_request(self.request), run=instance)
        except DjangoValidationError as exc:
            raise _drf_error(exc) from exc

    @extend_schema(
        summary="Preview a run: its manifests and a server-side dry-run (nothing is created)",
        description="The same checks as creating the run, then each rendered object is sent to "
        "the API server with `dryRun=All`: `accepted` false carries the admission error.",
        request=RunCreateSerializer,
        responses=PreviewItemSerializer(many=True),
    )
    @action(detail=False, methods=["post"])
    def preview(self, request):
        serializer = RunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        template, cluster = _template_and_cluster(serializer.validated_data)
        try:
            results = services.run_preview(
                template=template, cluster=cluster, params=serializer.validated_data["params"]
            )
        except DjangoValidationError as exc:
            raise _drf_error(exc) from exc
        return Response(PreviewItemSerializer(results, many=True).data)

    @extend_schema(
        summary="What the panel sent to start the run (View YAML; credentials redacted)",
        responses=RunManifestsSerializer,
    )
    @action(detail=True, methods=["get"])
    def manifests(self, request, pk=None):
        run = self.get_object()
        return Response({"yaml": selectors.run_manifests_yaml(run)})

    @extend_schema(summary="Cancel a run", request=None, responses={202: RunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = self.get_object()
        if not services.run_cancel_request(actor=Actor.from_request(request), run=run):
            raise serializers.ValidationError({"state": f"The run has already {run.state}."})
        run.refresh_from_db()
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Run again with the same parameters",
        request=None,
        responses={201: RunDetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def rerun(self, request, pk=None):
        try:
            run = services.run_rerun(actor=Actor.from_request(request), run=self.get_object())
        except DjangoValidationError as exc:
            raise _drf_error(exc) from exc
        return Response(RunDetailSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Stored log lines after a cursor",
        parameters=[
            OpenApiParameter(
                "since",
                OpenApiTypes.INT,
                description="Cursor of the last line you have (0: from the start).",
            ),
            OpenApiParameter(
                "limit", OpenApiTypes.INT, description="At most this many lines (max 5000)."
            ),
            OpenApiParameter(
                "search", OpenApiTypes.STR, description="Only lines containing this text."
            ),
            OpenApiParameter("pod", OpenApiTypes.STR, description="Only lines of this pod."),
        ],
        responses={200: LogPageSerializer},
    )
    @action(detail=True, methods=["get"])
    def logs(self, request, pk=None):
        run = self.get_object()
        try:
            since = max(0, int(request.query_params.get("since", 0)))
            limit = min(5000, max(1, int(request.query_params.get("limit", 1000))))
        except ValueError:
            raise serializers.ValidationError(
                {"since": "Cursors and limits are integers."}
            ) from None
        lines = selectors.run_log_page(
            run=run, since=since, limit=limit, search=request.query_params.get("search", ""),
            pod=request.query_params.get("pod", ""),
        )  # fmt: skip
        next_cursor = lines[-1].cursor if lines else since
        complete = run.state in FINAL_STATES and len(lines) < limit
        return Response(
            LogPageSerializer(
                {"lines": lines, "next_cursor": next_cursor, "complete": complete}
            ).data
        )

    @extend_schema(
        summary="Numbers the run printed, as series",
        description="Progress (%) and throughput (frames or images per second) against seconds, "
        "from the pipeline's progress events; and every metric the template declares "
        "(`metrics`), read from log lines shaped `<name> ... <value>`, against step "
        '("Accuracy at step 10: 0.674" is the point [10, 0.674] of `Accuracy`).',
        responses={200: RunMetricsSerializer},
    )
    @action(detail=True, methods=["get"])
    def metrics(self, request, pk=None):
        run = self.get_object()
        series = [item.as_dict() for item in run_metrics(run)]
        return Response(RunMetricsSerializer({"series": series}).data)

    @extend_schema(summary="The run's pipeline events", responses={200: RunEventSerializer(many=True)},
                   parameters=[OpenApiParameter("kind", OpenApiTypes.STR)])  # fmt: skip
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        run = self.get_object()
        events = RunEvent.objects.filter(run=run)
        if request.query_params.get("kind"):
            events = events.filter(kind=request.query_params["kind"])
        page = self.paginate_queryset(events.order_by("id"))
        return self.get_paginated_response(RunEventSerializer(page, many=True).data)
