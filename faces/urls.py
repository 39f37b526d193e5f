"""Face service pages."""

from django.urls import path

from faces import views

urlpatterns = [
    path("faces/images/<id:pk>/thumbnail.jpg", views.ImageThumbnailView.as_view(),
         name="face-image-thumbnail"),
    path("faces/known/<id:pk>/thumbnail.jpg", views.KnownThumbnailView.as_view(),
         name="known-face-thumbnail"),
]  # fmt: skip
