"""Constants of the control panel's own models."""

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"


ROLE_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


class AuditAction(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    DELETE = "delete", "Delete"
    LOGIN = "login", "Log in"
    LOGOUT = "logout", "Log out"
    LOGIN_FAILED = "login_failed", "Failed log-in"
    LOCKOUT = "lockout", "Log-ins locked out"
    TEST = "test", "Test connection"
    ROTATE = "rotate", "Rotate keys"
    CANCEL = "cancel", "Cancel"
    VIEW = "view", "View"
    REFUSED = "refused", "Refused"


# Long enough for any passphrase; hashing a megabyte-long one at every log-in is a denial of
# service.
PASSWORD_MAX_CHARS = 256
