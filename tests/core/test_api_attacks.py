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


def test_an_admin_cannot_delete_demote_or_deactivate_themselves(admin_user, admin_api):
    """A fuzzer (or a slip) deleted the only admin through the API; the pages refused it
    already, and now the rule lives where both go through."""
    me = f"/api/users/{admin_user.pk}/"
    assert admin_api.delete(me).status_code == 400
    assert admin_api.patch(me, {"role": "viewer"}, format="json").status_code == 400
    assert admin_api.patch(me, {"is_active": False}, format="json").status_code == 400
    admin_user.refresh_from_db()
    assert admin_user.is_active and admin_user.profile.role == "admin"
    assert admin_api.patch(me, {"email": "me@example.org"}, format="json").status_code == 200


def test_an_admin_can_still_delete_someone_else(admin_api, viewer_user):
    assert admin_api.delete(f"/api/users/{viewer_user.pk}/").status_code == 204
