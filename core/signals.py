"""Log-ins, failed log-ins and lock-outs go to the audit log (Django and django-axes send these
signals)."""

from axes.signals import user_locked_out
from django.conf import settings
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


@receiver(user_locked_out)
def _locked_out(sender, request, username, ip_address, **kwargs):
    # Axes signals every refused try during a lock-out; the audit log keeps the one that set it.
    if getattr(request, "axes_failures_since_start", None) != settings.AXES_FAILURE_LIMIT:
        return
    audit_record(
        actor=Actor(ip_address=ip_address),
        action=AuditAction.LOCKOUT,
        object_type="user",
        object_repr=str(username or "")[:150],
        changes={"failures": settings.AXES_FAILURE_LIMIT},
    )
