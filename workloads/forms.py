"""Forms for running a template and saving one with other defaults.

Parameter fields are built from the kind's defaults (params.DEFAULTS) and named after the
parameters, so the ValidationError({param: message}) raised by services lands on the right field.
"""

from __future__ import annotations

import shlex
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from clusters.selectors import cluster_list, volume_names_by_cluster
from workloads.choices import TemplateKind
from workloads.params import DEFAULTS
from workloads.selectors import NO_VOLUME_WARNING, WRITES_OUTPUT_FILES

MULTILINE = {"inputs", "images", "manifest", "volumes", "metrics"}
# Kinds the local cluster cannot run: their form starts on a Kubernetes cluster.
KUBERNETES_ONLY = (TemplateKind.GPU_JOB, TemplateKind.RAW_MANIFEST)
HELP = {
    "inputs": "One path per line, inside the volume. Empty: the bundled sample footage.",
    "images": "One path per line, inside the volume. Empty: the bundled sample photos.",
    "known": "Folder of <person>_<N>.jpg photos inside the volume. Empty: the bundled ones.",
    "volume": "Name of a volume of the chosen cluster (empty: none).",
    "parallelism": "Pods sharing the inputs (each input is processed once).",
    "args": "Arguments, shell-quoted.",
    "command": "Replaces the image's entrypoint, shell-quoted (empty: keep it).",
    "restart_policy": "OnFailure (retry the pod, as the workshop's job) or Never.",
    "backoff_limit": "How many times the Job retries a failed pod (0 to 20).",
    "nvidia_volume": "Mount the nodes' /usr/local/nvidia read-only: auto (on AKS N-series "
    "pools), yes or no. A named Pod Security exception an admin allows per cluster.",
    "metrics": "Numbers the log prints as “<name> ... <value>” to chart, one name per line "
    "(e.g. Accuracy for “Accuracy at step 10: 0.674”).",
    "processing": "none, lanes or faces.",
    "replicas": "Copies of the server (processes locally, pods on Kubernetes), 1 to 16.",
    "volumes": "Volumes the server may read images from, one per line. Empty: all of the "
    "cluster's volumes.",
}


def _as_text(name: str, value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(value) if name in MULTILINE else shlex.join(value)
    return "" if value is None else str(value)


class SuggestingInput(forms.TextInput):
    """A text input with a list of suggestions (a <datalist>): typed freely, picked easily."""

    def __init__(self, suggestions: list[tuple[str, str]], attrs=None) -> None:
        super().__init__(attrs)
        self.suggestions = suggestions  # (value, label)

    def render(self, name, value, attrs=None, renderer=None):
        list_id = f"{(attrs or {}).get('id') or name}-suggestions"
        field = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join("", '<option value="{}">{}</option>', self.suggestions)
        return format_html('{}<datalist id="{}">{}</datalist>', field, list_id, options)


class ParamsFormMixin:
    """Adds one text field per parameter of `kind`, prefilled with `defaults`."""

    def add_param_fields(self, kind: str, defaults: dict, volumes: dict | None = None) -> None:
        self.param_names = list(DEFAULTS[kind])
        merged = {**DEFAULTS[kind], **defaults}
        for name in self.param_names:
            if name in MULTILINE:
                widget = forms.Textarea(attrs={"rows": 6 if name == "manifest" else 3})
            elif name == "volume":
                volumes = volume_names_by_cluster() if volumes is None else volumes
                widget = SuggestingInput([(v, "on " + ", ".join(c)) for v, c in volumes.items()])
            else:
                widget = forms.TextInput()
            self.fields[name] = forms.CharField(
                required=False,
                strip=name != "manifest",
                initial=_as_text(name, merged[name]),
                widget=widget,
                help_text=HELP.get(name, ""),
            )

    def params(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name, "") for name in self.param_names}

    def add_service_errors(self, exc: ValidationError) -> None:
        """Put a service's {field: messages} on the form's fields (unknown keys: form-wide)."""
        errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
        for field, messages in errors.items():
            target = field if field in self.fields else None
            for message in messages:
                self.add_error(target, message if target else f"{field}: {message}")


class RunForm(ParamsFormMixin, forms.Form):
    cluster = forms.ModelChoiceField(queryset=cluster_list(), empty_label=None)

    def __init__(
        self, *args, template, clusters: list | None = None, volumes: dict | None = None, **kwargs
    ) -> None:
        """`clusters` and `volumes` (volume_names_by_cluster): read once by a page that shows
        one form per template (each form would otherwise query them again)."""
        super().__init__(*args, **kwargs)
        if clusters is None:
            clusters = list(cluster_list())
        # The queryset still checks a posted choice; the choices are drawn from the list.
        self.fields["cluster"].choices = [(cluster.pk, str(cluster)) for cluster in clusters]
        # The local cluster first: the presets run there with no setup at all; in an install
        # on Kubernetes (no local cluster), the cluster the panel runs in. GPU jobs and
        # manifests need Kubernetes: a cluster with GPUs first, then any.
        if template.kind in KUBERNETES_ONLY:
            remote = [c for c in clusters if not c.is_local]
            with_gpus = [c for c in remote if c.capacity()["gpu"]]
            first = (with_gpus or remote or [None])[0]
        else:
            first = next((c for c in clusters if c.is_local), None) or next(
                (c for c in clusters if c.is_in_cluster), None
            )
        if first is not None:
            self.fields["cluster"].initial = first.pk
        # Which choices run as processes here (outputs kept without a volume): the page warns
        # before a Kubernetes run whose outputs would go to an emptyDir.
        self.fields["cluster"].widget.attrs["data-local"] = ",".join(
            str(c.pk) for c in clusters if c.is_local
        )
        self.volume_warning = NO_VOLUME_WARNING if template.kind in WRITES_OUTPUT_FILES else ""
        self.add_param_fields(template.kind, template.params, volumes)


class TemplateSaveForm(ParamsFormMixin, forms.Form):
    name = forms.CharField(max_length=100)
    slug = forms.CharField(max_length=63, help_text="Lower-case letters, digits and dashes.")
    description = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, base, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.add_param_fields(base.kind, base.params)
