"""Pages of the face service: thin views over selectors and services."""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.views import View

from core.permissions import RoleRequiredMixin
from faces.models import FaceImage, KnownFace


def image_file_response(field) -> FileResponse:
    """Faces are personal data: their files are served to logged-in users only, never from a
    public media URL."""
    if not field:
        raise Http404("No picture stored.")
    try:
        return FileResponse(field.open("rb"), content_type="image/jpeg")
    except (FileNotFoundError, OSError):
        raise Http404("The picture is gone.") from None


class ImageThumbnailView(RoleRequiredMixin, View):
    def get(self, request, pk: int):
        return image_file_response(get_object_or_404(FaceImage, pk=pk).thumbnail)


class KnownThumbnailView(RoleRequiredMixin, View):
    def get(self, request, pk: int):
        return image_file_response(get_object_or_404(KnownFace, pk=pk).thumbnail)
