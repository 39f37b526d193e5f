"""Pages for AKS clusters, Azure operations, file shares and container registries."""

from django.urls import path

from clusters.azure import views as v

urlpatterns = [
    path("aks/", v.AksListView.as_view(), name="aks-list"),
    path("aks/new/", v.AksCreateView.as_view(), name="aks-create"),
    path("aks/versions/", v.AksVersionsView.as_view(), name="aks-versions"),
    path("aks/regions/", v.AksRegionsView.as_view(), name="aks-regions"),
    path("aks/preflight/", v.AksPreflightView.as_view(), name="aks-preflight"),
    path(
        "aks/register-providers/",
        v.AksRegisterProvidersView.as_view(),
        name="aks-register-providers",
    ),  # fmt: skip
    path("aks/<id:pk>/delete/", v.AksDeleteView.as_view(), name="aks-delete"),
    path(
        "aks/<id:pk>/kubeconfig/<str:which>/", v.AksKubeconfigView.as_view(), name="aks-kubeconfig"
    ),
    path(
        "aks/<id:pk>/upgrade-versions/",
        v.AksUpgradeVersionsView.as_view(),
        name="aks-upgrade-versions",
    ),  # fmt: skip
    path("aks/<id:pk>/<slug:change>/", v.AksChangeView.as_view(), name="aks-change"),
    path("azure-operations/<id:pk>/", v.AzureOperationView.as_view(), name="azure-operation"),
    path("storage/", v.FileShareListView.as_view(), name="storage-list"),
    path("storage/new/", v.FileShareCreateView.as_view(), name="storage-create"),
    path("storage/<id:pk>/", v.FileShareDetailView.as_view(), name="storage-detail"),
    path("storage/<id:pk>/retry/", v.FileShareRetryView.as_view(), name="storage-retry"),
    path("storage/<id:pk>/remove/", v.FileShareRemoveView.as_view(), name="storage-remove"),
    path("storage/<id:pk>/upload/", v.FileShareUploadView.as_view(), name="storage-upload"),
    path("storage/<id:pk>/download/", v.FileShareDownloadView.as_view(), name="storage-download"),
    path("registries/", v.RegistryListView.as_view(), name="registry-list"),
    path("registries/<id:pk>/", v.RegistryDetailView.as_view(), name="registry-detail"),
]
