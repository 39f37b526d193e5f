"""REST endpoints of the face service: people and their known faces, the receiver, results."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from core.api.parsers import JSONParser
from core.choices import Role
from core.services import Actor
from faces import selectors, services
from faces.api.serializers import (
    FaceImageCreateSerializer,
    FaceImageSerializer,
    GalleryExportedSerializer,
    GalleryExportSerializer,
    KnownFaceCreateSerializer,
    KnownFaceSerializer,
    NameFaceSerializer,
    PersonDetailSerializer,
    PersonSerializer,
    PersonWriteSerializer,
    RetrySerializer,
    ServiceStatusSerializer,
    SubmittedSerializer,
)
from faces.filtersets import FaceImageFilterSet
from faces.models import Face, KnownFace
from faces.views import image_file_response

THUMBNAIL = {
    (200, "image/jpeg"): OpenApiTypes.BINARY,
    404: OpenApiResponse(description="None stored."),
}


class BackendUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The face-recognition back-end is unavailable."
    default_code = "backend_unavailable"


def _drf_error(exc: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(
        exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
    )


PARSERS = [JSONParser, MultiPartParser, FormParser]


@extend_schema_view(
    list=extend_schema(summary="List people (search by name with ?search=)"),
    retrieve=extend_schema(summary="A person with their known images"),
    create=extend_schema(summary="Add a person", request=PersonWriteSerializer,
                         responses={201: PersonDetailSerializer}),
    partial_update=extend_schema(summary="Rename a person", request=PersonWriteSerializer,
                                 responses={200: PersonDetailSerializer}),
    destroy=extend_schema(summary="Delete a person with their known images and encodings"),
)  # fmt: skip
class PersonViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    mixins.DestroyModelMixin, viewsets.GenericViewSet,
):  # fmt: skip
    """Viewers see the gallery; admins manage it."""

    queryset = selectors.person_list()
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    write_role = Role.ADMIN
    parser_classes = PARSERS
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_serializer_class(self):
        if self.action in ("list",):
            return PersonSerializer
        if self.action in ("create", "partial_update"):
            return PersonWriteSerializer
        if self.action == "images":
            return (
                KnownFaceCreateSerializer if self.request.method == "POST" else KnownFaceSerializer
            )
        return PersonDetailSerializer

    def filter_queryset(self, queryset):
        return queryset if self.detail else super().filter_queryset(queryset)

    def create(self, request, *args, **kwargs):
        serializer = PersonWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            person = services.person_create(
                actor=Actor.from_request(request), name=serializer.validated_data["name"]
            )
        except DjangoValidationError as exc:
            raise _drf_error(exc) from exc
        person = selectors.person_list().get(pk=person.pk)
        return Response(PersonDetailSerializer(person).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        person = self.get_object()
        serializer = PersonWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.person_rename(
                actor=Actor.from_request(request), person=person,
                name=serializer.validated_data["name"],
            )  # fmt: skip
        except DjangoValidationError as exc:
            raise _drf_error(exc) from exc
        return Response(PersonDetailSerializer(selectors.person_list().get(pk=person.pk)).data)

    def perform_destroy(self, instance):
        services.person_delete(actor=Actor.from_request(self.request), person=instance)

    @extend_schema(
        methods=["GET"], summary="A person's known images",
        responses={200: KnownFaceSerializer(many=True)},
    )  # fmt: skip
    @extend_schema(
        methods=["POST"],
        summary="Add a known image (multipart `image`, or `volume` and `path`)",
        description="The image must show exactly one face; its encoding is computed by the "
        "recognition back-end. 400 says what was found otherwise; 503 while no back-end answers.",
        request={"multipart/form-data": KnownFaceCreateSerializer,
                 "application/json": KnownFaceCreateSerializer},
        responses={201: KnownFaceSerializer,
                   503: OpenApiResponse(description="No back-end can take the call.")},
    )  # fmt: skip
    # Not paged (a person has a handful of known images): the schema must say a plain list.
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def images(self, request, pk=None):
        person = self.get_object()
        if request.method == "GET":
            return Response(KnownFaceSerializer(person.known_faces.order_by("pk"), many=True).data)
        serializer = KnownFaceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            known = services.known_face_add(
                actor=Actor.from_request(request), person=person, upload=data.get("image"),
                volume=data.get("volume", ""), path=data.get("path", ""),
            )  # fmt: skip
        except DjangoValidationError as exc:
            raise _drf_error(exc) from exc
        except services.ServiceUnavailable as exc:
            raise BackendUnavailable(str(exc)) from exc
        return Response(KnownFaceSerializer(known).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Write the gallery as a known-faces folder on a local volume",
        description="`<folder>/<person>/<n>.jpg`, what the face-identification batch template "
        "reads as `known` (with the same `volume`).",
        request=GalleryExportSerializer, responses={200: GalleryExportedSerializer},
    )  # fmt: skip
    @action(detail=False, methods=["post"])
    def export(self, request):
        serializer = GalleryExportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            result = services.gallery_export(
                actor=Actor.from_request(request), **serializer.validated_data
            )
        except DjangoValidationError as exc:
            raise _drf_error(exc) from exc
        return Response(GalleryExportedSerializer(result).data)

    @extend_schema(summary="A known image's thumbnail (JPEG)", responses=THUMBNAIL)
    @action(detail=True, methods=["get"], url_path=r"images/(?P<image_id>[0-9]{1,18})/thumbnail")
    def known_thumbnail(self, request, pk=None, image_id=None):
        known = get_object_or_404(KnownFace, pk=image_id, person=self.get_object())
        return image_file_response(known.thumbnail)

    @extend_schema(summary="Remove a known image", request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"images/(?P<image_id>[0-9]{1,18})")
    def remove_image(self, request, pk=None, image_id=None):
        person = self.get_object()
        known = get_object_or_404(KnownFace, pk=image_id, person=person)
        services.known_face_remove(actor=Actor.from_request(request), known=known)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="List images and the people found in them"),
    retrieve=extend_schema(summary="One image: status, faces (box, person, distance), error"),
    destroy=extend_schema(summary="Delete an image's row and any uploaded file"),
)
class FaceImageViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """The receiver and the results table: viewers read, operators submit and retry."""

    queryset = selectors.image_list()
    serializer_class = FaceImageSerializer
    filterset_class = FaceImageFilterSet
    search_fields = ["path"]
    ordering_fields = ["created_at", "finished_at", "status"]
    parser_classes = PARSERS
    action_roles = {"name_face": Role.ADMIN}

    def filter_queryset(self, queryset):
        return queryset if self.detail else super().filter_queryset(queryset)

    @extend_schema(
        summary="Hand images to the service",
        description="`{\"volume\", \"path\"}`, `{\"volume\", \"paths\": [...]}` (up to 1,000) or "
        "a multipart `image`. Answers 202 at once: the images wait as `pending` until a "
        "processor takes them. Nothing is stored for a rejected request.",
        request={"application/json": FaceImageCreateSerializer,
                 "multipart/form-data": FaceImageCreateSerializer},
        responses={202: SubmittedSerializer},
    )  # fmt: skip
    def create(self, request, *args, **kwargs):
        serializer = FaceImageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        paths = data.get("paths") or ([data["path"]] if "path" in data else None)
        try:
            images = services.images_submit(
                actor=Actor.from_request(request), volume=data.get("volume", ""), paths=paths,
                upload=data.get("image"),
            )  # fmt: skip
        except DjangoValidationError as exc:
            raise _drf_error(exc) from exc
        body = {"ids": [image.pk for image in images], "status": "pending"}
        if len(images) == 1 and "paths" not in data:
            body["id"] = images[0].pk
        return Response(body, status=status.HTTP_202_ACCEPTED)

    def perform_destroy(self, instance):
        services.image_delete(actor=Actor.from_request(self.request), image=instance)

    @extend_schema(summary="The image's thumbnail (JPEG, longest side 320 px)", responses=THUMBNAIL)
    @action(detail=True, methods=["get"])
    def thumbnail(self, request, pk=None):
        return image_file_response(self.get_object().thumbnail)

    @extend_schema(
        summary="Send failed images back to the queue (the list's filters choose which)",
        description="The filters go in the query string, as for the list; no body.",
        request=None, responses={202: RetrySerializer}, filters=True,
    )  # fmt: skip
    @action(detail=False, methods=["post"])
    def retry(self, request):
        if request.data:
            # Filters sent as a body would be ignored and widen the retry to every failed image.
            raise serializers.ValidationError(
                {"detail": "Choose the images with the list's filters in the query string "
                 "(?status=failed&person=...); this takes no body."}
            )  # fmt: skip
        images = self.filter_queryset(self.get_queryset())
        count = services.images_retry(actor=Actor.from_request(request), images=images)
        return Response({"requeued": count}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="The back-ends, their circuit breakers and the queue",
                   responses={200: ServiceStatusSerializer})  # fmt: skip
    @action(detail=False, methods=["get"])
    def service(self, request):
        return Response(ServiceStatusSerializer(selectors.service_status()).data)

    @extend_schema(
        summary="Name a face found in this image",
        description="The face becomes a known image of that person (created when new), and "
        "unknown faces are matched again.",
        request=NameFaceSerializer, responses={201: KnownFaceSerializer},
    )  # fmt: skip
    @action(detail=True, methods=["post"], url_path=r"faces/(?P<face_id>[0-9]{1,18})/name")
    def name_face(self, request, pk=None, face_id=None):
        image = self.get_object()
        face = get_object_or_404(Face, pk=face_id, image=image)
        serializer = NameFaceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            known = services.face_name(
                actor=Actor.from_request(request), face=face,
                name=serializer.validated_data["name"],
            )  # fmt: skip
        except DjangoValidationError as exc:
            raise _drf_error(exc) from exc
        return Response(KnownFaceSerializer(known).data, status=status.HTTP_201_CREATED)
