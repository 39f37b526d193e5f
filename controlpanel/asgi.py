"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlpanel.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from controlpanel.crypto import verify_keys  # noqa: E402

# Refuse to serve with keys that cannot read the stored secrets (the message says how to fix it).
if os.environ.get("CONTROLPANEL_SKIP_KEY_CHECK") != "1":
    verify_keys()

application = ProtocolTypeRouter({"http": django_asgi_app})
