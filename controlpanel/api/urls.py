"""The REST API: /api/... gathered from every app's api/urls.py."""

from django.urls import include, path

urlpatterns = [
    path("", include("clusters.api.urls")),
    path("", include("workloads.api.urls")),
    path("", include("cameras.api.urls")),
    path("", include("core.api.urls")),
    path("", include("faces.api.urls")),
]
