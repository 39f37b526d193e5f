"""REST routes of the explorer, under /api/clusters/{id}/."""

from django.urls import path

from clusters.explorer.api import views as v

urlpatterns = [
    path("clusters/<id:pk>/nodes/", v.NodesView.as_view(), name="api-explorer-nodes"),
    path("clusters/<id:pk>/health-history/", v.HealthHistoryView.as_view(), name="api-explorer-health"),
    path(
        "clusters/<id:pk>/namespaces/<slug:namespace>/deployments/<str:name>/restart/",
        v.RestartView.as_view(), name="api-explorer-restart",
    ),
    path(
        "clusters/<id:pk>/namespaces/<slug:namespace>/<slug:kind>/<str:name>/scale/",
        v.ScaleView.as_view(), name="api-explorer-scale",
    ),
    path(
        "clusters/<id:pk>/namespaces/<slug:namespace>/<slug:kind>/",
        v.NamespacedListView.as_view(), name="api-explorer-namespaced-list",
    ),
    path(
        "clusters/<id:pk>/namespaces/<slug:namespace>/<slug:kind>/<str:name>/",
        v.ObjectDetailView.as_view(), name="api-explorer-detail",
    ),
    path("clusters/<id:pk>/objects/<slug:kind>/", v.ObjectListView.as_view(), name="api-explorer-list"),
    path(
        "clusters/<id:pk>/objects/<slug:kind>/<str:name>/",
        v.ClusterObjectDetailView.as_view(), name="api-explorer-cluster-detail",
    ),
]  # fmt: skip
