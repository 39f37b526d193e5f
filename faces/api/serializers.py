"""API shapes of the face service. Checks of what the receiver takes live in services."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from faces.choices import NAME_MAX_CHARS, PATH_MAX_CHARS, PATHS_PER_REQUEST
from faces.models import Face, FaceImage, KnownFace, Person


class KnownFaceSerializer(serializers.ModelSerializer):
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = KnownFace
        fields = ["id", "source", "volume", "path", "box", "width", "height", "thumbnail_url",
                  "created_at"]  # fmt: skip

    def get_thumbnail_url(self, obj) -> str | None:
        if not obj.thumbnail:
            return None
        return reverse("api:person-known-thumbnail", args=[obj.person_id, obj.pk])


class PersonSerializer(serializers.ModelSerializer):
    known_count = serializers.IntegerField(read_only=True, help_text="Known images.")
    thumbnail = KnownFaceSerializer(
        source="first_known_face", read_only=True, allow_null=True,
        help_text="The first known face, if any.",
    )  # fmt: skip

    class Meta:
        model = Person
        fields = ["id", "name", "known_count", "thumbnail", "created_at", "updated_at"]


class PersonDetailSerializer(PersonSerializer):
    known_faces = KnownFaceSerializer(many=True, read_only=True)

    class Meta(PersonSerializer.Meta):
        fields = [*PersonSerializer.Meta.fields, "known_faces"]


class PersonWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=NAME_MAX_CHARS)


class KnownFaceCreateSerializer(serializers.Serializer):
    """A photo showing exactly one face: uploaded (multipart `image`), or a path on a volume."""

    image = serializers.FileField(required=False)
    volume = serializers.CharField(required=False, max_length=63)
    path = serializers.CharField(required=False, max_length=PATH_MAX_CHARS, trim_whitespace=False)

    def validate(self, attrs):
        if "image" in attrs and ("volume" in attrs or "path" in attrs):
            raise serializers.ValidationError(
                {"image": "Upload an image or name a path, not both."}
            )
        if "image" not in attrs and not ("volume" in attrs and "path" in attrs):
            raise serializers.ValidationError(
                {"image": "Upload an image, or give `volume` and `path`."}
            )
        return attrs


class FaceSerializer(serializers.ModelSerializer):
    person = serializers.CharField(source="person.name", allow_null=True, default=None)

    class Meta:
        model = Face
        fields = ["id", "box", "person", "person_id", "distance"]


class FaceImageSerializer(serializers.ModelSerializer):
    faces = FaceSerializer(many=True, read_only=True)
    thumbnail_url = serializers.SerializerMethodField()
    submitted_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = FaceImage
        fields = ["id", "source", "volume", "path", "status", "faces", "error", "attempts",
                  "width", "height", "thumbnail_url", "backend", "submitted_at", "started_at",
                  "finished_at"]  # fmt: skip

    def get_thumbnail_url(self, obj) -> str | None:
        return reverse("api:faceimage-thumbnail", args=[obj.pk]) if obj.thumbnail else None


class FaceImageCreateSerializer(serializers.Serializer):
    """The receiver's contract: `{"volume", "path"}` (the seed's), `{"volume", "paths"}`, or a
    multipart `image`."""

    volume = serializers.CharField(required=False, max_length=63)
    path = serializers.CharField(required=False, max_length=PATH_MAX_CHARS, trim_whitespace=False)
    paths = serializers.ListField(
        child=serializers.CharField(max_length=PATH_MAX_CHARS, trim_whitespace=False),
        required=False, max_length=PATHS_PER_REQUEST, allow_empty=False,
    )  # fmt: skip
    image = serializers.FileField(required=False)

    def validate(self, attrs):
        given = [key for key in ("path", "paths", "image") if key in attrs]
        if len(given) != 1:
            raise serializers.ValidationError(
                {
                    "path": "Give exactly one of `path`, `paths` (with `volume`) or an `image` upload."
                }
            )
        if given[0] != "image" and "volume" not in attrs:
            raise serializers.ValidationError({"volume": "Name the volume the images are on."})
        if given[0] == "image" and "volume" in attrs:
            raise serializers.ValidationError({"volume": "An upload has no volume."})
        return attrs


class SubmittedSerializer(serializers.Serializer):
    id = serializers.IntegerField(required=False, help_text="The image's id (one image).")
    ids = serializers.ListField(child=serializers.IntegerField(), help_text="Every image's id.")
    status = serializers.CharField()


class RetrySerializer(serializers.Serializer):
    requeued = serializers.IntegerField(help_text="Failed images sent back to the queue.")


class NameFaceSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=NAME_MAX_CHARS, help_text="An existing person (any case) or a new one."
    )


class BackendStatusSerializer(serializers.Serializer):
    name = serializers.CharField()
    url = serializers.CharField()
    state = serializers.CharField(help_text="closed (calls pass), open, or half-open (probing).")
    failures = serializers.IntegerField(help_text="Consecutive failed calls.")
    wait = serializers.FloatField(help_text="Seconds an open circuit waits before a probe.")
    opened_at = serializers.FloatField(allow_null=True, help_text="Unix time it opened.")


class ServiceStatusSerializer(serializers.Serializer):
    state = serializers.CharField(help_text="closed, degraded, open or unavailable (no back-end).")
    run = serializers.IntegerField(allow_null=True, source="run.pk", default=None)
    cluster = serializers.CharField(allow_null=True, source="run.cluster.name", default=None)
    backends = BackendStatusSerializer(many=True)
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Images by status.")
    error = serializers.CharField()


class GalleryExportSerializer(serializers.Serializer):
    volume = serializers.CharField(max_length=63, help_text="A volume of the local cluster.")
    folder = serializers.CharField(
        max_length=PATH_MAX_CHARS, default="known-faces", help_text="Replaced whole."
    )


class GalleryExportedSerializer(serializers.Serializer):
    volume = serializers.CharField()
    folder = serializers.CharField(help_text="The batch template's `known` parameter.")
    images = serializers.IntegerField()
    people = serializers.IntegerField()
    skipped = serializers.ListField(
        child=serializers.IntegerField(), help_text="Known images the panel cannot read."
    )
