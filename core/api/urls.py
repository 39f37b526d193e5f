from django.urls import include, path

from core.api.routers import Router
from core.api.views import ApiTokenViewSet, AuditEventViewSet, MeView, UserViewSet

router = Router()
router.register("users", UserViewSet, basename="user")
router.register("tokens", ApiTokenViewSet, basename="apitoken")
router.register("audit", AuditEventViewSet, basename="auditevent")

urlpatterns = [
    path("me/", MeView.as_view(), name="api-me"),
    path("", include(router.urls)),
]
