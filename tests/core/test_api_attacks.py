"""Requests an outside tester sent to the accounts API, and the answers they must get."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from core.models import ApiToken

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_json_nested_a_thousand_deep_is_a_400(viewer_api):
    """Any role could turn a deeply nested body into a server error; now it is bad input."""
    body = '{"name": ' + "[" * 1000 + "]" * 1000 + "}"
    before = ApiToken.objects.count()
    response = viewer_api.post("/api/tokens/", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]["message"]
    assert ApiToken.objects.count() == before


def test_a_megabyte_password_is_refused(admin_api):
    response = admin_api.post(
        "/api/users/",
        {"username": "big", "role": "viewer", "password": "Aa1!" * 250_000},
        format="json",
    )
    assert response.status_code == 400
    assert "password" in response.json()["error"]["fields"]
    assert not get_user_model().objects.filter(username="big").exists()
