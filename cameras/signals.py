"""Who may watch a camera changes outside the services too (Django's admin, a shell): its open
sockets re-check at once either way."""

from django.db.models.signals import m2m_changed, post_delete
from django.dispatch import receiver

from cameras.models import Camera
from cameras.services import announce_after_commit


@receiver(post_delete, sender=Camera)
def _camera_deleted(sender, instance, **kwargs):
    announce_after_commit(instance.pk)


@receiver(m2m_changed, sender=Camera.viewer_users.through)
@receiver(m2m_changed, sender=Camera.viewer_groups.through)
def _viewers_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if not reverse:
        announce_after_commit(instance.pk)
    elif pk_set:  # from the user's or group's side: pk_set holds cameras
        for camera_id in pk_set:
            announce_after_commit(camera_id)
