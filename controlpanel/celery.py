"""The Celery application: broker and schedule from Django settings."""

import os

from celery import Celery
from celery.signals import worker_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlpanel.settings")

app = Celery("controlpanel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _verify_encryption_keys(**_kwargs) -> None:
    """Refuse to start a worker that could not read the stored secrets."""
    from core.crypto import verify_keys

    verify_keys()


@worker_ready.connect
def _submit_pending_runs(**_kwargs) -> None:
    """Runs created while Redis was down (`make run` seeds its demo cameras before it starts
    Redis) start as soon as a worker is up, not at beat's first reconcile."""
    app.send_task("workloads.tasks.runs_submit_pending")
