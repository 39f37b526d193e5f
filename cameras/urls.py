"""Camera pages: the wall, one camera, add and delete."""

from django.urls import path

from cameras import views

urlpatterns = [
    path("cameras/", views.CameraWallView.as_view(), name="camera-list"),
    path(
        "cameras/akri-refresh/", views.CameraAkriRefreshView.as_view(), name="camera-akri-refresh"
    ),
    path("cameras/new/", views.CameraCreateView.as_view(), name="camera-create"),
    path("cameras/<id:pk>/", views.CameraDetailView.as_view(), name="camera-detail"),
    path("cameras/<id:pk>/viewers/", views.CameraViewersView.as_view(), name="camera-viewers"),
    path("cameras/<id:pk>/delete/", views.CameraDeleteView.as_view(), name="camera-delete"),
]
