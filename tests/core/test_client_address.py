"""The audit log's address: X-Forwarded-For counts only from the proxies an admin trusts."""

from __future__ import annotations

import pytest

from core.models import AuditEvent

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def _token_created_from(api, **meta) -> str | None:
    api.post("/api/tokens/", {"name": "from somewhere"}, format="json", **meta)
    return AuditEvent.objects.filter(object_type="apitoken").latest("id").ip_address


def test_a_forged_forwarded_for_is_ignored(viewer_api):
    """Without a trusted proxy the header is anyone's to write: the connection's address is
    stored, never the header's (an address, or a script tag)."""
    assert _token_created_from(viewer_api, HTTP_X_FORWARDED_FOR="203.0.113.77") == "127.0.0.1"
    forged = "<script>alert(1)</script>"
    assert _token_created_from(viewer_api, HTTP_X_FORWARDED_FOR=forged) == "127.0.0.1"


def test_behind_a_trusted_proxy_the_client_it_names_is_stored(viewer_api, settings):
    """The nearest address that is not a trusted proxy: a client cannot forge what the proxy
    appends after its own claim."""
    settings.TRUSTED_PROXIES = ["127.0.0.0/8", "10.0.0.5"]
    chain = "198.51.100.9, 203.0.113.77, 10.0.0.5"
    assert _token_created_from(viewer_api, HTTP_X_FORWARDED_FOR=chain) == "203.0.113.77"
    assert _token_created_from(viewer_api, HTTP_X_FORWARDED_FOR="not-an-ip") == "127.0.0.1"
