"""One rule for pages, the API and websockets: viewers read, operators act, admins administer."""

from __future__ import annotations

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from rest_framework import permissions

from core.choices import Role
from core.selectors import has_role, role_of


def required_role(view, method: str) -> Role:
    """The role a view needs: `action_roles[action]`, else `read_role` for safe methods,
    else `write_role`."""
    action_roles = getattr(view, "action_roles", {})
    if getattr(view, "action", None) in action_roles:
        return action_roles[view.action]
    if method in permissions.SAFE_METHODS:
        return getattr(view, "read_role", Role.VIEWER)
    return getattr(view, "write_role", Role.OPERATOR)


class RolePermission(permissions.BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        needed = required_role(view, request.method)
        if has_role(request.user, needed):
            return True
        _record_refusal(request, needed)
        return False


def _record_refusal(request, needed: str) -> None:
    """An attempt to change something that the role does not allow goes in the audit log."""
    if request.method in permissions.SAFE_METHODS:
        return
    from core.services import Actor, audit_refusal

    audit_refusal(actor=Actor.from_request(request), needed=str(needed), method=request.method,
                  path=request.path)  # fmt: skip


class RoleRequiredMixin(AccessMixin):
    """For page views: the same `read_role` / `write_role` rule as the API."""

    read_role = Role.VIEWER
    write_role = Role.OPERATOR

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        needed = required_role(self, request.method)
        if not has_role(request.user, needed):
            _record_refusal(request, needed)
            raise RoleRefused(needed, role_of(request.user))
        return super().dispatch(request, *args, **kwargs)


class RoleRefused(PermissionDenied):
    """A page the user's role does not open: the 403 page names the role it needs."""

    def __init__(self, needed: str, current: str) -> None:
        self.needed, self.current = needed, current
        super().__init__(
            f"This needs the {Role(needed).label.lower()} role; your account has the "
            f"{Role(current).label.lower() if current in Role.values else current} role. "
            "An administrator can change it on the Users page."
        )
