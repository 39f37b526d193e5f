"""`Authorization: Token <token>` for the REST API (personal tokens, stored hashed)."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions

from core.models import ApiToken
from core.selectors import token_get_active


class ApiTokenAuthentication(authentication.TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key: str):
        token = token_get_active(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token
