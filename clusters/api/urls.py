from django.urls import include, path

from clusters.api.views import ClusterViewSet, CredentialViewSet
from core.api.routers import Router

router = Router()
router.register("credentials", CredentialViewSet, basename="credential")
router.register("clusters", ClusterViewSet, basename="cluster")
urlpatterns = [
    *router.urls,
    path("", include("clusters.azure.api.urls")),
    path("", include("clusters.explorer.api.urls")),
]
