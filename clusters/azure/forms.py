"""Forms of the AKS, storage and registry pages. Pools are validated by the API's own
serializer, so a page and the API refuse exactly the same input."""

from __future__ import annotations

import re

from django import forms
from django.utils.html import format_html, format_html_join

from clusters.azure import aks
from clusters.azure.api import serializers as s
from clusters.azure.choices import AKS_VM_SIZES
from clusters.models import Cluster, Credential
from clusters.validators import validate_storage_account_name

REGION_RE = re.compile(r"[a-z0-9]{2,50}")
GPU_HINT = "GPU sizes such as Standard_NC4as_T4_v3 or Standard_NC24ads_A100_v4 work here."


class SuggestingInput(forms.TextInput):
    """A text input with a <datalist> of suggestions (value, label); typing stays free."""

    def __init__(self, list_id: str, suggestions=(), attrs=None) -> None:
        super().__init__({**(attrs or {}), "list": list_id, "autocomplete": "off"})
        self.list_id, self.suggestions = list_id, list(suggestions)

    def render(self, name, value, attrs=None, renderer=None):
        field = super().render(name, value, attrs, renderer)
        if not self.suggestions:
            return field  # the list comes from elsewhere (the region picker asks Azure)
        options = format_html_join("", '<option value="{}">{}</option>', self.suggestions)
        return format_html('{}<datalist id="{}">{}</datalist>', field, self.list_id, options)


class RegionField(forms.CharField):
    """A region by name or display name ("West Europe", "west europe", "westeurope"); the
    picker's list is filled from the chosen credential's subscription (aks-regions)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("label", "Region")
        kwargs.setdefault("help_text", "A region such as eastus or West Europe.")
        super().__init__(max_length=60, widget=SuggestingInput("region-list"), **kwargs)

    def to_python(self, value):
        value = aks.region_name(super().to_python(value) or "")
        return value

    def validate(self, value) -> None:
        super().validate(value)
        if value and not REGION_RE.fullmatch(value):
            raise forms.ValidationError("Not a region name: use one of the list, e.g. eastus or West Europe.")  # fmt: skip


class VmSizeField(forms.CharField):
    """A VM size from the list (GPU sizes marked) or any Standard_ size; the case and the
    "Standard_" prefix are forgiven ("d4s_v5" is Standard_D4s_v5)."""

    def __init__(self, list_id: str, **kwargs) -> None:
        sizes = [(name, ("GPU · " if gpu else "") + about) for name, about, gpu in AKS_VM_SIZES]
        super().__init__(max_length=80, widget=SuggestingInput(list_id, sizes), **kwargs)

    def to_python(self, value):
        value = (super().to_python(value) or "").strip()
        if not value:
            return value
        if not value.lower().startswith("standard_"):
            value = f"Standard_{value}"
        known = {name.lower(): name for name, _about, _gpu in AKS_VM_SIZES}
        return known.get(value.lower(), "Standard_" + value[len("standard_") :])

    def validate(self, value) -> None:
        super().validate(value)
        if value and not re.fullmatch(r"Standard_[A-Za-z0-9_]+", value):
            raise forms.ValidationError("A VM size such as Standard_D4s_v5 (letters, digits and _).")  # fmt: skip


def azure_credential_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=Credential.objects.filter(kind="azure").order_by("name"),
        help_text="An Azure service principal credential.",
    )


def _regex(pattern, help_text: str = "", required: bool = True, **kw) -> forms.RegexField:
    raw = pattern.pattern if hasattr(pattern, "pattern") else pattern
    return forms.RegexField(raw, help_text=help_text, required=required, **kw)


def parse_pool_line(line: str) -> dict:
    """`name vm_size count [taint,taint]` -> the API's pool spec (validated by the caller)."""
    parts = line.split()
    if len(parts) not in (3, 4):
        raise forms.ValidationError(f"“{line}”: write name, VM size, count and optional taints.")
    pool = {"name": parts[0], "vm_size": parts[1], "count": parts[2]}
    pool["taints"] = [t for t in parts[3].split(",") if t] if len(parts) == 4 else []
    return pool


def validated_pool(data: dict, label: str) -> dict:
    checked = s.PoolSerializer(data=data)
    if not checked.is_valid():
        problems = "; ".join(
            f"{field}: {' '.join(str(m) for m in messages)}"
            for field, messages in checked.errors.items()
        )
        raise forms.ValidationError(f"{label}: {problems}")
    return dict(checked.validated_data)


class AksProvisionForm(forms.Form):
    credential = azure_credential_field()
    name = _regex(s.NAME_RE, "Lower-case letters, digits and '-'.", max_length=63)
    resource_group = _regex(r"^[-\w._()]{1,90}$", "Created when missing.")
    location = RegionField()
    kubernetes_version = forms.ChoiceField(
        required=False, label="Kubernetes version",
        help_text="From the versions the subscription offers in the region; blank for the default.",
    )  # fmt: skip
    system_vm_size = VmSizeField("system-vm-sizes", label="System node size", initial="Standard_D4s_v5")  # fmt: skip
    system_count = forms.IntegerField(label="System nodes", min_value=1, max_value=1000, initial=1)
    system_autoscale = forms.BooleanField(label="Autoscale the system nodes", required=False)
    system_min_count = forms.IntegerField(label="Fewest system nodes", min_value=0, max_value=1000, required=False)  # fmt: skip
    system_max_count = forms.IntegerField(label="Most system nodes", min_value=1, max_value=1000, required=False)  # fmt: skip
    user_pools = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line: name VM-size count [taints, comma-separated], e.g. "
        "“gpu Standard_NC4as_T4_v3 1 nvidia.com/gpu=present:NoSchedule”. " + GPU_HINT,
    )
    tags = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One key=value per line.",
    )

    def __init__(self, *args, versions: list[dict] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "Azure's default")]
        for v in versions or []:
            label = v["version"] + (" (default)" if v["default"] else "")
            choices.append((v["version"], label + (" (preview)" if v["preview"] else "")))
        self.fields["kubernetes_version"].choices = choices

    def clean_user_pools(self) -> list[dict]:
        lines = [line.strip() for line in self.cleaned_data["user_pools"].splitlines()]
        return [validated_pool(parse_pool_line(line), "User pool") for line in lines if line]

    def clean_tags(self) -> dict:
        tags = {}
        for line in filter(None, (x.strip() for x in self.cleaned_data["tags"].splitlines())):
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise forms.ValidationError(f"“{line}” is not key=value.")
            tags[key.strip()] = value.strip()
        return tags

    def clean(self):
        data = super().clean()
        if "system_vm_size" in data and "system_count" in data:
            pool = {"name": "system", "vm_size": data["system_vm_size"], "count": data["system_count"]}  # fmt: skip
            if data.get("system_autoscale"):
                pool |= {"autoscale": True, "min_count": data.get("system_min_count"), "max_count": data.get("system_max_count")}  # fmt: skip
                pool = {k: v for k, v in pool.items() if v is not None}
            try:
                data["system_pool"] = validated_pool(pool, "System pool")
            except forms.ValidationError as exc:
                self.add_error("system_count", exc)
        return data


class ScaleForm(forms.Form):
    pool = forms.CharField()
    count = forms.IntegerField(min_value=0, max_value=1000)
    autoscale = forms.BooleanField(required=False)
    min_count = forms.IntegerField(min_value=0, required=False)
    max_count = forms.IntegerField(min_value=1, required=False)

    def params(self) -> dict:
        data = {k: v for k, v in self.cleaned_data.items() if k != "pool" and v is not None}
        if not data.get("autoscale"):
            data = {"count": data["count"], "autoscale": False}
        return data


class AddPoolForm(forms.Form):
    name = _regex(s.POOL_RE, "1-12 lower-case letters/digits, a letter first.")
    vm_size = VmSizeField("pool-vm-sizes", label="VM size", help_text=GPU_HINT)
    count = forms.IntegerField(min_value=0, max_value=1000, initial=1)
    taints = forms.CharField(
        required=False, help_text="Comma-separated, e.g. nvidia.com/gpu=present:NoSchedule."
    )

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        pool = {k: data[k] for k in ("name", "vm_size", "count")}
        pool["taints"] = [t.strip() for t in data.get("taints", "").split(",") if t.strip()]
        try:
            data["pool"] = validated_pool(pool, "Pool")
        except forms.ValidationError as exc:
            self.add_error("taints", exc)
        return data


class PoolNameForm(forms.Form):
    pool = forms.CharField()


class UpgradeForm(forms.Form):
    kubernetes_version = forms.RegexField(r"^\d+\.\d+\.\d+$")


class DeleteForm(forms.Form):
    confirm_name = forms.CharField(label="Type the cluster's name to confirm")

    def __init__(self, *args, cluster: Cluster, **kwargs):
        super().__init__(*args, **kwargs)
        self.cluster = cluster

    def clean_confirm_name(self) -> str:
        value = self.cleaned_data["confirm_name"]
        if value != self.cluster.name:
            raise forms.ValidationError("Type the cluster's exact name to delete it.")
        return value


class FileShareForm(forms.Form):
    cluster = forms.ModelChoiceField(queryset=Cluster.objects.order_by("name"))
    credential = azure_credential_field()
    resource_group = _regex(r"^[-\w._()]{1,90}$")
    location = RegionField()
    account_name = forms.CharField(
        max_length=64, validators=[validate_storage_account_name],
        help_text="3-24 lower-case letters and digits, unique in Azure.",
    )  # fmt: skip
    share_name = _regex(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$", "Becomes the volume's name.")  # fmt: skip
    quota_gb = forms.IntegerField(label="Quota (GiB)", min_value=1, max_value=102400, initial=100)
    namespace = forms.CharField(required=False, help_text="Blank: the cluster's namespace.")


class UploadForm(forms.Form):
    path = forms.RegexField(r"^[^\\:*?\"<>|]{1,1024}$", help_text="e.g. input/video.mp4")
    file = forms.FileField()


class PreflightForm(forms.Form):
    credential = azure_credential_field()
    resource_group = _regex(r"^[-\w._()]{1,90}$")


class RegisterProvidersForm(forms.Form):
    credential = azure_credential_field()
    namespaces = forms.CharField(help_text="Comma-separated provider namespaces.")

    def clean_namespaces(self) -> list[str]:
        names = [n.strip() for n in self.cleaned_data["namespaces"].split(",") if n.strip()]
        for name in names:
            if not re.fullmatch(r"[A-Za-z]+\.[A-Za-z.]+", name):
                raise forms.ValidationError(f"{name} is not a provider namespace.")
        if not names:
            raise forms.ValidationError("Name at least one provider.")
        return names


class RegistryForm(forms.Form):
    """Create a registry, or attach one by resource id (or resource group + name)."""

    mode = forms.ChoiceField(choices=[("create", "Create a new registry"), ("attach", "Attach an existing registry")])  # fmt: skip
    credential = azure_credential_field()
    name = forms.RegexField(r"^[A-Za-z0-9]{5,50}$", required=False, help_text="5-50 letters and digits.")  # fmt: skip
    resource_group = _regex(r"^[-\w._()]{1,90}$", required=False)
    location = RegionField(required=False, help_text="Create only: a region such as eastus.")
    sku = forms.ChoiceField(choices=[(x, x) for x in ("Basic", "Standard", "Premium")])
    resource_id = forms.CharField(required=False, help_text="Attach: the registry's resource id instead of group + name.")  # fmt: skip

    def clean(self):
        data = super().clean()
        if data.get("mode") == "create":
            for field in ("name", "resource_group", "location"):
                if not data.get(field) and field not in self.errors:
                    self.add_error(field, "Required to create a registry.")
        return data


class PullSecretForm(forms.Form):
    cluster = forms.ModelChoiceField(queryset=Cluster.objects.order_by("name"))
    namespace = _regex(s.NAME_RE, max_length=63)
    secret_name = _regex(s.NAME_RE, "Listed in imagePullSecrets of the pods.", max_length=253)
