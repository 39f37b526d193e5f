from django.urls import include, path
from rest_framework.routers import DefaultRouter

from clusters.api.views import ClusterViewSet, CredentialViewSet

router = DefaultRouter()
router.register("credentials", CredentialViewSet, basename="credential")
router.register("clusters", ClusterViewSet, basename="cluster")
urlpatterns = [*router.urls, path("", include("clusters.azure.api.urls"))]
