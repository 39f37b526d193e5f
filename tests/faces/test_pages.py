"""The face service's pages: results with pictures drawn by the browser, the gallery, forms
that name the bad field, roles, and the table that updates itself. Rows are made with the ORM;
no recognition back-end runs (a running service run is enough for the status badge)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from core.choices import Role
from faces.models import Face, FaceImage, KnownFace, Person, encoding_bytes
from tests.faces.conftest import make_service_run
from tests.factories import UserFactory

pytestmark = pytest.mark.faces


def jpeg(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 90, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


def processed_image(path: str, faces: list[tuple[list[int], Person | None, float | None]]):
    """A processed image of 640x480 whose 64x48 thumbnail is stored, with these faces."""
    image = FaceImage(
        source="volume", volume="photos", path=path, status="processed", width=640, height=480,
        attempts=1, started_at=timezone.now(), finished_at=timezone.now(),
    )  # fmt: skip
    image.thumbnail.save("t.jpg", ContentFile(jpeg()), save=False)
    image.save()
    for box, person, distance in faces:
        Face.objects.create(
            image=image, box=box, person=person, distance=distance,
            encoding=encoding_bytes(np.full(128, 0.01)),
        )  # fmt: skip
    return image


@dataclass
class Gallery:
    ada: Person
    grace: Person
    known: KnownFace
    seen: FaceImage  # Ada and an unknown face
    failed: FaceImage
    pending: FaceImage
    run: object


def make_gallery(cluster) -> Gallery:
    ada = Person.objects.create(name="Ada")
    grace = Person.objects.create(name="Grace")
    known = KnownFace(
        person=ada, source="volume", volume="photos", path="known/ada_1.jpg", width=640,
        height=480, box=[100, 400, 380, 160], encoding=encoding_bytes(np.zeros(128)),
    )  # fmt: skip
    known.thumbnail.save("k.jpg", ContentFile(jpeg()), save=False)
    known.save()
    seen = processed_image(
        "unknown/two.jpg", [([40, 300, 200, 140], ada, 0.412), ([50, 600, 210, 440], None, None)]
    )
    failed = FaceImage.objects.create(
        source="volume", volume="scratch", path="broken.jpg", status="failed", attempts=1,
        error="cannot decode the image",
    )  # fmt: skip
    pending = FaceImage.objects.create(source="volume", volume="photos", path="later.jpg")
    run = make_service_run(cluster, {})
    # Named as the local runtime names a replica (its pod), on a port nothing listens on.
    run.handle["endpoints"] = {f"run-{run.pk}-serve-0": "http://127.0.0.1:9"}
    run.save(update_fields=["handle"])
    return Gallery(ada, grace, known, seen, failed, pending, run)


@pytest.fixture
def gallery(faces_cluster, redis_url) -> Gallery:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(*client.keys("faces:breaker:*") or ["none"])  # circuits closed
    return make_gallery(faces_cluster)


def rows_of(body: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr data-image="(\d+)"', body)]


def test_every_page_renders_for_a_viewer(gallery, viewer_client):
    """Results with boxes and names drawn over the thumbnail, the service badge, an image, the
    gallery and a person; a viewer sees no form that changes anything."""
    results = viewer_client.get(reverse("face-list")).content.decode()
    assert rows_of(results) == [gallery.pending.pk, gallery.failed.pk, gallery.seen.pk]
    seen = results.split(f'<tr data-image="{gallery.seen.pk}"')[1].split("</tr>")[0]
    assert 'viewBox="0 0 640 480"' in seen
    assert f'href="/faces/images/{gallery.seen.pk}/thumbnail.jpg"' in seen
    assert '<rect x="140" y="40" width="160" height="160"' in seen
    assert ">Ada</text>" in seen and ">unknown</text>" in seen and "0.412" in seen
    assert 'text-anchor="end">unknown</text>' in seen  # near the right edge: ends at the box's
    failed = results.split(f'<tr data-image="{gallery.failed.pk}"')[1].split("</tr>")[0]
    assert "placeholder" in failed and "cannot decode the image" in failed
    assert re.search(r'id="service-state"[^>]*>closed<', results)
    assert f'href="/runs/{gallery.run.pk}/"' in results and "run-" in results  # run, back-end
    assert 'class="active">Faces</a>' in results
    for action in ("face-submit", "face-retry"):
        assert reverse(action) not in results
    assert "Name…" not in results

    image = viewer_client.get(reverse("face-detail", args=[gallery.seen.pk])).content.decode()
    assert "unknown/two.jpg" in image and 'class="face-picture large"' in image
    assert f'href="/people/{gallery.ada.pk}/"' in image

    people = viewer_client.get(reverse("person-list")).content.decode()
    assert (
        f'data-person="{gallery.ada.pk}"' in people
        and f'data-person="{gallery.grace.pk}"' in people
    )
    # Ada's avatar: her face box (x 160..400, y 100..380) in a square 1.7 times its taller side
    # (476), centred on it (280, 240); no box drawn.
    avatar = people.split(f'data-person="{gallery.ada.pk}"')[1].split("</a>")[0]
    assert 'viewBox="42 2 476 476"' in avatar and "<rect" not in avatar
    assert 'id="person-create"' not in people

    person = viewer_client.get(reverse("person-detail", args=[gallery.ada.pk])).content.decode()
    assert f"/faces/known/{gallery.known.pk}/thumbnail.jpg" in person
    assert '<rect x="160" y="100" width="240" height="280"' in person
    assert 'id="known-add"' not in person and 'id="person-rename"' not in person

    service = viewer_client.get(reverse("face-service")).content.decode()
    assert 'data-backend="run-' in service and "<html" not in service
    home = viewer_client.get(reverse("home")).content.decode()
    assert 'id="home-faces"' in home and 'href="/faces/?status=failed">1 failed' in home
    thumbnail = viewer_client.get(reverse("face-image-thumbnail", args=[gallery.seen.pk]))
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/jpeg"


def test_unknown_ids_are_404(gallery, admin_client):
    """Missing rows, a face of another image, a known image of another person: 404."""
    face = gallery.seen.faces.get(person=None)
    for url in (
        reverse("face-detail", args=[999999]),
        reverse("person-detail", args=[999999]),
        reverse("face-image-thumbnail", args=[gallery.pending.pk]),  # no thumbnail yet
        "/people/99999999999999999999/",
    ):
        assert admin_client.get(url).status_code == 404, url
    wrong_image = reverse("face-name", args=[gallery.failed.pk, face.pk])
    assert admin_client.post(wrong_image, {"name": "x"}).status_code == 404
    wrong_person = reverse("person-image-remove", args=[gallery.grace.pk, gallery.known.pk])
    assert admin_client.post(wrong_person).status_code == 404
    assert KnownFace.objects.filter(pk=gallery.known.pk).exists()


def test_viewers_cannot_post_and_operators_cannot_manage_people(
    gallery, viewer_user, operator_user
):
    """403 for each, and nothing changes."""
    viewer_client, operator_client = Client(), Client()
    viewer_client.force_login(viewer_user)
    operator_client.force_login(operator_user)
    face = gallery.seen.faces.get(person=None)
    viewer_posts = [
        (reverse("face-submit"), {"volume": "photos", "paths": "a.jpg"}),
        (reverse("face-retry"), {}),
        (reverse("face-image-retry", args=[gallery.failed.pk]), {}),
        (reverse("face-image-delete", args=[gallery.failed.pk]), {}),
    ]
    admin_posts = [
        (reverse("person-list"), {"name": "Linus"}),
        (reverse("person-rename", args=[gallery.ada.pk]), {"name": "Countess"}),
        (reverse("person-delete", args=[gallery.ada.pk]), {}),
        (reverse("person-image-add", args=[gallery.ada.pk]), {"volume": "photos", "path": "a.jpg"}),
        (reverse("person-image-remove", args=[gallery.ada.pk, gallery.known.pk]), {}),
        (reverse("face-name", args=[gallery.seen.pk, face.pk]), {"name": "Grace"}),
    ]
    for url, data in viewer_posts + admin_posts:
        assert viewer_client.post(url, data).status_code == 403, url
    for url, data in admin_posts:
        assert operator_client.post(url, data).status_code == 403, url

    assert FaceImage.objects.count() == 3
    assert FaceImage.objects.get(pk=gallery.failed.pk).status == "failed"
    assert sorted(Person.objects.values_list("name", flat=True)) == ["Ada", "Grace"]
    assert KnownFace.objects.count() == 1 and Face.objects.get(pk=face.pk).person is None


def test_person_page_lists_the_images_they_were_recognised_in(gallery, viewer_client):
    """The seed's join: each image Ada was found in, linked, with her distance; not others."""
    again = processed_image("door/ada.jpg", [([10, 110, 110, 10], gallery.ada, 0.3)])
    body = viewer_client.get(reverse("person-detail", args=[gallery.ada.pk])).content.decode()
    table = body.split('id="recognised-in"')[1]

    assert rows_of(table) == [again.pk, gallery.seen.pk]
    for image in (again, gallery.seen):
        assert f'href="/faces/images/{image.pk}/"' in table
    assert "0.300" in table and "0.412" in table
    assert f'href="/faces/?person={gallery.ada.pk}"' in body
    grace = viewer_client.get(reverse("person-detail", args=[gallery.grace.pk])).content.decode()
    assert rows_of(grace.split('id="recognised-in"')[1]) == []


def test_results_table_filters_by_person_and_status(gallery, viewer_client):
    url = reverse("face-list")
    other = processed_image("door/grace.jpg", [([10, 110, 110, 10], gallery.grace, 0.2)])

    assert rows_of(viewer_client.get(url, {"person": "ada"}).content.decode()) == [gallery.seen.pk]
    by_id = viewer_client.get(url, {"person": gallery.grace.pk}).content.decode()
    assert rows_of(by_id) == [other.pk]
    failed = viewer_client.get(url, {"status": "failed"}).content.decode()
    assert rows_of(failed) == [gallery.failed.pk]
    both = viewer_client.get(url, {"status": "processed", "person": "Grace"}).content.decode()
    assert rows_of(both) == [other.pk]
    unknown = viewer_client.get(url, {"unknown": "true"}).content.decode()
    assert rows_of(unknown) == [gallery.seen.pk]
    bad = viewer_client.get(url, {"status": "nonsense"})
    assert bad.status_code == 200 and 'data-field="filters"' in bad.content.decode()


def poll_url(body: str) -> str:
    """The URL the rows poll (htmx's hx-get), unescaped."""
    return re.search(r'hx-get="([^"]+)" hx-trigger="every 3s', body).group(1).replace("&amp;", "&")


def test_the_polled_fragment_returns_the_rows_and_204_while_nothing_changed(gallery, viewer_client):
    """The newest page polls the rows; the same table again is a 204 (nothing swapped)."""
    page = viewer_client.get(reverse("face-list"), {"status": "processed"}).content.decode()
    assert "status=processed" in poll_url(page)
    assert viewer_client.get(poll_url(page), HTTP_HX_REQUEST="true").status_code == 204

    new = processed_image("door/new.jpg", [([10, 110, 110, 10], gallery.grace, 0.25)])
    fragment = viewer_client.get(poll_url(page), HTTP_HX_REQUEST="true")
    body = fragment.content.decode()
    assert fragment.status_code == 200 and body.lstrip().startswith('<tbody id="face-rows"')
    assert "<html" not in body and rows_of(body) == [new.pk, gallery.seen.pk]
    assert ">Grace</text>" in body
    assert viewer_client.get(poll_url(body), HTTP_HX_REQUEST="true").status_code == 204

    Face.objects.filter(image=gallery.seen, person=None).update(person=gallery.grace)
    named = viewer_client.get(poll_url(body), HTTP_HX_REQUEST="true")  # named elsewhere
    assert named.status_code == 200 and named.content.decode().count(">Grace</text>") == 2
    older = viewer_client.get(reverse("face-list"), {"page": "2"}).content.decode()
    assert 'hx-trigger="every 3s' not in older  # only the newest page moves


def test_naming_a_face_on_the_page_makes_it_a_known_image_of_that_person(gallery, admin_client):
    """An existing name (any case) is that person; a new one creates them."""
    unknown = gallery.seen.faces.get(person=None)
    back = f"{reverse('face-list')}?unknown=true"
    results = admin_client.get(back).content.decode()
    assert reverse("face-name", args=[gallery.seen.pk, unknown.pk]) in results

    response = admin_client.post(
        reverse("face-name", args=[gallery.seen.pk, unknown.pk]), {"name": "grace", "next": back}
    )
    assert response.status_code == 302 and response["Location"] == back
    unknown.refresh_from_db()
    assert unknown.person == gallery.grace and unknown.distance == 0.0
    known = KnownFace.objects.get(from_face=unknown)
    assert known.person == gallery.grace and known.box == unknown.box and known.thumbnail
    assert "known image of Grace" in admin_client.get(back).content.decode()

    stranger = processed_image("door/stranger.jpg", [([10, 110, 110, 10], None, None)])
    name_url = reverse("face-name", args=[stranger.pk, stranger.faces.get().pk])
    elsewhere = admin_client.post(
        name_url, {"name": "  Linus   Torvalds ", "next": "https://evil.example/"}
    )
    assert elsewhere["Location"] == reverse("face-detail", args=[stranger.pk])
    assert Person.objects.get(name="Linus Torvalds").known_faces.count() == 1
    assert stranger.faces.get().person.name == "Linus Torvalds"
    empty = admin_client.post(name_url, {"name": " "})
    assert empty.status_code == 302 and Person.objects.count() == 3


def test_a_known_image_that_is_not_an_image_is_a_form_error(gallery, admin_client, settings):
    """The service refuses it before any back-end call; the error sits under the field."""
    url = reverse("person-image-add", args=[gallery.ada.pk])
    text = ContentFile(b"just some words\n", name="notes.jpg")
    response = admin_client.post(url, {"image": text})
    body = response.content.decode()

    assert response.status_code == 400
    assert re.search(r'data-field="image"><li>Not an image file', body)
    both = admin_client.post(url, {"image": ContentFile(jpeg(), name="a.jpg"), "volume": "photos",
                                   "path": "a.jpg"}).content.decode()  # fmt: skip
    assert "not both" in both
    outside = admin_client.post(url, {"volume": "photos", "path": "../etc/passwd"}).content.decode()
    assert re.search(r'data-field="path"><li>.*inside the volume', outside)
    settings.FACES_UPLOAD_MAX_BYTES = 100
    large = admin_client.post(url, {"image": ContentFile(jpeg(), name="big.jpg")})
    assert 'data-field="image"><li>The image is larger than' in large.content.decode()
    assert KnownFace.objects.count() == 1


def test_adding_a_known_image_while_no_back_end_runs_says_so(gallery, admin_client):
    gallery.run.delete()
    response = admin_client.post(
        reverse("person-image-add", args=[gallery.ada.pk]),
        {"image": ContentFile(jpeg(), name="ada.jpg")},
    )
    assert response.status_code == 503
    assert "No face-recognition back-end is running" in response.content.decode()
    assert KnownFace.objects.count() == 1


def test_people_are_added_renamed_and_deleted_by_admins(gallery, admin_client):
    bad = admin_client.post(reverse("person-list"), {"name": "ADA"})
    assert bad.status_code == 400 and "exists already" in bad.content.decode()
    created = admin_client.post(reverse("person-list"), {"name": "Linus"})
    linus = Person.objects.get(name="Linus")
    assert created["Location"] == reverse("person-detail", args=[linus.pk])

    clash = admin_client.post(reverse("person-rename", args=[linus.pk]), {"name": "grace"})
    assert clash.status_code == 400 and 'data-field="name"' in clash.content.decode()
    admin_client.post(reverse("person-rename", args=[linus.pk]), {"name": "Linus T"})
    assert Person.objects.get(pk=linus.pk).name == "Linus T"

    admin_client.post(reverse("person-image-remove", args=[gallery.ada.pk, gallery.known.pk]))
    assert not KnownFace.objects.exists()
    admin_client.post(reverse("person-delete", args=[gallery.ada.pk]))
    assert not Person.objects.filter(pk=gallery.ada.pk).exists()
    assert Face.objects.filter(image=gallery.seen, person__isnull=False).count() == 0
    searched = admin_client.get(reverse("person-list"), {"q": "lin"}).content.decode()
    assert (
        f'data-person="{linus.pk}"' in searched
        and f'data-person="{gallery.grace.pk}"' not in searched
    )


def test_operators_submit_images_and_retry_failed_ones(gallery, operator_client):
    url = reverse("face-submit")
    listed = operator_client.get(reverse("face-list")).content.decode()
    assert '<option value="photos">photos</option>' in listed and "Retry failed" in listed

    queued = operator_client.post(url, {"volume": "photos", "paths": "a.jpg\n\n  b/c.jpg \n"})
    assert queued.status_code == 302
    assert sorted(FaceImage.objects.filter(status="pending").values_list("path", flat=True)) == [
        "a.jpg", "b/c.jpg", "later.jpg",
    ]  # fmt: skip
    bad_path = operator_client.post(url, {"volume": "photos", "paths": "ok.jpg\n../x.jpg"})
    assert bad_path.status_code == 400
    assert re.search(r'data-field="paths"><li>.*inside the volume', bad_path.content.decode())
    no_volume = operator_client.post(url, {"paths": "a.jpg"}).content.decode()
    assert 'data-field="volume"' in no_volume
    not_image = operator_client.post(url, {"image": ContentFile(b"words", name="x.jpg")})
    assert 'data-field="image"><li>Not an image file' in not_image.content.decode()
    too_many = operator_client.post(url, {"volume": "photos",
                                          "paths": "\n".join(f"{i}.jpg" for i in range(1001))})  # fmt: skip
    assert 'data-field="paths"><li>At most 1,000 paths' in too_many.content.decode()
    assert FaceImage.objects.count() == 5

    refused = operator_client.post(reverse("face-retry"), {"status": "nonsense"})
    assert refused.status_code == 302
    assert FaceImage.objects.get(pk=gallery.failed.pk).status == "failed"
    other = FaceImage.objects.create(source="volume", volume="photos", path="x.jpg",
                                     status="failed", error="gone")  # fmt: skip
    retried = operator_client.post(reverse("face-retry"), {"volume": "scratch"})
    assert retried["Location"] == f"{reverse('face-list')}?volume=scratch"
    assert FaceImage.objects.get(pk=gallery.failed.pk).status == "pending"
    assert FaceImage.objects.get(pk=other.pk).status == "failed"  # outside the filter
    message = operator_client.get(retried["Location"]).content.decode()
    assert "1 failed image(s) sent back to the queue" in message


@pytest.mark.browser
@pytest.mark.slow
def test_results_page_draws_faces_and_shows_new_images_without_reload(daphne_server, page):
    """In a real browser: the box and the name are drawn over the thumbnail, and an image
    processed while the page is open appears by itself."""
    from tests.factories import LocalClusterFactory

    gallery = make_gallery(LocalClusterFactory())
    UserFactory(username="vera", role=Role.VIEWER)
    page.goto(f"{daphne_server}/login/")
    page.fill("#id_username", "vera")
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{daphne_server}/")
    page.click("nav >> text=Faces")

    row = page.locator(f"tr[data-image='{gallery.seen.pk}']")
    ada = row.locator("svg .face-box.known")
    assert ada.locator("text").text_content() == "Ada"
    assert ada.locator("rect").get_attribute("width") == "160"
    drawn = ada.locator("rect").bounding_box()
    picture = row.locator("svg").bounding_box()
    assert 0 < drawn["width"] < picture["width"]  # scaled from 640 px into the thumbnail
    thumbnail = row.locator("svg image").get_attribute("href")
    assert page.request.get(daphne_server + thumbnail).headers["content-type"] == "image/jpeg"
    page.evaluate("window.stillTheSamePage = true")

    new = processed_image("door/late.jpg", [([10, 110, 110, 10], gallery.grace, 0.2)])
    arrived = page.locator(f"tr[data-image='{new.pk}'] svg .face-box text")
    arrived.wait_for(timeout=10_000)
    assert arrived.text_content() == "Grace"
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.locator("tbody#face-rows > tr").count() == 4
