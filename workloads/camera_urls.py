"""Camera pages and the live log download (included from workloads.urls)."""

from django.urls import path

from workloads import camera_views, live_log_views

urlpatterns = [
    path("cameras/", camera_views.CameraWallView.as_view(), name="camera-list"),
    path("cameras/new/", camera_views.CameraCreateView.as_view(), name="camera-create"),
    path("cameras/<int:pk>/", camera_views.CameraDetailView.as_view(), name="camera-detail"),
    path("cameras/<int:pk>/delete/", camera_views.CameraDeleteView.as_view(), name="camera-delete"),
    path(
        "runs/<int:pk>/log.txt",
        live_log_views.RunLogDownloadView.as_view(),
        name="run-log-download",
    ),
]
