from clusters.azure.api.views import (
    AksClusterViewSet,
    AzureOperationViewSet,
    ContainerRegistryViewSet,
    FileShareViewSet,
)
from core.api.routers import Router

router = Router()
router.register("aks", AksClusterViewSet, basename="aks")
router.register("azure-operations", AzureOperationViewSet, basename="azure-operation")
router.register("file-shares", FileShareViewSet, basename="file-share")
router.register("registries", ContainerRegistryViewSet, basename="registry")
urlpatterns = router.urls
