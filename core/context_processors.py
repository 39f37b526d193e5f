from core.choices import Role
from core.selectors import has_role, role_of


def roles(request):
    """Lets templates show or hide actions by role."""
    user = getattr(request, "user", None)
    return {
        "user_role": role_of(user),
        "can_operate": has_role(user, Role.OPERATOR),
        "is_panel_admin": has_role(user, Role.ADMIN),
    }
