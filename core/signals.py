"""Log-ins and failed log-ins go to the audit log (Django sends these auth signals)."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from core.choices import AuditAction
from core.services import Actor, audit_record, client_address


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    audit_record(
        actor=Actor(user=user, ip_address=client_address(request.META)),
        action=AuditAction.LOGIN,
        obj=user,
    )


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record(
            actor=Actor(user=user, ip_address=client_address(request.META)),
            action=AuditAction.LOGOUT,
            obj=user,
        )


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    # Only the username is kept; the password never reaches the audit log.
    ip = client_address(request.META) if request is not None else None
    audit_record(
        actor=Actor(ip_address=ip),
        action=AuditAction.LOGIN_FAILED,
        object_type="user",
        object_repr=str(credentials.get("username", ""))[:150],
    )
