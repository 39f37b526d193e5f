"""Forms of the cluster and credential pages (the API validates with the same validators)."""

from __future__ import annotations

from django import forms

from clusters import kubeconfig as kubeconfig_mod
from clusters.choices import (
    CLIENT_SECRET_MAX_CHARS,
    KUBECONFIG_MAX_CHARS,
    MAX_POD_SECURITY_EXEMPTIONS,
    PodSecurityLevel,
)
from clusters.models import Cluster, Credential
from clusters.validators import (
    clean_host_path_exemptions,
    validate_dns_label,
    validate_guid,
    validate_tenant,
)


class KubeconfigInputMixin:
    """A kubeconfig pasted or uploaded; the file wins when both are given."""

    def kubeconfig_text(self) -> str:
        upload = self.cleaned_data.get("kubeconfig_file")
        if upload:
            try:
                return upload.read().decode("utf-8")
            except UnicodeDecodeError:
                self.add_error("kubeconfig_file", "The file is not UTF-8 text.")
                return ""
        return self.cleaned_data.get("kubeconfig", "")

    def clean_kubeconfig_and_context(self, required: bool) -> None:
        text = self.kubeconfig_text()
        if not text:
            if required and "kubeconfig_file" not in self.errors:
                self.add_error("kubeconfig", "Paste the kubeconfig or upload the file.")
            return
        context = self.cleaned_data.get("context") or None
        try:
            kubeconfig_mod.parse(text, context)
        except kubeconfig_mod.KubeconfigError as exc:
            field = "context" if context and "context" in str(exc).lower() else "kubeconfig"
            self.add_error(field, str(exc))
        self.cleaned_data["kubeconfig"] = text


class ClusterImportForm(KubeconfigInputMixin, forms.Form):
    name = forms.CharField(
        max_length=63,
        validators=[validate_dns_label],
        help_text="Lower-case letters, digits and '-'.",
    )
    kubeconfig = forms.CharField(
        max_length=KUBECONFIG_MAX_CHARS,
        widget=forms.Textarea,
        required=False,
        help_text="Certificates and keys embedded (kubectl config view --raw --flatten --minify).",
    )
    kubeconfig_file = forms.FileField(required=False, label="…or upload the file")
    context = forms.CharField(
        max_length=253, required=False, help_text="Empty: the kubeconfig's current-context."
    )
    namespace = forms.CharField(
        max_length=63,
        initial="default",
        validators=[validate_dns_label],
        help_text="Where the panel runs workloads on this cluster.",
    )
    description = forms.CharField(max_length=300, required=False)

    def clean_name(self):
        name = self.cleaned_data["name"]
        if Cluster.objects.filter(name=name).exists():
            raise forms.ValidationError("A cluster with this name already exists.")
        return name

    def clean(self):
        cleaned = super().clean()
        self.clean_kubeconfig_and_context(required=True)
        return cleaned


class ClusterEditForm(forms.ModelForm):
    class Meta:
        model = Cluster
        fields = ["name", "description", "namespace"]

    def clean_name(self):
        name = self.cleaned_data["name"]
        validate_dns_label(name)
        return name

    def clean_namespace(self):
        namespace = self.cleaned_data["namespace"]
        validate_dns_label(namespace)
        return namespace


class AzureCredentialForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=300, required=False)
    tenant_id = forms.CharField(
        max_length=64, validators=[validate_tenant], label="Tenant (directory) id"
    )
    client_id = forms.CharField(
        max_length=64, validators=[validate_guid], label="Client (application) id"
    )
    client_secret = forms.CharField(
        max_length=CLIENT_SECRET_MAX_CHARS,
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Write-only. Leave empty to keep the stored secret.",
    )
    subscription_id = forms.CharField(max_length=64, validators=[validate_guid])

    def __init__(self, *args, instance: Credential | None = None, **kwargs):
        self.instance = instance
        super().__init__(*args, **kwargs)
        if instance is None:
            # A new principal has no stored secret to keep: the field is required, and what
            # the user typed goes back into it (to them alone) when another field is wrong.
            secret = self.fields["client_secret"]
            secret.required = True
            secret.widget = forms.PasswordInput(render_value=True)
            secret.help_text = "Write-only: once stored it is never shown again."

    def clean_name(self):
        name = self.cleaned_data["name"]
        qs = Credential.objects.filter(name=name)
        if self.instance is not None:
            qs = qs.exclude(pk=self.instance.pk)
        if qs.exists():
            raise forms.ValidationError("A credential with this name already exists.")
        return name

    def clean(self):
        cleaned = super().clean()
        if self.instance is None and not cleaned.get("client_secret"):
            self.add_error("client_secret", "The client secret is required.")
        return cleaned


class KubeconfigCredentialForm(KubeconfigInputMixin, forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=300, required=False)
    kubeconfig = forms.CharField(
        max_length=KUBECONFIG_MAX_CHARS,
        widget=forms.Textarea,
        required=False,
        help_text="Write-only. Leave empty to keep the stored kubeconfig.",
    )
    kubeconfig_file = forms.FileField(required=False, label="…or upload the file")
    context = forms.CharField(max_length=253, required=False)

    def __init__(self, *args, instance: Credential | None = None, **kwargs):
        self.instance = instance
        super().__init__(*args, **kwargs)

    clean_name = AzureCredentialForm.clean_name

    def clean(self):
        cleaned = super().clean()
        if self.instance is not None and not self.kubeconfig_text():
            # Editing without a new kubeconfig: check the context against the stored one.
            if cleaned.get("context"):
                try:
                    kubeconfig_mod.parse(self.instance.secrets()["kubeconfig"], cleaned["context"])
                except kubeconfig_mod.KubeconfigError as exc:
                    self.add_error("context", str(exc))
            return cleaned
        self.clean_kubeconfig_and_context(required=True)
        return cleaned


class PodSecurityForm(forms.Form):
    """Admins: the cluster's Pod Security level and its named read-only hostPath exemptions,
    one per line as `name /host/path reason`."""

    pod_security_level = forms.ChoiceField(
        label="Pod Security level",
        choices=PodSecurityLevel.choices,
        help_text="Every pod the panel creates on this cluster must meet it; raw manifests and "
        "GPU jobs included. Baseline is the default; privileged lifts every check.",
    )
    pod_security_exemptions = forms.CharField(
        label="Read-only hostPath exemptions",
        required=False,
        max_length=MAX_POD_SECURITY_EXEMPTIONS * 700,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line: a name, an absolute host folder, the reason. A hostPath volume "
        "at or under the folder is allowed when every mount of it is read-only, e.g. "
        "“nvidia-drivers /usr/local/nvidia NVIDIA driver libraries of the GPU nodes”.",
    )

    @staticmethod
    def as_text(exemptions: list[dict]) -> str:
        return "\n".join(f"{e['name']} {e['path']} {e['reason']}" for e in exemptions)

    def clean_pod_security_exemptions(self) -> list[dict]:
        items = []
        for number, line in enumerate(self.cleaned_data["pod_security_exemptions"].splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split(None, 2)
            if len(parts) < 3:
                raise forms.ValidationError(
                    f"Line {number}: write a name, a host folder and a reason."
                )
            items.append({"name": parts[0], "path": parts[1], "reason": parts[2]})
        try:
            return clean_host_path_exemptions(items)
        except forms.ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None
