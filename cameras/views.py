"""Camera pages: the wall, one camera, add and delete. Frames come over the websocket."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import DetailView, FormView, ListView, View

from cameras import selectors, services
from cameras.forms import CameraForm, CameraViewersForm
from cameras.models import Camera
from cameras.tasks import akri_cameras_sync_all_task
from core.choices import Role
from core.permissions import RoleRequiredMixin
from core.services import Actor


class CameraWallView(RoleRequiredMixin, ListView):
    template_name = "cameras/list.html"
    context_object_name = "cameras"

    def get_queryset(self):
        return selectors.camera_visible_to(self.request.user)


class CameraDetailView(RoleRequiredMixin, DetailView):
    """A camera the user may not watch is a 404, as in the API."""

    template_name = "cameras/detail.html"
    context_object_name = "camera"

    def get_queryset(self):
        return selectors.camera_visible_to(self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        camera = self.object
        context["viewers_form"] = CameraViewersForm(
            initial={
                "restricted": camera.restricted,
                "viewer_users": camera.viewer_users.all(),
                "viewer_groups": camera.viewer_groups.all(),
            }
        )
        return context


class CameraViewersView(RoleRequiredMixin, View):
    """Admins choose who may watch a camera; viewers who lose access are cut off at once."""

    write_role = Role.ADMIN

    def post(self, request, pk: int):
        camera = get_object_or_404(Camera, pk=pk)
        form = CameraViewersForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"Viewers not changed: {form.errors.as_text()}")
            return redirect("camera-detail", pk=camera.pk)
        data = form.cleaned_data
        services.camera_set_viewers(
            actor=Actor.from_request(request), camera=camera, restricted=data["restricted"],
            users=data["viewer_users"], groups=data["viewer_groups"],
        )  # fmt: skip
        messages.success(request, f"Viewers of {camera.name} saved.")
        return redirect("camera-detail", pk=camera.pk)


class CameraCreateView(RoleRequiredMixin, FormView):
    template_name = "cameras/form.html"
    form_class = CameraForm
    read_role = write_role = "operator"

    def get_initial(self):
        # "Add it as a camera" on a camera-stream run's page names the run.
        initial = super().get_initial()
        run = self.request.GET.get("run", "")
        if run.isdecimal():
            initial["run"] = int(run)
        return initial

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            camera = services.camera_create(
                actor=Actor.from_request(self.request), name=data["name"],
                source_url=data["source_url"], run=data["run"], processing=data["processing"],
                cluster=data.get("cluster"),
            )  # fmt: skip
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            return self.form_invalid(form)
        if camera.run is not None and camera.owns_run:
            messages.success(self.request, f"Added camera {camera.name}: run {camera.run.pk} on "
                             f"{camera.run.cluster.name} reads its RTSP stream.")  # fmt: skip
        else:
            messages.success(self.request, f"Added camera {camera.name}.")
        if camera.source_url:
            problem = services.camera_url_problem(camera.source_url)
            if problem:
                services.camera_record_error(camera_id=camera.pk, error=problem)
                messages.warning(self.request, f"Saved, but {problem}. The camera keeps trying; "
                                 "its page shows the latest error.")  # fmt: skip
        return redirect("camera-detail", pk=camera.pk)


class CameraDeleteView(RoleRequiredMixin, View):
    write_role = "operator"

    def post(self, request, pk: int):
        camera = get_object_or_404(Camera, pk=pk)
        services.camera_delete(actor=Actor.from_request(request), camera=camera)
        messages.success(request, f"Deleted camera {camera.name}.")
        return redirect("camera-list")


class CameraAkriRefreshView(RoleRequiredMixin, View):
    """The wall's "Find Akri cameras" button: a sync of every Kubernetes cluster, on a worker."""

    write_role = "operator"

    def post(self, request):
        akri_cameras_sync_all_task.delay()
        messages.info(request, "Looking for Akri cameras on every Kubernetes cluster.")
        return redirect("camera-list")
