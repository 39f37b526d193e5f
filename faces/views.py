"""Pages of the face service: thin views over forms, selectors and services.

Viewers see, operators submit and retry, admins manage people (naming a face changes the
gallery, so that is theirs too). The results table is polled by htmx (see `FaceRowsView`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from core.choices import Role
from core.permissions import RoleRequiredMixin
from core.services import Actor
from faces import selectors, services
from faces.choices import NAME_MAX_CHARS, ImageStatus
from faces.filtersets import FaceImageFilterSet
from faces.forms import KnownFaceForm, NameFaceForm, PersonForm, SubmitForm
from faces.models import Face, FaceImage, KnownFace, Person

PAGE_SIZE = 50
PEOPLE_PAGE_SIZE = 60
# Offsets past this are not worth a query (and would overflow the database's OFFSET).
MAX_PAGE = 20_000
# Query keys that are not filters of the results table.
NOT_FILTERS = {"page", "seen"}


def image_file_response(field) -> FileResponse:
    """Faces are personal data: their files are served to logged-in users only, never from a
    public media URL."""
    if not field:
        raise Http404("No picture stored.")
    try:
        return FileResponse(field.open("rb"), content_type="image/jpeg")
    except (FileNotFoundError, OSError):
        raise Http404("The picture is gone.") from None


class ImageThumbnailView(RoleRequiredMixin, View):
    def get(self, request, pk: int):
        return image_file_response(get_object_or_404(FaceImage, pk=pk).thumbnail)


class KnownThumbnailView(RoleRequiredMixin, View):
    def get(self, request, pk: int):
        return image_file_response(get_object_or_404(KnownFace, pk=pk).thumbnail)


# -- helpers ----------------------------------------------------------------------------------


def _page_number(request) -> int:
    try:
        return min(MAX_PAGE, max(1, int(request.GET.get("page", "1"))))
    except ValueError:
        return 1


def _page_of(queryset, number: int, size: int = PAGE_SIZE) -> tuple[list, bool]:
    """One page, and whether another follows, without counting every row: the table may hold
    millions of images."""
    start = (number - 1) * size
    rows = list(queryset[start : start + size + 1])
    return rows[:size], len(rows) > size


def _back(request, default: str) -> str:
    """Where a form posted from a list goes back to: its `next` when it is a page of ours."""
    target = request.POST.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _filter_query(data) -> str:
    query = data.copy()
    for key in NOT_FILTERS | {"csrfmiddlewaretoken"}:
        query.pop(key, None)
    return query.urlencode()


def _list_url(query: str) -> str:
    return reverse("face-list") + (f"?{query}" if query else "")


def _signature(images: list[FaceImage], more: bool) -> str:
    """What the table shows, hashed: a poll whose table would look the same gets 204, so the
    rows (and a name being typed in one) are only replaced when something changed."""
    shown = [more]
    for image in images:
        shown.append((
            image.pk, image.status, image.attempts, image.error, image.thumbnail.name,
            image.width, image.height,
            [(f.pk, f.person_id, f.person.name if f.person_id else None, f.distance, f.box)
             for f in image.faces.all()],
        ))  # fmt: skip
    return hashlib.blake2b(repr(shown).encode(), digest_size=8).hexdigest()


def _results(request) -> dict:
    """The results table for the request's filters and page."""
    filterset = FaceImageFilterSet(request.GET, queryset=selectors.image_list())
    number = _page_number(request)
    images, more = _page_of(filterset.qs, number)
    query = _filter_query(request.GET)
    signature = _signature(images, more)
    rows_query = f"{query}&seen={signature}" if query else f"seen={signature}"
    return {
        "images": images, "page_number": number, "has_next": more, "filterset": filterset,
        "filters": request.GET, "query": query, "signature": signature,
        # Only the newest page changes as images arrive; older pages stay still.
        "rows_url": f"{reverse('face-rows')}?{rows_query}" if number == 1 else "",
        "next_url": _list_url(query),
        "name_max": NAME_MAX_CHARS,
    }  # fmt: skip


def _service() -> dict:
    """The back-ends' state, with the time each open circuit opened as a datetime."""
    status = selectors.service_status()
    status["rows"] = [
        (backend, datetime.fromtimestamp(backend.opened_at, tz=UTC) if backend.opened_at else None)
        for backend in status["backends"]
    ]
    return status


def _results_page(request, *, submit_form: SubmitForm | None = None, status: int = 200):
    return render(request, "faces/list.html", {
        **_results(request), "submit_form": submit_form or SubmitForm(),
        "service": _service(), "statuses": ImageStatus.choices,
        "people_names": selectors.person_names(),
    }, status=status)  # fmt: skip


def _image_or_404(pk: int) -> FaceImage:
    image = selectors.image_list().filter(pk=pk).first()
    if image is None:
        raise Http404("No such image.")
    return image


# -- results ----------------------------------------------------------------------------------


class FaceListView(RoleRequiredMixin, View):
    """The results: every image with the faces found in it, newest first."""

    def get(self, request):
        return _results_page(request)


class FaceRowsView(RoleRequiredMixin, View):
    """The table's rows, polled every 3 s by the newest page; 204 when nothing changed."""

    def get(self, request):
        context = _results(request)
        if request.GET.get("seen") == context["signature"]:
            return HttpResponse(status=204)
        return render(request, "faces/_rows.html", context)


class FaceServiceView(RoleRequiredMixin, View):
    """The back-ends' circuits and the queue, polled by the results page."""

    def get(self, request):
        return render(request, "faces/_service.html", {"service": _service()})


class FaceSubmitView(RoleRequiredMixin, View):
    write_role = Role.OPERATOR

    def post(self, request):
        form = SubmitForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                images = services.images_submit(
                    actor=Actor.from_request(request), volume=data["volume"],
                    paths=data["paths"] or None, upload=data["image"] or None,
                )  # fmt: skip
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"{len(images)} image(s) queued.")
                return redirect("face-list")
        return _results_page(request, submit_form=form, status=400)


class FaceRetryView(RoleRequiredMixin, View):
    """ "Retry failed": the failed images among those the table's filters choose."""

    write_role = Role.OPERATOR

    def post(self, request):
        filterset = FaceImageFilterSet(request.POST, queryset=FaceImage.objects.all())
        back = _list_url(_filter_query(request.POST))
        if not filterset.is_valid():
            # An ignored filter would widen the retry to every failed image: refuse instead.
            messages.error(request, f"Nothing retried: bad filter ({filterset.errors.as_text()}).")
            return redirect(back)
        count = services.images_retry(actor=Actor.from_request(request), images=filterset.qs)
        messages.success(request, f"{count} failed image(s) sent back to the queue.")
        return redirect(back)


class FaceImageView(RoleRequiredMixin, View):
    """One image: the picture large, its faces, and what happened to it."""

    def get(self, request, pk: int):
        image = _image_or_404(pk)
        return render(request, "faces/detail.html", {
            "image": image, "people_names": selectors.person_names(),
            "name_max": NAME_MAX_CHARS, "next_url": request.get_full_path(),
        })  # fmt: skip


class FaceImageRetryView(RoleRequiredMixin, View):
    write_role = Role.OPERATOR

    def post(self, request, pk: int):
        image = get_object_or_404(FaceImage, pk=pk)
        count = services.images_retry(
            actor=Actor.from_request(request), images=FaceImage.objects.filter(pk=image.pk)
        )
        if count:
            messages.success(request, f"Image {image.pk} sent back to the queue.")
        else:
            messages.warning(request, f"Image {image.pk} has not failed: nothing to retry.")
        return redirect("face-detail", pk=image.pk)


class FaceImageDeleteView(RoleRequiredMixin, View):
    write_role = Role.OPERATOR

    def post(self, request, pk: int):
        image = get_object_or_404(FaceImage, pk=pk)
        services.image_delete(actor=Actor.from_request(request), image=image)
        messages.success(request, f"Image {pk} deleted.")
        return redirect("face-list")


class FaceNameView(RoleRequiredMixin, View):
    """One click on an unknown face: it becomes a known image of that person."""

    write_role = Role.ADMIN

    def post(self, request, pk: int, face_pk: int):
        face = get_object_or_404(Face.objects.select_related("image"), pk=face_pk, image_id=pk)
        back = _back(request, reverse("face-detail", args=[pk]))
        form = NameFaceForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"Face not named: {form.errors['name'][0]}")
            return redirect(back)
        try:
            known = services.face_name(
                actor=Actor.from_request(request), face=face, name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            messages.error(request, f"Face not named: {'; '.join(exc.messages)}")
            return redirect(back)
        messages.success(
            request, f"The face is now a known image of {known.person.name}; unknown faces are "
            "being matched again.",
        )  # fmt: skip
        return redirect(back)


# -- people -----------------------------------------------------------------------------------


class PersonListView(RoleRequiredMixin, View):
    """The gallery: everyone the service can recognise, each with their first known face."""

    write_role = Role.ADMIN

    def _render(self, request, form: PersonForm, status: int = 200):
        # No name holds a NUL (PostgreSQL refuses one in a query, a 500).
        search = request.GET.get("q", "").replace("\x00", "").strip()[:NAME_MAX_CHARS]
        people = selectors.person_list()
        if search:
            people = people.filter(name__icontains=search)
        number = _page_number(request)
        rows, more = _page_of(people, number, PEOPLE_PAGE_SIZE)
        return render(request, "faces/people.html", {
            "people": rows, "search": search, "page_number": number, "has_next": more,
            "form": form,
        }, status=status)  # fmt: skip

    def get(self, request):
        return self._render(request, PersonForm())

    def post(self, request):
        form = PersonForm(request.POST)
        if form.is_valid():
            try:
                person = services.person_create(
                    actor=Actor.from_request(request), name=form.cleaned_data["name"]
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"Added {person.name}: now give them a known image.")
                return redirect("person-detail", pk=person.pk)
        return self._render(request, form, status=400)


def _person_page(request, person: Person, *, known_form=None, rename_form=None, status=200):
    number = _page_number(request)
    images, more = _page_of(selectors.person_images(person), number)
    return render(request, "faces/person.html", {
        "person": person, "known_faces": person.known_faces.defer("encoding").order_by("pk"),
        "known_form": known_form or KnownFaceForm(),
        "rename_form": rename_form or PersonForm(initial={"name": person.name}),
        "images": images, "page_number": number, "has_next": more,
    }, status=status)  # fmt: skip


class PersonDetailView(RoleRequiredMixin, View):
    """A person: their known images and every image they were recognised in."""

    def get(self, request, pk: int):
        return _person_page(request, get_object_or_404(Person, pk=pk))


class PersonRenameView(RoleRequiredMixin, View):
    write_role = Role.ADMIN

    def post(self, request, pk: int):
        person = get_object_or_404(Person, pk=pk)
        old = person.name
        form = PersonForm(request.POST)
        if form.is_valid():
            try:
                services.person_rename(
                    actor=Actor.from_request(request), person=person,
                    name=form.cleaned_data["name"],
                )  # fmt: skip
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"{old} is now {person.name}.")
                return redirect("person-detail", pk=person.pk)
        person.name = old
        return _person_page(request, person, rename_form=form, status=400)


class PersonDeleteView(RoleRequiredMixin, View):
    write_role = Role.ADMIN

    def post(self, request, pk: int):
        person = get_object_or_404(Person, pk=pk)
        services.person_delete(actor=Actor.from_request(request), person=person)
        messages.success(
            request, f"Deleted {person.name} with their known images; the images they were "
            "recognised in now show an unknown face.",
        )  # fmt: skip
        return redirect("person-list")


class KnownFaceAddView(RoleRequiredMixin, View):
    """A reference photo for a person: uploaded, or a path on one of the service's volumes.
    The back-end finds the face while the admin waits."""

    write_role = Role.ADMIN

    def post(self, request, pk: int):
        person = get_object_or_404(Person, pk=pk)
        form = KnownFaceForm(request.POST, request.FILES)
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.known_face_add(
                    actor=Actor.from_request(request), person=person,
                    upload=data["image"] or None, volume=data["volume"], path=data["path"],
                )  # fmt: skip
            except ValidationError as exc:
                form.add_service_errors(exc)
            except services.ServiceUnavailable as exc:
                form.add_error(None, str(exc))
                status = 503
            else:
                messages.success(request, f"Added a known image of {person.name}.")
                return redirect("person-detail", pk=person.pk)
        return _person_page(request, person, known_form=form, status=status)


class KnownFaceRemoveView(RoleRequiredMixin, View):
    write_role = Role.ADMIN

    def post(self, request, pk: int, known_pk: int):
        known = get_object_or_404(KnownFace.objects.select_related("person"), pk=known_pk,
                                  person_id=pk)  # fmt: skip
        services.known_face_remove(actor=Actor.from_request(request), known=known)
        messages.success(request, f"Removed a known image of {known.person.name}.")
        return redirect("person-detail", pk=pk)
