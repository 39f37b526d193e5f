"""Run and template pages."""

from django.urls import path

from workloads import views

urlpatterns = [
    path("runs/", views.RunListView.as_view(), name="run-list"),
    path("runs/<id:pk>/", views.RunDetailView.as_view(), name="run-detail"),
    path("runs/<id:pk>/yaml/", views.RunYamlView.as_view(), name="run-yaml"),
    path("runs/<id:pk>/status/", views.RunStatusFragmentView.as_view(), name="run-status"),
    path("runs/<id:pk>/cancel/", views.RunCancelView.as_view(), name="run-cancel"),
    path("runs/<id:pk>/rerun/", views.RunRerunView.as_view(), name="run-rerun"),
    path("runs/<id:pk>/delete/", views.RunDeleteView.as_view(), name="run-delete"),
    path("runs/<id:pk>/outputs/<id:output_pk>/", views.RunOutputView.as_view(), name="run-output"),
    path(
        "runs/<id:pk>/outputs/<id:output_pk>/poster.jpg",
        views.RunOutputPosterView.as_view(),
        name="run-output-poster",
    ),
    path(
        "runs/<id:pk>/results/<id:result_pk>/image/",
        views.FaceResultImageView.as_view(),
        name="run-result-image",
    ),
    path("runs/<id:pk>/log.txt", views.RunLogDownloadView.as_view(), name="run-log-download"),
    path("templates/", views.TemplateListView.as_view(), name="template-list"),
    path("templates/<slug:slug>/run/", views.TemplateRunView.as_view(), name="template-run"),
    path(
        "templates/<slug:slug>/preview/",
        views.TemplatePreviewView.as_view(),
        name="template-preview",
    ),
    path("templates/<slug:slug>/save-as/", views.TemplateSaveView.as_view(), name="template-save"),
    path(
        "templates/<slug:slug>/delete/", views.TemplateDeleteView.as_view(), name="template-delete"
    ),
]
