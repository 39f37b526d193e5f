"""Writes about accounts and the audit log."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from core.choices import AuditAction, Role
from core.models import ApiToken, AuditEvent, Profile
from core.networks import Address, address_in, networks
from core.selectors import role_of, token_digest

User = get_user_model()
TOKEN_PREFIX = "cp_"


def _address(text: str | None) -> Address | None:
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


def client_address(meta: dict) -> str | None:
    """Where a request came from, as a valid IP address or None.

    `X-Forwarded-For` is anyone's to write, so it counts only when the connection comes from
    one of TRUSTED_PROXIES (none by default); then the address is the nearest one in it that is
    not a trusted proxy itself."""
    remote = _address(meta.get("REMOTE_ADDR"))
    proxies = networks("TRUSTED_PROXIES", tuple(settings.TRUSTED_PROXIES))
    if remote is None or not address_in(remote, proxies):
        return str(remote) if remote else None
    hops = [hop for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # a malformed chain: believe no more of it
        remote = address
        if not address_in(address, proxies):
            break
    return str(remote)


def request_client_address(request) -> str | None:
    """`client_address` of a request: the address log-in throttling counts failures by."""
    return client_address(request.META)


@dataclass(frozen=True)
class Actor:
    """Who acts, and from where: built from a request, or for the system itself."""

    user: AbstractUser | None = None
    ip_address: str | None = None
    user_agent: str = ""
    via: str = ""  # "API token 'ci' (cp_AbCdEf…)" when the request came with a token

    @classmethod
    def from_request(cls, request) -> Actor:
        meta = request.META
        user = request.user if request.user.is_authenticated else None
        token = getattr(request, "auth", None)  # DRF's request: the ApiToken that authenticated
        via = f"API token '{token.name}' ({token.prefix}…)" if isinstance(token, ApiToken) else ""
        return cls(
            user=user,
            ip_address=client_address(meta),
            user_agent=meta.get("HTTP_USER_AGENT", "")[:300],
            via=via[:150],
        )

    @property
    def name(self) -> str:
        return self.user.get_username() if self.user else "system"


SYSTEM = Actor()


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_repr: str = "",
    changes: dict | None = None,
) -> AuditEvent:
    """Record one audited action. `changes` must hold names and public values only."""
    return AuditEvent.objects.create(
        actor=actor.user,
        actor_name=actor.name,
        action=action,
        object_type=object_type or (obj._meta.model_name if obj is not None else ""),
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_repr=(object_repr or (str(obj) if obj is not None else ""))[:200],
        changes=changes or {},
        ip_address=actor.ip_address,
        user_agent=actor.user_agent,
        via=actor.via,
    )


def audit_record_view(*, actor: Actor, obj: models.Model, within_seconds: int = 3600) -> bool:
    """Record that the actor looks at `obj`, once per user, object and hour (a camera wall
    opened ten times is one line, not ten per camera). False when already recorded."""
    recent = AuditEvent.objects.filter(
        actor=actor.user, action=AuditAction.VIEW, object_type=obj._meta.model_name,
        object_id=str(obj.pk), created_at__gte=timezone.now() - timedelta(seconds=within_seconds),
    )  # fmt: skip
    if recent.exists():
        return False
    audit_record(actor=actor, action=AuditAction.VIEW, obj=obj)
    return True


def audit_refusal(*, actor: Actor, needed: str, method: str, path: str) -> None:
    """A refused attempt to change something (reads refused are not worth a line each)."""
    audit_record(
        actor=actor, action=AuditAction.REFUSED, object_type="page", object_repr=path[:200],
        changes={"method": method, "needed role": needed},
    )  # fmt: skip


@transaction.atomic
def user_create(
    *, actor: Actor, username: str, password: str | None, role: Role, email: str = ""
) -> AbstractUser:
    user = User.objects.create_user(username=username, email=email, password=password)
    if password is None:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    Profile.objects.create(user=user, role=role)
    audit_record(actor=actor, action=AuditAction.CREATE, obj=user, changes={"role": role})
    return user


def _is_admin(user: AbstractUser) -> bool:
    return role_of(user) == Role.ADMIN


@transaction.atomic
def user_update(
    *,
    actor: Actor,
    user: AbstractUser,
    role: Role | None = None,
    is_active: bool | None = None,
    email: str | None = None,
    password: str | None = None,
) -> AbstractUser:
    if actor.user is not None and actor.user.pk == user.pk:
        if is_active is False or (role is not None and role != Role.ADMIN and _is_admin(user)):
            # Nobody locks themselves (and possibly everyone) out by accident.
            raise ValidationError(
                {"role" if is_active is not False else "is_active":
                 "You cannot deactivate yourself or remove your own admin role."}
            )  # fmt: skip
    changes: dict = {}
    profile = getattr(user, "profile", None) or Profile.objects.create(user=user)
    if role is not None and role != profile.role:
        changes["role"] = [profile.role, role]
        profile.role = role
        profile.save(update_fields=["role"])
    if is_active is not None and is_active != user.is_active:
        changes["is_active"] = [user.is_active, is_active]
        user.is_active = is_active
    if email is not None and email != user.email:
        changes["email"] = [user.email, email]
        user.email = email
    if password:
        user.set_password(password)
        changes["password"] = "changed"
    user.save()
    if changes:
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=user, changes=changes)
    return user


@transaction.atomic
def user_delete(*, actor: Actor, user: AbstractUser) -> None:
    if actor.user is not None and actor.user.pk == user.pk:
        raise ValidationError({"user": "You cannot delete your own account."})
    audit_record(actor=actor, action=AuditAction.DELETE, obj=user)
    user.delete()


@transaction.atomic
def token_create(*, actor: Actor, user: AbstractUser, name: str) -> tuple[ApiToken, str]:
    """Mint a token; the plaintext is returned once and only its digest is kept."""
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=plaintext[:10], digest=token_digest(plaintext)
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=token,
        object_type="apitoken",
        object_repr=f"{user.get_username()}: {token}",
    )
    return token, plaintext


@transaction.atomic
def token_revoke(*, actor: Actor, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action=AuditAction.DELETE,
            obj=token,
            object_type="apitoken",
            object_repr=f"{token.user.get_username()}: {token}",
        )
    return token
