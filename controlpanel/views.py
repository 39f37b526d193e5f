"""Pages of the control panel itself: dashboard home and the health endpoint."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import connection
from django.http import JsonResponse
from django.views.generic import TemplateView

from clusters.selectors import cluster_list
from faces.selectors import image_counts
from workloads.selectors import active_run_count, recent_runs


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
