"""Log-ins, failed log-ins and lock-outs go to the audit log (Django and django-axes send these
signals). Changes to who a user is (role, active, groups) reach their open sockets at once,
whichever way they were made (the users page, the API, Django's admin, a shell)."""

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from core.choices import AuditAction
from core.models import Profile
from core.services import Actor, audit_record, client_address
from core.websockets import access_changed_announce


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


@receiver(post_save, sender=Profile)
def _role_saved(sender, instance, created, **kwargs):
    if not created:
        access_changed_announce([instance.user_id])


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _user_saved(sender, instance, created, update_fields=None, **kwargs):
    # A log-in saves `last_login` alone: nothing a socket depends on.
    if not created and update_fields != frozenset({"last_login"}):
        access_changed_announce([instance.pk])


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def _user_deleted(sender, instance, **kwargs):
    access_changed_announce([instance.pk])


@receiver(m2m_changed, sender=get_user_model().groups.through)
def _groups_changed(sender, instance, action, reverse, pk_set, **kwargs):
    """`user.groups.remove(g)` (forward: pk_set holds groups) or `group.user_set.remove(u)`
    (reverse: pk_set holds users); a clear from the group's side names its users beforehand."""
    if action == "pre_clear" and reverse:
        instance._members_before_clear = list(instance.user_set.values_list("pk", flat=True))
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if not reverse:
        access_changed_announce([instance.pk])
    elif action == "post_clear":
        access_changed_announce(getattr(instance, "_members_before_clear", []))
    else:
        access_changed_announce(pk_set or [])
