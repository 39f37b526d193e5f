"""The panel's settings for a Celery worker a test starts as its own process: Azure operations
poll the fake Azure every 20 ms instead of every 15 s."""

from controlpanel.settings import *  # noqa: F403

AZURE_POLL_INTERVAL = 0.02
