"""Websocket URL map of the clusters app."""

from django.urls import path

from clusters.explorer.consumers import PodLogConsumer

websocket_urlpatterns = [
    path(
        "ws/clusters/<id:cluster_id>/namespaces/<slug:namespace>/pods/<str:pod>/logs/"
        "<str:container>/<str:which>/",
        PodLogConsumer.as_asgi(),
    ),
]
