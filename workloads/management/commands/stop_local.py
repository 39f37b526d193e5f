"""`manage.py stop_local`: stop the local cluster's runs, which outlive the panel's processes."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from core.services import SYSTEM
from workloads.services import runs_stop_local


class Command(BaseCommand):
    help = (
        "Stop every active run of the local cluster (its processes keep running when the panel "
        "stops, and are re-attached at the next start) and record them as cancelled."
    )

    def handle(self, *args, **options):
        stopped = runs_stop_local(actor=SYSTEM)
        for run in stopped:
            self.stdout.write(f"Stopped run {run.pk} ({run.template.name}).")
        if not stopped:
            self.stdout.write("No local run was active.")
