"""Face service pages."""

from django.urls import path

from faces import views

urlpatterns = [
    path("faces/", views.FaceListView.as_view(), name="face-list"),
    path("faces/rows/", views.FaceRowsView.as_view(), name="face-rows"),
    path("faces/service/", views.FaceServiceView.as_view(), name="face-service"),
    path("faces/submit/", views.FaceSubmitView.as_view(), name="face-submit"),
    path("faces/retry/", views.FaceRetryView.as_view(), name="face-retry"),
    path("faces/images/<id:pk>/", views.FaceImageView.as_view(), name="face-detail"),
    path("faces/images/<id:pk>/retry/", views.FaceImageRetryView.as_view(),
         name="face-image-retry"),
    path("faces/images/<id:pk>/delete/", views.FaceImageDeleteView.as_view(),
         name="face-image-delete"),
    path("faces/images/<id:pk>/faces/<id:face_pk>/name/", views.FaceNameView.as_view(),
         name="face-name"),
    path("faces/images/<id:pk>/thumbnail.jpg", views.ImageThumbnailView.as_view(),
         name="face-image-thumbnail"),
    path("faces/known/<id:pk>/thumbnail.jpg", views.KnownThumbnailView.as_view(),
         name="known-face-thumbnail"),
    path("people/", views.PersonListView.as_view(), name="person-list"),
    path("people/<id:pk>/", views.PersonDetailView.as_view(), name="person-detail"),
    path("people/<id:pk>/rename/", views.PersonRenameView.as_view(), name="person-rename"),
    path("people/<id:pk>/delete/", views.PersonDeleteView.as_view(), name="person-delete"),
    path("people/<id:pk>/images/", views.KnownFaceAddView.as_view(), name="person-image-add"),
    path("people/<id:pk>/images/<id:known_pk>/remove/", views.KnownFaceRemoveView.as_view(),
         name="person-image-remove"),
]  # fmt: skip
