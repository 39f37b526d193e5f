"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlpanel.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from controlpanel.routing import websocket_urlpatterns  # noqa: E402
from core.crypto import verify_keys  # noqa: E402
from core.websockets import WebsocketAuthMiddleware  # noqa: E402

# Refuse to serve with keys that cannot read the stored secrets (the message says how to fix it).
if os.environ.get("CONTROLPANEL_SKIP_KEY_CHECK") != "1":
    verify_keys()

# Websockets: foreign origins refused, then session or API token, then the consumers.
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": WebsocketAuthMiddleware(URLRouter(websocket_urlpatterns)),
    }
)
