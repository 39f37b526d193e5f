"""The camera form: a name, a source URL (MJPEG over http(s), or RTSP read by a camera-stream
run the panel starts) or an existing camera-stream run, and the processing."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from cameras.models import Camera
from clusters.models import Cluster
from clusters.selectors import cluster_list
from workloads.choices import TemplateKind
from workloads.models import Run


class CameraForm(forms.ModelForm):
    source_url = forms.CharField(
        label="Source URL", required=False, max_length=1000,
        help_text="An http(s) MJPEG URL, or an rtsp:// camera (the panel starts a camera-stream "
        "run for it on the cluster below). Leave empty when picking a run.",
    )  # fmt: skip
    run = forms.ModelChoiceField(
        label="Camera-stream run",
        queryset=Run.objects.filter(template__kind=TemplateKind.CAMERA_STREAM).select_related(
            "template", "cluster"
        ),
        required=False,
        empty_label="None: use the source URL",
        help_text="A camera-stream run already serving MJPEG.",
    )
    cluster = forms.ModelChoiceField(
        label="Cluster for an RTSP camera", queryset=Cluster.objects.all(), required=False,
        empty_label=None, help_text="Where the camera-stream run reading the RTSP camera runs.",
    )  # fmt: skip

    class Meta:
        model = Camera
        fields = ["name", "source_url", "run", "processing"]
        labels = {"name": "Name", "processing": "Processing"}
        help_texts = {"processing": "What the stream's frames go through before they are shown."}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        clusters = list(cluster_list())
        self.fields["cluster"].choices = [(c.pk, str(c)) for c in clusters]
        local = next((c for c in clusters if c.is_local), None)
        if local is not None:
            self.fields["cluster"].initial = local.pk


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
