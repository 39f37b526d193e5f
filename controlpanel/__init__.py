"""The control panel's Django project: settings, wiring, accounts, audit log."""

from controlpanel.celery import app as celery_app

__all__ = ["celery_app"]
