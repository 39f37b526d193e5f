"""API shapes of cameras: the form's fields, the viewers, and what Akri discovery recorded."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework import serializers
from rest_framework.relations import MANY_RELATION_KWARGS

from cameras.models import Camera
from workloads.choices import TemplateKind
from workloads.models import Run


class _PrefetchedMany(serializers.ManyRelatedField):
    """Reads a prefetched relation from the prefetch cache: through the related manager, each
    row and field costs a manager and a queryset clone (a third of a page of 50 cameras)."""

    def get_attribute(self, instance):
        cached = getattr(instance, "_prefetched_objects_cache", {}).get(self.source)
        return cached if cached is not None else super().get_attribute(instance)


class NameField(serializers.SlugRelatedField):
    """A user or group by name; a name no row can have (a NUL byte, which PostgreSQL refuses
    in a query) is "does not exist" like any other unknown name, not a server error."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data.replace("\x00", ""))
        return super().to_internal_value(data)

    @classmethod
    def many_init(cls, *args, **kwargs):
        list_kwargs = {"child_relation": cls(*args, **kwargs)}
        list_kwargs.update((k, v) for k, v in kwargs.items() if k in MANY_RELATION_KWARGS)
        return _PrefetchedMany(**list_kwargs)


class CameraSerializer(serializers.ModelSerializer):
    run = serializers.PrimaryKeyRelatedField(
        queryset=Run.objects.filter(template__kind=TemplateKind.CAMERA_STREAM),
        required=False, allow_null=True,
        help_text="A camera-stream run serving MJPEG (instead of `source_url`). For an Akri "
        "camera: the stream run the panel started (read-only).",
    )  # fmt: skip
    viewer_users = NameField(
        slug_field="username", many=True, required=False,
        queryset=get_user_model().objects.all(),
        help_text="With `restricted`: users who may watch (admins always may). Admins only.",
    )  # fmt: skip
    viewer_groups = NameField(
        slug_field="name", many=True, required=False, queryset=Group.objects.all(),
        help_text="With `restricted`: groups whose members may watch. Admins only.",
    )  # fmt: skip
    discovered_by_akri = serializers.BooleanField(read_only=True)
    gone = serializers.BooleanField(
        read_only=True, help_text="The Akri instance is gone; the camera comes back with it."
    )
    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    frames_socket = serializers.SerializerMethodField(
        help_text="Websocket path of the live frames (binary: 16-byte header, then a JPEG)."
    )

    class Meta:
        model = Camera
        fields = [
            "id", "name", "source_url", "run", "processing", "keep_running",
            "restricted", "viewer_users", "viewer_groups",
            "discovered_by_akri", "cluster", "akri_namespace", "akri_instance",
            "akri_configuration", "akri_nodes", "akri_device", "gone", "gone_at",
            "frames_socket", "created_at",
        ]  # fmt: skip
        read_only_fields = [
            "akri_namespace", "akri_instance", "akri_configuration", "akri_nodes",
            "akri_device", "gone_at", "created_at",
        ]  # fmt: skip
        extra_kwargs = {"source_url": {"required": False}}

    def get_frames_socket(self, obj) -> str:
        return f"/ws/cameras/{obj.pk}/frames/"
