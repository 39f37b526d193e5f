"""Websocket URL map of the cameras app."""

from django.urls import path

from cameras.consumers import CameraFrameConsumer

websocket_urlpatterns = [
    path("ws/cameras/<id:camera_id>/frames/", CameraFrameConsumer.as_asgi()),
]
