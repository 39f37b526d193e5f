"""The Celery application: broker and schedule from Django settings."""

import os

from celery import Celery, bootsteps
from celery.signals import worker_init
from celery.worker.consumer import Consumer as CeleryConsumer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlpanel.settings")

app = Celery("controlpanel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class Consumer(CeleryConsumer):
    """Celery's consumer, surviving the loss of a Redis broker while tasks are running.

    When the connection drops, Celery 5.7 first `collect()`s it, which closes its channels and
    then detaches the transport, and then closes it again. A Redis channel's close stops at the
    first connection error (reading the BRPOP it had pending) before it marks itself closed, so
    the second close finds the channel open, tries to put its unacknowledged messages back, and
    needs the detached transport: AttributeError, "Unrecoverable error", and the worker stops
    consuming for good while it waits for its running tasks (a monitor worker's run for as long
    as their runs). Redis had restarted 4 s later; six monitor tasks waited in the queue.

    Closing the channels here first, while the transport is attached, leaves nothing for that
    second close to do. The messages cannot be put back with the broker gone either way; Redis
    keeps them in its unacked set (when it kept its data) and redelivers them after the
    visibility timeout, and beat restarts any monitor that went quiet.
    """

    def on_connection_error_after_connected(self, exc):
        if self.connection is not None:
            close_channels(self.connection)
        super().on_connection_error_after_connected(exc)


def close_channels(connection) -> None:
    """Close every channel of a broken connection, ignoring the broker's absence."""
    errors = connection.connection_errors + connection.channel_errors
    for channel in list(getattr(connection.transport, "channels", ())):
        for _attempt in range(2):  # the first attempt may stop at the pending read
            if channel.closed:
                break
            try:
                channel.close()
            except errors:
                continue


@worker_init.connect
def _verify_encryption_keys(**_kwargs) -> None:
    """Refuse to start a worker that could not read the stored secrets."""
    from core.crypto import verify_keys

    verify_keys()


class SubmitPendingRuns(bootsteps.StartStopStep):
    """Each time a worker connects to the broker (at start, and again after Redis came back),
    the runs created while no broker answered (`make run` seeds its demo cameras before it
    starts Redis; an API call during a Redis restart) are submitted at once, not at beat's next
    reconcile. Submitting twice is harmless: the second finds the run no longer pending."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def start(self, parent) -> None:
        submit_pending_runs()


def submit_pending_runs() -> None:
    app.send_task("workloads.tasks.runs_submit_pending")


app.steps["consumer"].add(SubmitPendingRuns)
