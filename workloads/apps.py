from django.apps import AppConfig
from django.conf import settings


class WorkloadsConfig(AppConfig):
    name = "workloads"
    verbose_name = "Workloads and runs"

    def ready(self) -> None:
        # Beat's schedule lives in settings; the workloads app adds its own entry here.
        settings.CELERY_BEAT_SCHEDULE.setdefault(
            "workloads-reconcile",
            {
                "task": "workloads.tasks.runs_reconcile",
                "schedule": getattr(settings, "WORKLOADS_RECONCILE_INTERVAL", 30),
            },
        )
