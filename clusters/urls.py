from django.urls import include, path

from clusters import views

urlpatterns = [
    path("clusters/", views.ClusterListView.as_view(), name="cluster-list"),
    path("clusters/health/", views.ClusterHealthTableView.as_view(), name="cluster-health-table"),
    path("clusters/import/", views.ClusterImportView.as_view(), name="cluster-import"),
    path(
        "clusters/import/contexts/",
        views.KubeconfigContextsView.as_view(),
        name="cluster-import-contexts",
    ),
    path("clusters/<id:pk>/", views.ClusterDetailView.as_view(), name="cluster-detail"),
    path("clusters/<id:pk>/akri/", views.ClusterAkriView.as_view(), name="cluster-akri"),
    path("clusters/<id:pk>/edit/", views.ClusterEditView.as_view(), name="cluster-edit"),
    path(
        "clusters/<id:pk>/pod-security/",
        views.ClusterPodSecurityView.as_view(),
        name="cluster-pod-security",
    ),
    path(
        "clusters/<id:pk>/gpu/device-plugin/",
        views.ClusterDevicePluginView.as_view(),
        name="cluster-device-plugin",
    ),
    path("clusters/<id:pk>/refresh/", views.ClusterRefreshView.as_view(), name="cluster-refresh"),
    path("clusters/<id:pk>/delete/", views.ClusterDeleteView.as_view(), name="cluster-delete"),
    path("credentials/", views.CredentialListView.as_view(), name="credential-list"),
    path("credentials/new/", views.CredentialCreateView.as_view(), name="credential-create"),
    path("credentials/<id:pk>/edit/", views.CredentialEditView.as_view(), name="credential-edit"),
    path(
        "credentials/<id:pk>/delete/",
        views.CredentialDeleteView.as_view(),
        name="credential-delete",
    ),
    path("credentials/<id:pk>/test/", views.CredentialTestView.as_view(), name="credential-test"),
    path("", include("clusters.azure.urls")),
    path("", include("clusters.explorer.urls")),
]
