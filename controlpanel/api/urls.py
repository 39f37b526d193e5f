"""The REST API: /api/..."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from controlpanel.api.views import ApiTokenViewSet, AuditEventViewSet, MeView, UserViewSet

router = DefaultRouter()
router.register("users", UserViewSet, basename="user")
router.register("tokens", ApiTokenViewSet, basename="apitoken")
router.register("audit", AuditEventViewSet, basename="auditevent")

urlpatterns = [
    path("me/", MeView.as_view(), name="api-me"),
    path("", include("clusters.api.urls")),
    path("", include("workloads.api.urls")),
    path("", include(router.urls)),
]
