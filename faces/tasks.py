"""Celery tasks of the face service. Thin: ids in, services do the work.

Processors run on the `faces` queue, served by a worker of their own (Procfile `faces`); they
acknowledge late, so an image whose worker was killed is delivered again, and the row's claim
makes sure it is processed once.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from faces import services
from faces.gallery import gallery_publish


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None,
             soft_time_limit=300, time_limit=360)  # fmt: skip
def image_process_task(self, image_id: int) -> str:
    try:
        return services.image_process(image_id=image_id)
    except services.RetryLater as later:
        raise self.retry(countdown=later.countdown, queue=settings.FACES_QUEUE) from None


@shared_task(acks_late=True)
def gallery_publish_task(reidentify: bool = False) -> dict:
    version = gallery_publish()
    found = services.faces_reidentify() if reidentify else 0
    return {"version": version, "identified": found}


@shared_task
def images_requeue_stale_task() -> dict:
    return services.images_requeue_stale()


@shared_task
def backends_probe_task() -> dict:
    return services.backends_probe()
