"""Reads about accounts: roles, tokens, log-in lock-outs."""

from __future__ import annotations

import hashlib
from datetime import datetime

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from core.choices import ROLE_RANK, Role
from core.models import ApiToken


def role_of(user: AbstractBaseUser | AnonymousUser | None) -> Role | None:
    """The user's role; superusers are admins; anonymous or inactive users have none."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    profile = getattr(user, "profile", None)
    return Role(profile.role) if profile else Role.VIEWER


def has_role(user, role: Role | str) -> bool:
    current = role_of(user)
    return current is not None and ROLE_RANK[current] >= ROLE_RANK[Role(role)]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_get_active(token: str) -> ApiToken | None:
    """The active token row for a presented token, with its user, or None."""
    return (
        ApiToken.objects.select_related("user", "user__profile")
        .filter(digest=token_digest(token), revoked_at__isnull=True, user__is_active=True)
        .first()
    )


def login_locked_until(*, username: str, ip_address: str | None) -> datetime | None:
    """When log-ins for `username` from `ip_address` may be tried again (the cool-off runs from
    the latest failure), or None if they are not counted."""
    cool_off = get_cool_off()
    latest = (
        AccessAttempt.objects.filter(username=username, ip_address=ip_address)
        .order_by("-attempt_time")
        .values_list("attempt_time", flat=True)
        .first()
    )
    return latest + cool_off if latest is not None and cool_off else None
