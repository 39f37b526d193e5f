from cameras.api.views import CameraViewSet
from core.api.routers import Router

router = Router()
router.register("cameras", CameraViewSet, basename="camera")
urlpatterns = router.urls
