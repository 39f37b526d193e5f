"""Pages for clusters and credentials: thin views over services and selectors."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from clusters import gpu, selectors, services
from clusters import kubeconfig as kubeconfig_mod
from clusters.akri import akri_inventory
from clusters.choices import CredentialKind
from clusters.explorer import health
from clusters.forms import (
    AzureCredentialForm,
    ClusterEditForm,
    ClusterImportForm,
    KubeconfigCredentialForm,
    PodSecurityForm,
)
from clusters.models import Cluster, Credential
from clusters.tasks import cluster_refresh_task
from core.choices import Role
from core.permissions import RoleRequiredMixin
from core.services import Actor


class ClusterListView(RoleRequiredMixin, View):
    def get(self, request):
        return render(request, "clusters/cluster_list.html", {"clusters": selectors.cluster_list()})


class ClusterHealthTableView(RoleRequiredMixin, View):
    """The htmx fragment the dashboard polls."""

    def get(self, request):
        return render(
            request, "clusters/_health_table.html", {"clusters": selectors.cluster_list()}
        )


class ClusterDetailView(RoleRequiredMixin, View):
    def get(self, request, pk: int):
        cluster = get_object_or_404(selectors.cluster_list(), pk=pk)
        template = (
            "clusters/_cluster_status.html" if request.htmx else "clusters/cluster_detail.html"
        )
        return render(request, template, {
            "cluster": cluster, "capacity": cluster.capacity(), "gpu": gpu.readiness(cluster),
            "health_chart": None if request.htmx else health.chart(cluster),
        })  # fmt: skip


class ClusterDevicePluginView(RoleRequiredMixin, View):
    """One click: install (or bring up to date) the NVIDIA device plugin on the cluster."""

    write_role = Role.ADMIN

    def post(self, request, pk: int):
        cluster = get_object_or_404(Cluster, pk=pk)
        try:
            result = services.cluster_install_device_plugin(
                actor=Actor.from_request(request), cluster=cluster
            )
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
        else:
            messages.success(
                request,
                f"NVIDIA device plugin {gpu.device_plugin_version()} {result} on {cluster.name}: "
                "GPU nodes report nvidia.com/gpu once its pod runs there (the next check shows it).",
            )
            cluster_refresh_task.delay(cluster.pk)
        return redirect("cluster-detail", pk=cluster.pk)


class ClusterAkriView(RoleRequiredMixin, View):
    """The cluster page's Akri section, read live (loaded after the page, so a slow cluster
    never delays it)."""

    def get(self, request, pk: int):
        cluster = get_object_or_404(selectors.cluster_list(), pk=pk)
        return render(
            request, "clusters/_akri.html", {"cluster": cluster, "akri": akri_inventory(cluster)}
        )


class ClusterRefreshView(RoleRequiredMixin, View):
    def post(self, request, pk: int):
        cluster = get_object_or_404(Cluster, pk=pk)
        cluster_refresh_task.delay(cluster.pk)
        messages.info(request, f"Health check of {cluster.name} queued.")
        return redirect("cluster-detail", pk=cluster.pk)


class ClusterImportView(RoleRequiredMixin, View):
    read_role = write_role = Role.OPERATOR  # a form only those who may submit it should see

    def get(self, request):
        return render(request, "clusters/cluster_import.html", {"form": ClusterImportForm()})

    def post(self, request):
        form = ClusterImportForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                cluster = services.cluster_import(
                    actor=Actor.from_request(request),
                    name=data["name"],
                    kubeconfig=data["kubeconfig"],
                    context=data.get("context", ""),
                    namespace=data["namespace"],
                    description=data.get("description", ""),
                )
            except services.ClusterImportError as exc:
                form.add_error(exc.field, exc.message)
            else:
                messages.success(request, f"Imported {cluster.name}: Kubernetes {cluster.version}.")
                return redirect("cluster-detail", pk=cluster.pk)
        return render(request, "clusters/cluster_import.html", {"form": form}, status=400)


class KubeconfigContextsView(RoleRequiredMixin, View):
    """htmx: the contexts of a pasted kubeconfig, as <option>s for the context picker."""

    write_role = Role.OPERATOR

    def post(self, request):
        try:
            data = kubeconfig_mod.load(request.POST.get("kubeconfig", ""))
        except kubeconfig_mod.KubeconfigError as exc:
            return render(request, "clusters/_contexts.html", {"error": str(exc)})
        return render(
            request,
            "clusters/_contexts.html",
            {
                "contexts": kubeconfig_mod.context_names(data),
                "current": data.get("current-context"),
            },
        )


class ClusterEditView(RoleRequiredMixin, View):
    read_role = write_role = Role.OPERATOR

    def get(self, request, pk: int):
        cluster = get_object_or_404(Cluster, pk=pk)
        return render(
            request,
            "clusters/cluster_edit.html",
            {"cluster": cluster, "form": ClusterEditForm(instance=cluster)},
        )

    def post(self, request, pk: int):
        cluster = get_object_or_404(Cluster, pk=pk)
        form = ClusterEditForm(request.POST, instance=Cluster.objects.get(pk=pk))
        if form.is_valid():
            services.cluster_update(
                actor=Actor.from_request(request), cluster=cluster, **form.cleaned_data
            )
            messages.success(request, "Saved.")
            return redirect("cluster-detail", pk=cluster.pk)
        return render(
            request, "clusters/cluster_edit.html", {"cluster": cluster, "form": form}, status=400
        )


class ClusterPodSecurityView(RoleRequiredMixin, View):
    """Admins set the cluster's Pod Security level and its named hostPath exemptions."""

    read_role = Role.ADMIN
    write_role = Role.ADMIN
    template = "clusters/cluster_pod_security.html"

    def get(self, request, pk: int):
        cluster = get_object_or_404(Cluster, pk=pk)
        form = PodSecurityForm(initial={
            "pod_security_level": cluster.pod_security_level,
            "pod_security_exemptions": PodSecurityForm.as_text(cluster.pod_security_exemptions),
        })  # fmt: skip
        return render(request, self.template, {"cluster": cluster, "form": form})

    def post(self, request, pk: int):
        cluster = get_object_or_404(Cluster, pk=pk)
        form = PodSecurityForm(request.POST)
        if form.is_valid():
            try:
                services.cluster_set_pod_security(
                    actor=Actor.from_request(request), cluster=cluster,
                    level=form.cleaned_data["pod_security_level"],
                    exemptions=form.cleaned_data["pod_security_exemptions"],
                )  # fmt: skip
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                messages.success(
                    request, f"Pod Security level of {cluster.name}: {cluster.pod_security_level}."
                )
                return redirect("cluster-detail", pk=cluster.pk)
        return render(request, self.template, {"cluster": cluster, "form": form}, status=400)


class ClusterDeleteView(RoleRequiredMixin, View):
    write_role = Role.ADMIN

    def post(self, request, pk: int):
        cluster = get_object_or_404(Cluster, pk=pk)
        if request.POST.get("confirm_name") != cluster.name:
            messages.error(request, f"Type the cluster's name ({cluster.name}) to confirm.")
            return redirect("cluster-detail", pk=cluster.pk)
        try:
            services.cluster_delete(actor=Actor.from_request(request), cluster=cluster)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("cluster-detail", pk=cluster.pk)
        messages.success(request, f"Forgot cluster {cluster.name}.")
        return redirect("cluster-list")


CREDENTIAL_FORMS = {
    CredentialKind.AZURE: AzureCredentialForm,
    CredentialKind.KUBECONFIG: KubeconfigCredentialForm,
}


class CredentialListView(RoleRequiredMixin, View):
    def get(self, request):
        return render(
            request, "clusters/credential_list.html", {"credentials": selectors.credential_list()}
        )


class CredentialCreateView(RoleRequiredMixin, View):
    write_role = Role.ADMIN
    read_role = Role.ADMIN

    def _kind(self, request) -> str:
        kind = request.GET.get("kind") or request.POST.get("kind") or CredentialKind.AZURE
        return kind if kind in CREDENTIAL_FORMS else CredentialKind.AZURE

    def get(self, request):
        kind = self._kind(request)
        return render(
            request,
            "clusters/credential_form.html",
            {"form": CREDENTIAL_FORMS[kind](), "kind": kind},
        )

    def post(self, request):
        kind = self._kind(request)
        form = CREDENTIAL_FORMS[kind](request.POST, request.FILES)
        if form.is_valid():
            data = {k: v for k, v in form.cleaned_data.items() if k != "kubeconfig_file"}
            credential = services.credential_create(
                actor=Actor.from_request(request), kind=kind, **data
            )
            messages.success(
                request, f"Stored credential {credential.name}. Test it with “Test connection”."
            )
            return redirect("credential-list")
        return render(
            request, "clusters/credential_form.html", {"form": form, "kind": kind}, status=400
        )


class CredentialEditView(RoleRequiredMixin, View):
    read_role = Role.ADMIN
    write_role = Role.ADMIN

    def _initial(self, credential: Credential) -> dict:
        fields = ("name", "description", "tenant_id", "client_id", "subscription_id", "context")
        return {name: getattr(credential, name) for name in fields}

    def get(self, request, pk: int):
        credential = get_object_or_404(Credential, pk=pk)
        form = CREDENTIAL_FORMS[credential.kind](
            initial=self._initial(credential), instance=credential
        )
        return render(
            request,
            "clusters/credential_form.html",
            {"form": form, "kind": credential.kind, "credential": credential},
        )

    def post(self, request, pk: int):
        credential = get_object_or_404(Credential, pk=pk)
        form = CREDENTIAL_FORMS[credential.kind](request.POST, request.FILES, instance=credential)
        if form.is_valid():
            data = {k: v for k, v in form.cleaned_data.items() if k != "kubeconfig_file"}
            services.credential_update(
                actor=Actor.from_request(request), credential=credential, **data
            )
            messages.success(request, f"Saved credential {credential.name}.")
            return redirect("credential-list")
        return render(
            request,
            "clusters/credential_form.html",
            {"form": form, "kind": credential.kind, "credential": credential},
            status=400,
        )


class CredentialDeleteView(RoleRequiredMixin, View):
    write_role = Role.ADMIN

    def post(self, request, pk: int):
        credential = get_object_or_404(Credential, pk=pk)
        if credential.clusters.exists() or credential.managed_clusters.exists():
            messages.error(request, f"Clusters still use {credential.name}; delete them first.")
        else:
            services.credential_delete(actor=Actor.from_request(request), credential=credential)
            messages.success(request, f"Deleted credential {credential.name}.")
        return redirect("credential-list")


class CredentialTestView(RoleRequiredMixin, View):
    """POST queues a connection test; GET (htmx polling) shows its current result."""

    write_role = Role.OPERATOR

    def get(self, request, pk: int):
        credential = get_object_or_404(Credential, pk=pk)
        return render(request, "clusters/_credential_test.html", {"c": credential})

    def post(self, request, pk: int):
        credential = get_object_or_404(Credential, pk=pk)
        services.credential_test_request(actor=Actor.from_request(request), credential=credential)
        credential.refresh_from_db()
        if request.htmx:
            return render(request, "clusters/_credential_test.html", {"c": credential})
        return redirect(reverse("credential-list"))
