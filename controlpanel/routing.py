"""Websocket URL map: every app's sockets."""

from cameras.routing import websocket_urlpatterns as camera_sockets
from clusters.routing import websocket_urlpatterns as cluster_sockets
from workloads.routing import websocket_urlpatterns as run_sockets

websocket_urlpatterns = [*run_sockets, *camera_sockets, *cluster_sockets]
