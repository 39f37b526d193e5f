"""Pages of the control panel itself: dashboard home and the health and readiness endpoints."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import connection
from django.http import JsonResponse
from django.views.generic import TemplateView

from clusters.selectors import cluster_list
from controlpanel.readiness import readiness_checks
from faces.selectors import image_counts
from workloads.selectors import active_run_count, recent_runs


def readyz(request):
    """Readiness for Kubernetes and load balancers: 200 when this process can serve (the
    database, Redis and the broker answer, every migration is applied), else 503 naming what
    is not."""
    checks = readiness_checks()
    ready = all(result == "ok" for result in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


def healthz(request):
    """Liveness for load balancers and `make run` scripts: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


class HomeView(LoginRequiredMixin, TemplateView):
    template_name = "controlpanel/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        clusters = list(cluster_list())
        context["clusters"] = clusters
        context["healthy_count"] = sum(1 for c in clusters if c.status == "healthy")
        context["extra_panels"] = []
        context["recent_runs"] = recent_runs(limit=10)
        context["active_runs"] = active_run_count()
        context["face_counts"] = image_counts()
        return context
