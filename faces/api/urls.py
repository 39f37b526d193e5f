from core.api.routers import Router
from faces.api.views import FaceImageViewSet, PersonViewSet

router = Router()
router.register("people", PersonViewSet, basename="person")
router.register("faces", FaceImageViewSet, basename="faceimage")
urlpatterns = router.urls
