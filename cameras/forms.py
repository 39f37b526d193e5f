"""The camera form: a name, a source URL or a camera-stream run, and the processing."""

from __future__ import annotations

from django import forms

from cameras.models import Camera
from workloads.choices import TemplateKind
from workloads.models import Run


class CameraForm(forms.ModelForm):
    run = forms.ModelChoiceField(
        queryset=Run.objects.filter(template__kind=TemplateKind.CAMERA_STREAM).select_related(
            "template", "cluster"
        ),
        required=False,
        help_text="A camera-stream run serving MJPEG (leave empty when giving a URL).",
    )

    class Meta:
        model = Camera
        fields = ["name", "source_url", "run", "processing"]
        help_texts = {"source_url": "An http(s) MJPEG URL (leave empty when picking a run)."}
