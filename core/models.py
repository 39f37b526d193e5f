"""Accounts (roles, API tokens) and the audit log."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.choices import AuditAction, Role


class Profile(models.Model):
    """The panel-specific side of a user: the role that decides what they may do."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 digest is stored; the token is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise it.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditEvent(models.Model):
    """Who did what to which object, when and from where. Never holds a secret."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    object_type = models.CharField(max_length=50, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    via = models.CharField(
        max_length=150, blank=True, help_text="How the actor came in, e.g. the API token's name."
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.object_label}"

    @property
    def object_label(self) -> str:
        """The object named once: "run 10 (...)", not "run run 10 (...)"."""
        words = self.object_repr.lower()
        if not self.object_type or words.startswith(self.object_type.lower()):
            return self.object_repr
        return f"{self.object_type} {self.object_repr}".strip()

    @property
    def change_items(self) -> list[tuple[str, str]]:
        """`changes` as (field, value) in words: [old, new] pairs become "old → new"."""

        def words(value) -> str:
            if (
                isinstance(value, list)
                and len(value) == 2
                and not any(isinstance(v, list | dict) for v in value)
            ):
                return f"{words(value[0])} → {words(value[1])}"
            if isinstance(value, list):
                return ", ".join(words(item) for item in value) or "none"
            if isinstance(value, dict):
                return "; ".join(f"{key}: {words(item)}" for key, item in value.items())
            if value is None or value == "":
                return "empty"
            if isinstance(value, bool):
                return "yes" if value else "no"
            return str(value)

        changes = self.changes if isinstance(self.changes, dict) else {"value": self.changes}
        return [(str(key).replace("_", " "), words(value)) for key, value in changes.items()]
