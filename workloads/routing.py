"""Websocket URL map of the workloads app."""

from django.urls import path

from workloads.consumers import RunLogConsumer

websocket_urlpatterns = [
    path("ws/runs/<id:run_id>/logs/", RunLogConsumer.as_asgi()),
]
