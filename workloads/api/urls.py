from rest_framework.routers import DefaultRouter

from workloads.api.views import RunViewSet, TemplateViewSet

router = DefaultRouter()
router.register("templates", TemplateViewSet, basename="template")
router.register("runs", RunViewSet, basename="run")
urlpatterns = router.urls
