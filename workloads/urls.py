from django.urls import include, path

urlpatterns: list = [
    path("", include("workloads.camera_urls")),  # cameras (live frames)
    path("", include("workloads.page_urls")),  # runs and templates
]
