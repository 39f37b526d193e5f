"""The control panel's Django project: settings, URL and websocket maps, the Celery app."""

from controlpanel.celery import app as celery_app

__all__ = ["celery_app"]
