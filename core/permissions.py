"""One rule for pages, the API and websockets: viewers read, operators act, admins administer."""

from __future__ import annotations

from django.contrib.auth.mixins import AccessMixin
from rest_framework import permissions

from core.choices import Role
from core.selectors import has_role


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
        return has_role(request.user, required_role(view, request.method))


class RoleRequiredMixin(AccessMixin):
    """For page views: the same `read_role` / `write_role` rule as the API."""

    read_role = Role.VIEWER
    write_role = Role.OPERATOR

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not has_role(request.user, required_role(self, request.method)):
            self.raise_exception = True
            return self.handle_no_permission()
        return super().dispatch(request, *args, **kwargs)
