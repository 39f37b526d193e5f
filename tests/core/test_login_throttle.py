"""Log-in throttling, written as the attack: guessing passwords until the right one."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import F
from django.http import HttpRequest
from django.urls import reverse

from core.choices import AuditAction
from core.models import AuditEvent
from tests.fixtures.accounts import PASSWORD

pytestmark = pytest.mark.smoke

ATTACKER = "198.51.100.66"


@pytest.fixture(autouse=True)
def quick_password_hashing(settings):
    """Dozens of log-ins per test: hash with a cheap algorithm (the users are created after
    this, so theirs is one too). What is tested is the counting, not the hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def log_in(client, password: str, address: str = ATTACKER, username: str = "ada", **extra):
    return client.post(
        reverse("login"), {"username": username, "password": password},
        REMOTE_ADDR=address, **extra,
    )  # fmt: skip


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def guess(client, times: int, **kwargs) -> None:
    for n in range(times):
        log_in(client, f"wrong guess {n}", **kwargs)


def test_ten_wrong_passwords_then_the_right_one_is_refused_and_the_page_says_until_when(
    client, admin_user
):
    guess(client, 10)
    response = log_in(client, PASSWORD)

    assert response.status_code == 429
    assert not logged_in(client)
    page = response.content.decode()
    assert "Too many failed log-ins for this account from your address" in page
    assert "You can try again at" in page and "(in 14" in page  # minutes of the 15 min cool-off


def test_the_lock_out_is_in_the_audit_log_once_with_the_address(client, admin_user):
    guess(client, 10)

    lockouts = AuditEvent.objects.filter(action=AuditAction.LOCKOUT)
    assert [(e.object_repr, e.ip_address) for e in lockouts] == [("ada", ATTACKER)]
    assert lockouts.get().changes == {"failures": settings.AXES_FAILURE_LIMIT}
    failed = AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED, object_repr="ada")
    assert failed.count() == 10
    assert not any("wrong guess" in str(e.changes) for e in AuditEvent.objects.all())


def test_after_the_cool_off_the_right_password_works(client, admin_user):
    guess(client, settings.AXES_FAILURE_LIMIT)
    assert log_in(client, PASSWORD).status_code == 429
    # The clock moves past the cool-off (the attempts are that much older).
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME)

    response = log_in(client, PASSWORD)

    assert response.status_code == 302 and response.url == reverse("home")
    assert logged_in(client)


def test_the_account_is_not_locked_out_from_another_address(client, admin_user):
    """The lock is per account and address: an attacker cannot lock an admin out from
    everywhere by guessing their password."""
    guess(client, 10)

    response = log_in(client, PASSWORD, address="192.0.2.10")

    assert response.status_code == 302
    assert logged_in(client)


def test_a_forged_forwarded_for_does_not_dodge_the_lock(client, admin_user):
    """X-Forwarded-For from a client that is not a trusted proxy counts for nothing."""
    guess(client, 10)

    response = log_in(client, PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.10")

    assert response.status_code == 429
    assert not logged_in(client)


def test_behind_a_trusted_proxy_the_forwarded_client_is_what_is_locked(
    client, admin_user, settings
):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    guess(client, 10, address="10.0.0.1", HTTP_X_FORWARDED_FOR=ATTACKER)

    refused = log_in(client, PASSWORD, address="10.0.0.1", HTTP_X_FORWARDED_FOR=ATTACKER)
    allowed = log_in(client, PASSWORD, address="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.10")

    assert refused.status_code == 429
    assert allowed.status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}


def test_a_successful_log_in_resets_the_count(client, admin_user):
    below = settings.AXES_FAILURE_LIMIT - 1
    guess(client, below)
    assert log_in(client, PASSWORD).status_code == 302
    client.post(reverse("logout"))

    guess(client, below)  # as many again: locked out if the first ones still counted
    response = log_in(client, PASSWORD)

    assert response.status_code == 302
    assert logged_in(client)


def test_the_admin_sites_log_in_is_throttled_too(client, admin_user):
    for n in range(10):
        client.post(
            "/admin/login/", {"username": "ada", "password": f"guess {n}"}, REMOTE_ADDR=ATTACKER
        )

    response = client.post(
        "/admin/login/", {"username": "ada", "password": PASSWORD}, REMOTE_ADDR=ATTACKER
    )

    assert response.status_code == 429
    assert not logged_in(client)


def test_the_test_clients_log_ins_still_work(client, admin_client, admin_user):
    """Throttling sees every authenticate() and needs its request: fixtures use force_login
    (no password check), and the test client's login() is given a request."""
    assert admin_client.get(reverse("home")).status_code == 200
    assert client.login(request=HttpRequest(), username="ada", password=PASSWORD)


def test_the_api_takes_no_password_so_there_is_none_to_guess_there(client, admin_user):
    """The API authenticates with tokens (and the page session) only: HTTP Basic with the right
    password is refused. Should a password path ever be added, it needs throttling too."""
    import base64

    basic = base64.b64encode(f"ada:{PASSWORD}".encode()).decode()

    response = client.get(reverse("api:api-me"), HTTP_AUTHORIZATION=f"Basic {basic}")

    assert response.status_code in (401, 403)
