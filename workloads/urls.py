"""Run and template pages."""

from django.urls import path

from workloads import views

urlpatterns = [
    path("runs/", views.RunListView.as_view(), name="run-list"),
    path("runs/<int:pk>/", views.RunDetailView.as_view(), name="run-detail"),
    path("runs/<int:pk>/status/", views.RunStatusFragmentView.as_view(), name="run-status"),
    path("runs/<int:pk>/cancel/", views.RunCancelView.as_view(), name="run-cancel"),
    path("runs/<int:pk>/rerun/", views.RunRerunView.as_view(), name="run-rerun"),
    path("runs/<int:pk>/delete/", views.RunDeleteView.as_view(), name="run-delete"),
    path(
        "runs/<int:pk>/outputs/<int:output_pk>/", views.RunOutputView.as_view(), name="run-output"
    ),
    path(
        "runs/<int:pk>/results/<int:result_pk>/image/",
        views.FaceResultImageView.as_view(),
        name="run-result-image",
    ),
    path("runs/<int:pk>/log.txt", views.RunLogDownloadView.as_view(), name="run-log-download"),
    path("templates/", views.TemplateListView.as_view(), name="template-list"),
    path("templates/<slug:slug>/run/", views.TemplateRunView.as_view(), name="template-run"),
    path("templates/<slug:slug>/save-as/", views.TemplateSaveView.as_view(), name="template-save"),
    path(
        "templates/<slug:slug>/delete/", views.TemplateDeleteView.as_view(), name="template-delete"
    ),
]
