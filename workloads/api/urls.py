from core.api.routers import Router
from workloads.api.views import RunViewSet, TemplateViewSet

router = Router()
router.register("templates", TemplateViewSet, basename="template")
router.register("runs", RunViewSet, basename="run")
urlpatterns = router.urls
