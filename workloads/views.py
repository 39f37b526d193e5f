"""Pages for runs and templates: thin views over selectors and services."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from clusters.selectors import cluster_list, volume_names_by_cluster
from core.choices import Role
from core.permissions import RoleRequiredMixin
from core.services import Actor
from workloads import events, metrics, selectors, services
from workloads.choices import RunState, TemplateKind
from workloads.files import ranged_file_response, safe_path, video_poster
from workloads.filtersets import RunFilterSet
from workloads.forms import RunForm, TemplateSaveForm
from workloads.models import FaceResult, Run, RunOutput

LOG_PAGE_LINES = 200
# Photos drawn on the run page (each is read for its size at every refresh of an active run).
FACE_PHOTOS_SHOWN = 100


class RunListView(RoleRequiredMixin, View):
    def get(self, request):
        filterset = RunFilterSet(request.GET, queryset=selectors.run_list())
        page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        return render(request, "workloads/run_list.html", {
            "page": page, "runs": page.object_list, "filters": request.GET,
            "states": RunState.choices, "templates": selectors.template_list(),
            "clusters": cluster_list(), "query": query.urlencode(),
        })  # fmt: skip


def _log_context(request, run) -> dict:
    """The stored-log page: the same selector as the API's logs endpoint."""
    try:
        since = max(0, int(request.GET.get("since", 0)))
    except ValueError:
        since = 0
    search = request.GET.get("q", "").strip()
    pod = request.GET.get("pod", "")
    lines = selectors.run_log_page(
        run=run, since=since, limit=LOG_PAGE_LINES + 1, search=search, pod=pod
    )
    more = len(lines) > LOG_PAGE_LINES
    lines = lines[:LOG_PAGE_LINES]
    for line in lines:
        line.summary = events.summary(line.text)
    return {
        "log_lines": lines, "log_since": since, "log_search": search, "log_pod": pod,
        "log_next": lines[-1].cursor if more else None,
    }  # fmt: skip


def _status_context(run) -> dict:
    """What the run page shows above its log (the part that follows the run live)."""
    stream = None
    if run.template.kind == TemplateKind.CAMERA_STREAM:
        stream = {"fps": selectors.run_stream_rate(run), "cameras": list(run.cameras.all())}
    return {
        "run": run, "stream": stream,
        "warnings": selectors.run_warnings(kind=run.template.kind, params=run.params, cluster=run.cluster)
        if run.is_active else [],
        "outputs": selectors.run_output_entries(run),
        **_face_images(run),
        "waiting_pods": [pod for pod in run.pods.all() if pod.phase == "Pending" and pod.message],
        "charts": metrics.run_charts(run),
    }  # fmt: skip


def _face_images(run) -> dict:
    photos = selectors.run_face_images(run, limit=FACE_PHOTOS_SHOWN, readable=run.cluster.is_local)
    return {"face_images": photos.shown, "face_images_total": photos.total,
            "face_images_more": photos.total > len(photos.shown)}  # fmt: skip


class RunDetailView(RoleRequiredMixin, View):
    def get(self, request, pk: int):
        run = selectors.run_detail(pk) or _not_found()
        if request.htmx and request.htmx.target == "run-log":
            # The log view's search: every stored line, on the server, a page at a time.
            return render(
                request, "workloads/_run_log.html", {"run": run, **_log_context(request, run)}
            )
        context = _status_context(run)
        if "q" in request.GET or "pod" in request.GET:  # a search without script: hits in place
            context.update(_log_context(request, run), log_searched=True)
        return render(request, "workloads/run_detail.html", context)


def _not_found():
    raise Http404("No such run.")


class RunYamlView(RoleRequiredMixin, View):
    """View YAML: the objects the panel sent to start the run (credentials redacted)."""

    def get(self, request, pk: int):
        run = selectors.run_detail(pk) or _not_found()
        namespace, labels = selectors.run_explorer_selector(run)
        return render(request, "workloads/run_yaml.html", {
            "run": run, "yaml": selectors.run_manifests_yaml(run),
            "namespace": namespace, "labels": labels,
        })  # fmt: skip


class RunStatusFragmentView(RoleRequiredMixin, View):
    """What the detail page polls every 2 s while the run is active (stops once it is not)."""

    def get(self, request, pk: int):
        run = selectors.run_detail(pk) or _not_found()
        return render(request, "workloads/_run_status.html", _status_context(run))


class RunCancelView(RoleRequiredMixin, View):
    write_role = Role.OPERATOR

    def post(self, request, pk: int):
        run = selectors.run_detail(pk) or _not_found()
        if services.run_cancel_request(actor=Actor.from_request(request), run=run):
            messages.info(request, f"Cancelling run {run.pk}.")
        else:
            messages.warning(request, f"Run {run.pk} has already {run.state}.")
        return redirect("run-detail", pk=run.pk)


class RunRerunView(RoleRequiredMixin, View):
    write_role = Role.OPERATOR

    def post(self, request, pk: int):
        run = selectors.run_detail(pk) or _not_found()
        try:
            new = services.run_rerun(actor=Actor.from_request(request), run=run)
        except ValidationError as exc:
            messages.error(request, f"Cannot run again: {'; '.join(exc.messages)}")
            return redirect("run-detail", pk=run.pk)
        messages.success(request, f"Run {new.pk} started (again of run {run.pk}).")
        return redirect("run-detail", pk=new.pk)


class RunDeleteView(RoleRequiredMixin, View):
    write_role = Role.ADMIN

    def post(self, request, pk: int):
        run = selectors.run_detail(pk) or _not_found()
        try:
            services.run_delete(actor=Actor.from_request(request), run=run)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
            return redirect("run-detail", pk=run.pk)
        messages.success(request, f"Run {pk} deleted.")
        return redirect("run-list")


class RunOutputView(RoleRequiredMixin, View):
    """A local output file (the API's output `url`), with byte ranges so videos can seek."""

    def get(self, request, pk: int, output_pk: int):
        output = get_object_or_404(RunOutput.objects.select_related("run"), pk=output_pk, run_id=pk)
        path = safe_path(output.run, output.local_path)
        return ranged_file_response(request, path, download="download" in request.GET)


class RunOutputPosterView(RoleRequiredMixin, View):
    """A video output's first frame as a JPEG: the poster shown before it plays."""

    def get(self, request, pk: int, output_pk: int):
        output = get_object_or_404(
            RunOutput.objects.select_related("run"), pk=output_pk, run_id=pk, kind="video"
        )
        jpeg = video_poster(safe_path(output.run, output.local_path))
        if jpeg is None:
            raise Http404("No frame could be read from this video.")
        response = HttpResponse(jpeg, content_type="image/jpeg")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class FaceResultImageView(RoleRequiredMixin, View):
    """The photo a face result is about, when the panel can read it (local runs)."""

    def get(self, request, pk: int, result_pk: int):
        result = get_object_or_404(
            FaceResult.objects.select_related("run"), pk=result_pk, run_id=pk
        )
        return ranged_file_response(request, safe_path(result.run, result.image))


class TemplateListView(RoleRequiredMixin, View):
    def get(self, request):
        templates = list(selectors.template_list())
        clusters = list(cluster_list())
        volumes = volume_names_by_cluster()
        forms = [
            (
                template,
                RunForm(
                    template=template,
                    clusters=clusters,
                    volumes=volumes,
                    auto_id=f"id_t{template.pk}_%s",
                ),  # fmt: skip
            )
            for template in templates
        ]
        return render(request, "workloads/template_list.html", {"template_forms": forms})


class TemplateRunView(RoleRequiredMixin, View):
    read_role = write_role = Role.OPERATOR  # a form only those who may submit it should see

    def _render(self, request, template, form, status=200):
        return render(request, "workloads/template_run.html",
                      {"wtemplate": template, "form": form}, status=status)  # fmt: skip

    def get(self, request, slug: str):
        template = get_object_or_404(selectors.template_list(), slug=slug)
        return self._render(request, template, RunForm(template=template))

    def post(self, request, slug: str):
        template = get_object_or_404(selectors.template_list(), slug=slug)
        form = RunForm(request.POST, template=template)
        if form.is_valid():
            try:
                run = services.run_create(
                    actor=Actor.from_request(request), template=template,
                    cluster=form.cleaned_data["cluster"], params=form.params(),
                )  # fmt: skip
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"Run {run.pk} started on {run.cluster.name}.")
                for warning in selectors.run_warnings(
                    kind=template.kind, params=run.params, cluster=run.cluster
                ):
                    messages.warning(request, warning)
                return redirect("run-detail", pk=run.pk)
        return self._render(request, template, form, status=400)


class TemplatePreviewView(RoleRequiredMixin, View):
    """Before a run starts: its manifests and the API server's server-side dry-run verdict."""

    write_role = Role.OPERATOR

    def post(self, request, slug: str):
        template = get_object_or_404(selectors.template_list(), slug=slug)
        form = RunForm(request.POST, template=template)
        results = None
        if form.is_valid():
            try:
                results = services.run_preview(
                    template=template, cluster=form.cleaned_data["cluster"], params=form.params()
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
        return render(request, "workloads/template_run.html", {
            "wtemplate": template, "form": form, "preview": results, "previewed": results is not None,
        }, status=200 if results is not None else 400)  # fmt: skip


class TemplateSaveView(RoleRequiredMixin, View):
    """Save a new template from an existing one with other defaults."""

    read_role = write_role = Role.OPERATOR

    def _render(self, request, base, form, status=200):
        return render(request, "workloads/template_save.html",
                      {"base": base, "form": form}, status=status)  # fmt: skip

    def get(self, request, slug: str):
        base = get_object_or_404(selectors.template_list(), slug=slug)
        initial = {"name": f"{base.name} (copy)", "description": base.description}
        return self._render(request, base, TemplateSaveForm(base=base, initial=initial))

    def post(self, request, slug: str):
        base = get_object_or_404(selectors.template_list(), slug=slug)
        form = TemplateSaveForm(request.POST, base=base)
        if form.is_valid():
            data = form.cleaned_data
            try:
                template = services.template_create(
                    actor=Actor.from_request(request), slug=data["slug"], name=data["name"],
                    kind=base.kind, params=form.params(), description=data["description"],
                )  # fmt: skip
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"Template {template.name} saved.")
                return redirect(f"/templates/#template-{template.slug}")
        return self._render(request, base, form, status=400)


class TemplateDeleteView(RoleRequiredMixin, View):
    write_role = Role.ADMIN

    def post(self, request, slug: str):
        template = get_object_or_404(selectors.template_list(), slug=slug)
        try:
            services.template_delete(actor=Actor.from_request(request), template=template)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
        else:
            messages.success(request, f"Template {template.name} deleted.")
        return redirect("template-list")


class RunLogDownloadView(RoleRequiredMixin, View):
    """The run's full stored log as a file, streamed."""

    def get(self, request, pk: int):
        run = get_object_or_404(Run, pk=pk)
        response = StreamingHttpResponse(
            selectors.run_log_text(run.pk), content_type="text/plain; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="run-{run.pk}.log"'
        return response
