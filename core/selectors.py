"""Reads about accounts: roles and tokens."""

from __future__ import annotations

import hashlib

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
