"""REST endpoints for cameras: a declarative viewset calling services; every read goes through
the camera's viewers (a camera a user may not watch is a 404, as if it did not exist)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from cameras import selectors, services
from cameras.api.serializers import CameraSerializer
from cameras.filtersets import CameraFilterSet
from cameras.tasks import akri_cameras_sync_all_task
from clusters.api.views import AcceptedSerializer
from core.services import Actor

VIEWER_FIELDS = ("restricted", "viewer_users", "viewer_groups")


class StreamUnavailable(APIException):
    status_code = 503
    default_detail = "The camera's stream is not running."
    default_code = "stream_unavailable"


def _drf_error(exc: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(
        exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
    )


@extend_schema_view(
    list=extend_schema(summary="List the cameras you may watch"),
    retrieve=extend_schema(summary="A camera: source, viewers, Akri discovery"),
    create=extend_schema(
        summary="Add a camera (an http(s) MJPEG URL or a camera-stream run)",
        description="`restricted`, `viewer_users` and `viewer_groups` are for admins (403).",
    ),
    partial_update=extend_schema(
        summary="Change a camera; admins also choose its viewers",
        description="Changing the viewers is audited and closes the live sockets of viewers "
        "who lost access at once. On an Akri camera only name, processing and keep_running "
        "can change.",
    ),
    destroy=extend_schema(summary="Delete a camera"),
    akri_refresh=extend_schema(
        summary="Find Akri cameras now on every Kubernetes cluster",
        description="New instances of camera configurations become cameras; gone ones are "
        "marked gone. Runs on a worker (beat also does it every AKRI_SYNC_INTERVAL seconds).",
        request=None,
        responses={202: OpenApiResponse(AcceptedSerializer)},
    ),
    snapshot=extend_schema(
        summary="The camera's current frame as a JPEG",
        responses={
            (200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY),
            503: OpenApiResponse(description="The camera's stream is not running."),
        },
    ),
)
class CameraViewSet(viewsets.ModelViewSet):
    serializer_class = CameraSerializer
    filterset_class = CameraFilterSet
    search_fields = ["name", "akri_instance", "akri_device"]
    ordering_fields = ["name", "created_at"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.camera_visible_to(
            self.request.user,
            selectors.camera_list_with_viewers(),
        )

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        try:
            serializer.instance = services.camera_create(
                actor=Actor.from_request(self.request), name=data["name"],
                source_url=data.get("source_url", ""), run=data.get("run"),
                processing=data.get("processing", "none"),
                keep_running=data.get("keep_running", False),
                restricted=data.get("restricted"), viewer_users=data.get("viewer_users"),
                viewer_groups=data.get("viewer_groups"),
            )  # fmt: skip
        except DjangoValidationError as exc:
            raise _drf_error(exc) from exc

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        viewers = {key: data.pop(key) for key in VIEWER_FIELDS if key in data}
        camera = serializer.instance
        actor = Actor.from_request(self.request)
        try:
            with transaction.atomic():
                if viewers:  # first: a non-admin's 403 leaves the other fields unchanged
                    services.camera_set_viewers(
                        actor=actor, camera=camera,
                        restricted=viewers.get("restricted", camera.restricted),
                        users=viewers.get("viewer_users", camera.viewer_users.all()),
                        groups=viewers.get("viewer_groups", camera.viewer_groups.all()),
                    )  # fmt: skip
                if data:
                    serializer.instance = services.camera_update(actor=actor, camera=camera, **data)
        except DjangoValidationError as exc:
            raise _drf_error(exc) from exc

    def perform_destroy(self, instance):
        services.camera_delete(actor=Actor.from_request(self.request), camera=instance)

    @action(detail=False, methods=["post"], url_path="akri-refresh")
    def akri_refresh(self, request):
        akri_cameras_sync_all_task.delay()
        return Response({"detail": "Akri discovery queued."}, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["get"])
    def snapshot(self, request, pk=None):
        camera = self.get_object()
        try:
            jpeg = services.camera_snapshot(actor=Actor.from_request(request), camera=camera)
        except services.SnapshotUnavailable as exc:
            raise StreamUnavailable(str(exc)) from exc
        response = HttpResponse(jpeg, content_type="image/jpeg")
        response["Content-Disposition"] = f'inline; filename="camera-{camera.pk}.jpg"'
        response["Cache-Control"] = "no-store"
        return response
