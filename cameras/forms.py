"""The camera form: a name, a source URL or a camera-stream run, and the processing."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

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


class CameraViewersForm(forms.Form):
    """Who may watch a camera (admins): everyone, or only the chosen users and groups."""

    restricted = forms.BooleanField(
        required=False, label="Only the chosen users and groups (and admins) may watch"
    )
    viewer_users = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False, label="Users",
    )  # fmt: skip
    viewer_groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.order_by("name"), required=False, label="Groups"
    )
