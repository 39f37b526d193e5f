from rest_framework.routers import DefaultRouter

from clusters.api.azure_registries import ContainerRegistryViewSet
from clusters.api.azure_storage import FileShareViewSet
from clusters.api.azure_views import AksClusterViewSet, AzureOperationViewSet
from clusters.api.views import ClusterViewSet, CredentialViewSet

router = DefaultRouter()
router.register("credentials", CredentialViewSet, basename="credential")
router.register("clusters", ClusterViewSet, basename="cluster")
router.register("aks", AksClusterViewSet, basename="aks")
router.register("azure-operations", AzureOperationViewSet, basename="azure-operation")
router.register("file-shares", FileShareViewSet, basename="file-share")
router.register("registries", ContainerRegistryViewSet, basename="registry")
urlpatterns = router.urls
