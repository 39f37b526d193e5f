"""Pages for AKS provisioning, Azure operations and Azure File shares: thin views over the
services in clusters.azure, with the API's roles (create/delete: admin, changes: operator)."""

from __future__ import annotations

from azure.core.exceptions import AzureError
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from clusters.azure import aks, preflight, selectors, storage
from clusters.azure import forms as f
from clusters.azure import registry as registry_mod
from clusters.azure import services as azure_services
from clusters.azure.choices import OperationKind
from clusters.azure.errors import AzureFailure, describe
from clusters.azure.models import AksCluster, AzureOperation, ContainerRegistry, FileShare
from clusters.models import Cluster
from clusters.services import service_principal_of
from core.choices import Role
from core.permissions import RoleRequiredMixin
from core.services import Actor


def _versions(credential, location: str) -> tuple[list[dict], str]:
    """The region's versions, or an explanation of why Azure would not list them."""
    try:
        return aks.kubernetes_versions(service_principal_of(credential), location), ""
    except AzureError as exc:
        return [], str(describe(exc))


def _checks_context(checks, credential) -> dict:
    """Checks for the template, with the providers the panel can register in one click."""
    missing = [c.action.split(":", 1)[1] for c in checks if c.action.startswith("register:")]
    return {"checks": checks, "credential": credential, "register_namespaces": ",".join(missing)}


class AksListView(RoleRequiredMixin, View):
    def get(self, request):
        clusters = AksCluster.objects.select_related("cluster").order_by("cluster__name")
        operations = AzureOperation.objects.select_related("cluster")[:20]
        return render(request, "clusters/azure/aks_list.html", {"aks_clusters": clusters, "operations": operations})  # fmt: skip


class AksCreateView(RoleRequiredMixin, View):
    """The provisioning form. Submitting runs the preflight first; nothing is created unless
    every check passes."""

    read_role = Role.ADMIN
    write_role = Role.ADMIN

    def get(self, request):
        form = f.AksProvisionForm(initial={"location": "eastus"})
        return render(request, "clusters/azure/aks_create.html", {"form": form})

    def post(self, request):
        probe = f.PreflightForm(request.POST)
        versions, versions_error = [], ""
        location = aks.region_name(request.POST.get("location", ""))
        if probe.is_valid() and f.REGION_RE.fullmatch(location):
            versions, versions_error = _versions(probe.cleaned_data["credential"], location)
        form = f.AksProvisionForm(request.POST, versions=versions)
        context = {"form": form, "versions_error": versions_error}
        if not form.is_valid():
            return render(request, "clusters/azure/aks_create.html", context)
        data = form.cleaned_data
        checks = preflight.run_preflight(service_principal_of(data["credential"]), data["resource_group"])  # fmt: skip
        if not all(c.ok for c in checks):
            form.add_error(None, "The preflight failed: fix the checks below, then submit again.")
            return render(request, "clusters/azure/aks_create.html", context | _checks_context(checks, data["credential"]))  # fmt: skip
        try:
            op = azure_services.aks_provision(
                actor=Actor.from_request(request),
                credential=data["credential"],
                name=data["name"],
                resource_group=data["resource_group"],
                location=data["location"],
                kubernetes_version=data["kubernetes_version"],
                system_pool=data["system_pool"],
                user_pools=data["user_pools"],
                tags=data["tags"],
            )
        except azure_services.AzureInputError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return render(request, "clusters/azure/aks_create.html", context)
        messages.success(request, f"Provisioning {op.target} has started.")
        return redirect("azure-operation", pk=op.pk)


class AksVersionsView(RoleRequiredMixin, View):
    """The version <select> options for the chosen credential and region (htmx)."""

    read_role = Role.OPERATOR

    def get(self, request):
        probe = f.PreflightForm({"credential": request.GET.get("credential"), "resource_group": "x"})  # fmt: skip
        typed = request.GET.get("location", "")
        location = aks.region_name(typed)
        versions, error = [], ""
        if not probe.is_valid():
            error = "Choose an Azure credential first."
        elif not f.REGION_RE.fullmatch(location):
            error = (
                f"“{typed}” is not a region: choose one from the list, e.g. eastus or West Europe."
            )
        else:
            versions, error = _versions(probe.cleaned_data["credential"], location)
            if not versions and not error:
                error = f"Azure offers no Kubernetes version in {location}."
        form = f.AksProvisionForm(versions=versions)
        return render(request, "clusters/azure/aks_versions.html", {"form": form, "versions_error": error})  # fmt: skip


class AksRegionsView(RoleRequiredMixin, View):
    """The region picker's options for the chosen credential (htmx): the regions where its
    subscription offers AKS, by display name."""

    read_role = Role.OPERATOR

    def get(self, request):
        probe = f.PreflightForm({"credential": request.GET.get("credential"), "resource_group": "x"})  # fmt: skip
        regions, error = [], ""
        if probe.is_valid():
            try:
                regions = aks.regions(service_principal_of(probe.cleaned_data["credential"]))
            except AzureError as exc:
                error = str(describe(exc))
        return render(request, "clusters/azure/_regions.html", {"regions": regions, "regions_error": error})  # fmt: skip


class AksPreflightView(RoleRequiredMixin, View):
    """Each check with pass/fail and its fix (htmx fragment)."""

    def post(self, request):
        form = f.PreflightForm(request.POST)
        if not form.is_valid():
            return render(
                request, "clusters/azure/aks_preflight.html", {"form_errors": form.errors}
            )
        sp = service_principal_of(form.cleaned_data["credential"])
        checks = preflight.run_preflight(sp, form.cleaned_data["resource_group"])
        return render(request, "clusters/azure/aks_preflight.html", _checks_context(checks, form.cleaned_data["credential"]))  # fmt: skip


class AksRegisterProvidersView(RoleRequiredMixin, View):
    def post(self, request):
        form = f.RegisterProvidersForm(request.POST)
        if not form.is_valid():
            return render(
                request, "clusters/azure/aks_preflight.html", {"form_errors": form.errors}
            )
        op = azure_services.providers_register_request(
            actor=Actor.from_request(request), **form.cleaned_data
        )
        if request.htmx:
            return render(request, "clusters/azure/aks_operation_fragment.html", {"op": op})
        return redirect("azure-operation", pk=op.pk)


class AzureOperationView(RoleRequiredMixin, View):
    """The operation page; htmx polls the fragment until the row says it has finished."""

    def get(self, request, pk: int):
        op = get_object_or_404(AzureOperation.objects.select_related("cluster"), pk=pk)
        if request.htmx:
            return render(request, "clusters/azure/aks_operation_fragment.html", {"op": op})
        return render(request, "clusters/azure/aks_operation.html", {"op": op})


CHANGES = {
    "scale": (f.ScaleForm, OperationKind.SCALE_POOL),
    "add-pool": (f.AddPoolForm, OperationKind.ADD_POOL),
    "remove-pool": (f.PoolNameForm, OperationKind.REMOVE_POOL),
    "upgrade": (f.UpgradeForm, OperationKind.UPGRADE),
}


class AksChangeView(RoleRequiredMixin, View):
    """Scale, add or remove a pool, upgrade: each queues one operation."""

    def post(self, request, pk: int, change: str):
        cluster = get_object_or_404(Cluster, pk=pk, kind="aks")
        if change not in CHANGES:
            return HttpResponse(status=404)
        form_class, kind = CHANGES[change]
        form = form_class(request.POST)
        if not form.is_valid():
            return self._refused(request, cluster, change, form)
        target, params = form.cleaned_data.get("pool", ""), None
        if change != "remove-pool":
            if change == "scale":
                target, params = form.cleaned_data["pool"], form.params()
            elif change == "add-pool":
                params = {**form.cleaned_data["pool"], "mode": "User"}
                target = params["name"]
            else:
                params = {"kubernetes_version": form.cleaned_data["kubernetes_version"]}
        try:
            op = azure_services.aks_operation_request(
                actor=Actor.from_request(request),
                cluster=cluster,
                kind=kind,
                target=target,
                params=params,  # fmt: skip
            )
        except azure_services.AzureInputError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return self._refused(request, cluster, change, form)
        return redirect("azure-operation", pk=op.pk)

    def _refused(self, request, cluster, change, form):
        context = {"cluster": cluster, "change": change, "form": form}
        return render(request, "clusters/azure/aks_change.html", context, status=400)


class AksUpgradeVersionsView(RoleRequiredMixin, View):
    """Versions from the cluster's upgrade profile (htmx fragment, loaded on the detail page)."""

    def get(self, request, pk: int):
        spec = get_object_or_404(AksCluster.objects.select_related("cluster"), cluster_id=pk)
        try:
            versions, error = aks.upgrade_versions(service_principal_of(spec.cluster.cloud_credential), spec), ""  # fmt: skip
        except AzureError as exc:
            versions, error = [], str(describe(exc))
        context = {"cluster": spec.cluster, "versions": versions, "versions_error": error}
        return render(request, "clusters/azure/aks_upgrade.html", context)


class AksDeleteView(RoleRequiredMixin, View):
    """Delete the cluster on Azure: the typed name is checked here, not only in the browser."""

    read_role = Role.ADMIN
    write_role = Role.ADMIN

    def get(self, request, pk: int):
        cluster = get_object_or_404(Cluster, pk=pk, kind="aks")
        return render(request, "clusters/azure/aks_delete.html", {"cluster": cluster, "form": f.DeleteForm(cluster=cluster)})  # fmt: skip

    def post(self, request, pk: int):
        cluster = get_object_or_404(Cluster, pk=pk, kind="aks")
        form = f.DeleteForm(request.POST, cluster=cluster)
        if form.is_valid():
            try:
                op = azure_services.aks_operation_request(
                    actor=Actor.from_request(request), cluster=cluster, kind=OperationKind.DELETE
                )
            except azure_services.AzureInputError as exc:
                form.add_error(None, exc.message)
            else:
                return redirect("azure-operation", pk=op.pk)
        context = {"cluster": cluster, "form": form}
        return render(request, "clusters/azure/aks_delete.html", context, status=400)


class FileShareListView(RoleRequiredMixin, View):
    def get(self, request):
        shares = list(FileShare.objects.select_related("cluster", "volume").order_by("account_name", "share_name"))  # fmt: skip
        operations = selectors.file_share_operations(shares)
        for share in shares:
            share.operation = operations.get(share.pk)
        return render(request, "clusters/azure/storage_list.html", {"shares": shares})


class FileShareCreateView(RoleRequiredMixin, View):
    read_role = Role.OPERATOR

    def get(self, request):
        form = f.FileShareForm(initial={"location": "eastus", "cluster": request.GET.get("cluster")})  # fmt: skip
        return render(request, "clusters/azure/storage_create.html", {"form": form})

    def post(self, request):
        form = f.FileShareForm(request.POST)
        if form.is_valid():
            try:
                op = azure_services.file_share_create(actor=Actor.from_request(request), **form.cleaned_data)  # fmt: skip
            except azure_services.AzureInputError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                return redirect("azure-operation", pk=op.pk)
        return render(request, "clusters/azure/storage_create.html", {"form": form}, status=400)


class FileShareDetailView(RoleRequiredMixin, View):
    """A directory of the share, listed with the data-plane SDK, and the upload form."""

    def get(self, request, pk: int):
        share = get_object_or_404(FileShare.objects.select_related("cluster", "volume"), pk=pk)
        return self._render(request, share, f.UploadForm(initial={"path": "input/"}))

    def _render(self, request, share, form, status: int = 200):
        directory = request.GET.get("directory", "").strip("/")
        entries, error = [], ""
        if share.file_endpoint:
            try:
                entries = storage.listing(share, directory)
            except AzureError as exc:
                error = str(describe(exc))
        parent = directory.rsplit("/", 1)[0] if "/" in directory else ""
        share.operation = selectors.file_share_operation(share)
        context = {"share": share, "entries": entries, "listing_error": error, "directory": directory, "parent": parent, "form": form}  # fmt: skip
        return render(request, "clusters/azure/storage_detail.html", context, status=status)


class FileShareUploadView(FileShareDetailView):
    def post(self, request, pk: int):
        share = get_object_or_404(FileShare.objects.select_related("cluster", "volume"), pk=pk)
        form = f.UploadForm(request.POST, request.FILES)
        if not form.is_valid():
            return self._render(request, share, form, status=400)
        path = form.cleaned_data["path"].strip("/")
        if path.endswith("/") or not path or form.cleaned_data["path"].endswith("/"):
            path = f"{path}/{form.cleaned_data['file'].name}".strip("/")
        try:
            storage.upload(share, path, form.cleaned_data["file"].read())
        except AzureError as exc:
            form.add_error("file", str(describe(exc)))
            return self._render(request, share, form, status=400)
        messages.success(request, f"Uploaded {path}.")
        directory = path.rsplit("/", 1)[0] if "/" in path else ""
        return redirect(f"{request.path.rsplit('upload/', 1)[0]}?directory={directory}")


class FileShareRetryView(RoleRequiredMixin, View):
    """A share whose creation failed: try again, or forget it."""

    def post(self, request, pk: int):
        share = get_object_or_404(FileShare.objects.select_related("cluster", "credential"), pk=pk)
        try:
            op = azure_services.file_share_retry(actor=Actor.from_request(request), share=share)
        except azure_services.AzureInputError as exc:
            messages.error(request, exc.message)
            return redirect("storage-detail", pk=share.pk)
        return redirect("azure-operation", pk=op.pk)


class FileShareRemoveView(RoleRequiredMixin, View):
    def post(self, request, pk: int):
        share = get_object_or_404(FileShare.objects.select_related("volume"), pk=pk)
        try:
            azure_services.file_share_remove(actor=Actor.from_request(request), share=share)
        except azure_services.AzureInputError as exc:
            messages.error(request, exc.message)
            return redirect("storage-detail", pk=share.pk)
        messages.success(request, f"Removed {share} from the panel; check Azure for what it had already made.")  # fmt: skip
        return redirect("storage-list")


class FileShareDownloadView(RoleRequiredMixin, View):
    def get(self, request, pk: int):
        share = get_object_or_404(FileShare, pk=pk)
        path = request.GET.get("path", "").strip("/")
        if not path:
            return HttpResponse("Give the file's path in the share.", status=400)
        try:
            data = storage.download(share, path)
        except AzureError as exc:
            return HttpResponse(str(describe(exc)), status=404, content_type="text/plain")
        response = HttpResponse(data, content_type="application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="{path.rsplit("/", 1)[-1]}"'
        return response


class RegistryListView(RoleRequiredMixin, View):
    """Registries, and the create-or-attach form (admin, like the API)."""

    write_role = Role.ADMIN

    def get(self, request):
        return self._render(request, f.RegistryForm(initial={"location": "eastus"}))

    def _render(self, request, form, status: int = 200):
        registries = ContainerRegistry.objects.all()
        return render(request, "clusters/azure/registry_list.html", {"registries": registries, "form": form}, status=status)  # fmt: skip

    def post(self, request):
        form = f.RegistryForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, 400)
        data, actor = form.cleaned_data, Actor.from_request(request)
        try:
            if data["mode"] == "create":
                op = registry_mod.registry_create(
                    actor=actor, credential=data["credential"], name=data["name"],
                    resource_group=data["resource_group"], location=data["location"], sku=data["sku"],
                )  # fmt: skip
                return redirect("azure-operation", pk=op.pk)
            registry = registry_mod.registry_attach(
                actor=actor, credential=data["credential"], resource_id=data["resource_id"],
                resource_group=data["resource_group"], name=data["name"],
            )  # fmt: skip
        except azure_services.AzureInputError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return self._render(request, form, 400)
        messages.success(request, f"Attached {registry.login_server}.")
        return redirect("registry-detail", pk=registry.pk)


class RegistryDetailView(RoleRequiredMixin, View):
    """A registry's pull secrets and the form that makes one in a cluster namespace."""

    def get(self, request, pk: int):
        registry = get_object_or_404(ContainerRegistry, pk=pk)
        return self._render(request, registry, f.PullSecretForm())

    def _render(self, request, registry, form, status: int = 200):
        secrets = registry.pull_secrets.select_related("cluster")
        context = {"registry": registry, "pull_secrets": secrets, "form": form}
        return render(request, "clusters/azure/registry_detail.html", context, status=status)

    def post(self, request, pk: int):
        registry = get_object_or_404(ContainerRegistry, pk=pk)
        form = f.PullSecretForm(request.POST)
        if not form.is_valid():
            return self._render(request, registry, form, 400)
        try:
            secret = registry_mod.pull_secret_create(actor=Actor.from_request(request), registry=registry, **form.cleaned_data)  # fmt: skip
        except azure_services.AzureInputError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return self._render(request, registry, form, 400)
        except (AzureFailure, AzureError) as exc:
            failure = exc if isinstance(exc, AzureFailure) else describe(exc)
            form.add_error(None, str(failure))
            return self._render(request, registry, form, 400)
        messages.success(request, f"Pull secret {secret.secret_name} is in {secret.namespace}.")
        return redirect("registry-detail", pk=registry.pk)


class AksKubeconfigView(RoleRequiredMixin, View):
    """POST: the admin or user kubeconfig of an AKS cluster, as a download (admins; audited).
    Fetched from Azure for this response only, never stored or shown again."""

    read_role = Role.ADMIN
    write_role = Role.ADMIN

    def post(self, request, pk: int, which: str):
        cluster = get_object_or_404(Cluster, pk=pk, kind="aks")
        try:
            text = azure_services.aks_kubeconfig_download(
                actor=Actor.from_request(request), cluster=cluster, which=which
            )
        except azure_services.AzureInputError as exc:
            messages.error(request, exc.message)
            return redirect("cluster-detail", pk=cluster.pk)
        response = HttpResponse(text, content_type="application/yaml")
        response["Content-Disposition"] = (
            f'attachment; filename="{cluster.name}-{which}.kubeconfig"'
        )
        response["Cache-Control"] = "no-store"
        return response
