"""REST endpoints for users, personal tokens, the audit log and the caller's identity."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core import services
from core.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenSerializer,
    AuditEventSerializer,
    MeSerializer,
    UserSerializer,
)
from core.choices import Role
from core.filtersets import AuditEventFilterSet
from core.models import ApiToken, AuditEvent
from core.selectors import has_role, role_of
from core.services import Actor

User = get_user_model()


@extend_schema_view(list=extend_schema(summary="List users (admins only)"))
class UserViewSet(viewsets.ModelViewSet):
    queryset = User.objects.select_related("profile").order_by("username")
    serializer_class = UserSerializer
    read_role = Role.ADMIN
    write_role = Role.ADMIN
    filterset_fields = ["is_active", "profile__role"]
    search_fields = ["username", "email"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.user_create(
            actor=Actor.from_request(self.request),
            username=data["username"],
            email=data.get("email", ""),
            password=data.get("password") or None,
            role=data.get("role", Role.VIEWER),
        )

    def perform_update(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = services.user_update(
                actor=Actor.from_request(self.request),
                user=serializer.instance,
                role=data.get("role"),
                is_active=data.get("is_active"),
                email=data.get("email"),
                password=data.get("password") or None,
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc

    def perform_destroy(self, instance):
        try:
            services.user_delete(actor=Actor.from_request(self.request), user=instance)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc


@extend_schema_view(
    list=extend_schema(summary="Your API tokens (admins see everyone's)"),
    create=extend_schema(
        summary="Create a personal API token; the response shows it once",
        responses={201: ApiTokenCreatedSerializer},
    ),
    revoke=extend_schema(
        summary="Revoke a token", request=None, responses={200: ApiTokenSerializer}
    ),
)
class ApiTokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ApiTokenSerializer
    # Any signed-in user manages their own tokens.
    write_role = Role.VIEWER

    queryset = ApiToken.objects.none()

    def get_queryset(self):
        qs = ApiToken.objects.select_related("user")
        if getattr(self, "swagger_fake_view", False):
            return qs
        if has_role(self.request.user, Role.ADMIN):
            return qs
        return qs.filter(user=self.request.user)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, plaintext = services.token_create(
            actor=Actor.from_request(request),
            user=request.user,
            name=serializer.validated_data["name"],
        )
        out = ApiTokenCreatedSerializer(token, context={"plaintext": plaintext})
        return Response(out.data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = services.token_revoke(actor=Actor.from_request(request), token=self.get_object())
        return Response(ApiTokenSerializer(token).data)


@extend_schema_view(list=extend_schema(summary="The audit log (admins only)"))
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet
    search_fields = ["object_repr", "actor_name"]
    read_role = Role.ADMIN


class MeView(generics.GenericAPIView):
    serializer_class = MeSerializer

    @extend_schema(summary="Who am I, and with which role")
    def get(self, request):
        return Response({"username": request.user.get_username(), "role": role_of(request.user)})
