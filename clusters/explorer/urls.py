"""Pages of the explorer, under a cluster."""

from django.urls import path

from clusters.explorer import views as v

urlpatterns = [
    path("clusters/<id:pk>/explore/", v.ExplorerListView.as_view(), name="explorer"),
    path("clusters/<id:pk>/explore/nodes/", v.NodesView.as_view(), name="explorer-nodes"),
    path(
        "clusters/<id:pk>/explore/<slug:kind>/", v.ExplorerListView.as_view(), name="explorer-list"
    ),
    path(
        "clusters/<id:pk>/explore/<slug:kind>/-/<str:name>/",
        v.ExplorerDetailView.as_view(),
        name="explorer-detail-cluster",
    ),
    path(
        "clusters/<id:pk>/explore/<slug:kind>/<slug:namespace>/<str:name>/",
        v.ExplorerDetailView.as_view(),
        name="explorer-detail",
    ),
    path(
        "clusters/<id:pk>/explore/<slug:kind>/<slug:namespace>/<str:name>/<slug:action>/",
        v.ExplorerActionView.as_view(),
        name="explorer-action",
    ),
]
