"""Top-level URL map: every app's pages, the REST API, its schema and docs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from controlpanel import views
from controlpanel.metrics import metrics_view

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("", include("core.urls")),
    path("", include("clusters.urls")),
    path("", include("workloads.urls")),
    path("", include("cameras.urls")),
    path("", include("faces.urls")),
    path("admin/", admin.site.urls),
    path("api/", include(("controlpanel.api.urls", "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

handler404 = "core.views.page_not_found"
