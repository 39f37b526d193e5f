"""The face service attacked from outside: what a hostile tester sent to its API and pages, and
the answers that must come back (a 400 naming the field, a 404, the secret nowhere). No
recognition back-end process runs here; a running service run points at closed ports."""

from __future__ import annotations

import logging
import struct
import zlib

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from core.models import AuditEvent
from faces.models import FaceImage, KnownFace, Person
from tests.faces.test_pages import Gallery, jpeg, make_gallery

pytestmark = pytest.mark.faces


@pytest.fixture
def gallery(faces_cluster, redis_url) -> Gallery:
    """The pages' gallery (Ada, Grace, three images), circuits closed."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(*client.keys("faces:breaker:*") or ["none"])
    return make_gallery(faces_cluster)


def png_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A 100-byte PNG declaring a 3.6-gigapixel canvas: a decompression bomb's opening."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


TOO_LARGE = "The image is too large: over 178,956,970 pixels."


def test_a_decompression_bomb_is_refused_as_an_image_too_large(
    gallery: Gallery, operator_api, admin_api, operator_client
):
    """Through the receiver, a known image and the submit form: 400 on the field, nothing stored
    (it was a 500: Pillow's DecompressionBombError escaped the upload check)."""
    bomb = ContentFile(png_bomb(), name="bomb.png")
    answer = operator_api.post("/api/faces/", {"image": bomb}, format="multipart")
    assert answer.status_code == 400, answer.content
    assert answer.json()["image"] == [TOO_LARGE]

    bomb.seek(0)
    known = admin_api.post(
        f"/api/people/{gallery.ada.pk}/images/", {"image": bomb}, format="multipart"
    )
    assert known.status_code == 400 and TOO_LARGE in known.json()["image"][0]

    bomb.seek(0)
    page = operator_client.post(reverse("face-submit"), {"image": bomb})
    assert page.status_code == 400 and TOO_LARGE in page.content.decode()
    assert FaceImage.objects.count() == 3 and KnownFace.objects.count() == 1


def test_searching_people_for_a_nul_byte_finds_nobody(gallery: Gallery, viewer_client):
    """`?q=%00` on the people page (a 500 on PostgreSQL, which refuses NUL in text)."""
    response = viewer_client.get(reverse("person-list"), {"q": "Ada\x00"})
    assert response.status_code == 200
    assert f'data-person="{gallery.ada.pk}"' in response.content.decode()


def test_people_are_listed_by_name_in_the_api_and_on_the_page(
    gallery: Gallery, viewer_api, viewer_client
):
    """The count of known images groups the query, and Django then drops the model's ordering:
    the list came in the database's order, and pages could repeat or skip people."""
    for name in ("bob", "Zoe", "carl", "Alan"):
        Person.objects.create(name=name)
    expected = ["Ada", "Alan", "bob", "carl", "Grace", "Zoe"]
    listed = viewer_api.get("/api/people/").json()["results"]
    assert [person["name"] for person in listed] == expected
    page = viewer_client.get(reverse("person-list")).content.decode()
    shown = [page.index(f"<strong>{name}</strong>") for name in expected]
    assert shown == sorted(shown)


def test_a_circuit_opened_by_a_known_image_is_audited_although_the_image_is_refused(
    gallery: Gallery, admin_api, settings
):
    """The back-end is down (the run's port is closed); the call for a known image is the one
    that opens the circuit. The request fails with a 503, and the change stays in the audit log
    (it was written in the request's transaction and rolled back with it)."""
    settings.FACES_BREAKER_FAIL_MAX = 1
    answer = admin_api.post(
        f"/api/people/{gallery.ada.pk}/images/",
        {"image": ContentFile(jpeg(), name="ada.jpg")},
        format="multipart",
    )
    assert answer.status_code == 503, answer.content
    assert admin_api.get("/api/faces/service/").json()["state"] == "open"
    changes = list(
        AuditEvent.objects.filter(object_type="face-backend").values_list("changes", flat=True)
    )
    assert changes == [{"circuit": ["closed", "open"]}]
    assert KnownFace.objects.count() == 1


TOKEN = "sekret-bearer-token-0f3c9a"  # noqa: S105 - a test value


@pytest.fixture
def kube_service(db, settings, redis_url):
    """The face service's cluster is a Kubernetes cluster whose API server (reached through its
    service proxy with a bearer token) does not answer."""
    import redis

    from clusters.models import Cluster
    from clusters.services import credential_create
    from core.services import SYSTEM
    from tests.clusters.kubeconfigs import minimal, with_token
    from tests.faces.conftest import make_service_run

    client = redis.Redis.from_url(redis_url)
    client.delete(*client.keys("faces:breaker:*") or ["none"])
    credential = credential_create(
        actor=SYSTEM, name="edge", kind="kubeconfig",
        kubeconfig=with_token(minimal("https://127.0.0.1:9"), TOKEN),
    )  # fmt: skip
    cluster = Cluster.objects.create(
        name="edge", kind="kubernetes", credential=credential, namespace="vision"
    )
    settings.FACES_CLUSTER = cluster.name
    settings.FACES_BREAKER_FAIL_MAX = 2
    settings.FACES_MAX_ATTEMPTS = 1
    run = make_service_run(cluster, [])
    run.handle = {"runtime": "kubernetes", "namespace": "vision"}
    run.save(update_fields=["handle"])
    return run


def test_the_service_proxy_token_appears_in_no_answer_error_log_or_audit_entry(
    kube_service, admin_api, caplog
):
    """Images processed while the API server is down: the bearer token the panel sends is in
    no error, status answer, log line, audit entry, nor in the back-end's printed form."""
    from faces import backend, services
    from faces.backend import Endpoint
    from faces.breaker import breaker_for

    caplog.set_level(logging.DEBUG)
    [endpoint] = backend.endpoints()
    assert endpoint.headers == {"Authorization": f"Bearer {TOKEN}"}  # the token is sent
    ids = admin_api.post(
        "/api/faces/", {"volume": "footage", "paths": ["a.jpg", "b.jpg", "c.jpg"]}, format="json"
    )
    assert ids.status_code == 400  # no such volume on this cluster: checked before storing
    images = [FaceImage.objects.create(source="volume", volume="footage", path=f"{n}.jpg")
              for n in "abc"]  # fmt: skip
    outcomes = [services.image_process(image_id=image.pk) for image in images]
    assert outcomes == ["failed", "circuit open", "circuit open"]
    assert breaker_for(endpoint).current_state == "open"

    seen = [
        admin_api.get("/api/faces/service/").content.decode(),
        admin_api.get(reverse("api:faceimage-list")).content.decode(),
        *(image.error for image in FaceImage.objects.all()),
        *(str(event.changes) + event.object_repr for event in AuditEvent.objects.all()),
        caplog.text,
        repr(endpoint),
        str(Endpoint(endpoint.name, endpoint.url, endpoint.headers)),
    ]
    assert "refused" in FaceImage.objects.get(pk=images[0].pk).error  # the reason is kept
    for text in seen:
        assert TOKEN not in text, text[:500]


def test_exporting_the_gallery_over_a_folder_it_did_not_write_is_refused(
    gallery: Gallery, admin_api, tmp_path
):
    """`folder` names what is replaced whole: a folder of other files (or a file) on the volume
    is refused and left as it was, instead of deleted (the file was renamed away, then a 500).
    A folder an earlier export wrote is replaced."""
    from clusters.models import Volume

    Volume.objects.create(cluster=gallery.run.cluster, name="shared", local_path=str(tmp_path))
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "clip.mp4").write_bytes(b"footage")
    (tmp_path / "notes.txt").write_text("notes")
    gallery.known.file.save("ada.jpg", ContentFile(jpeg()))

    for folder in ("videos", "notes.txt"):
        answer = admin_api.post(
            "/api/people/export/", {"volume": "shared", "folder": folder}, format="json"
        )
        assert answer.status_code == 400, answer.content
        assert "not a gallery export" in answer.json()["folder"][0]
    assert (tmp_path / "videos" / "clip.mp4").read_bytes() == b"footage"
    assert (tmp_path / "notes.txt").read_text() == "notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "videos"]

    for _ in range(2):
        answer = admin_api.post(
            "/api/people/export/", {"volume": "shared", "folder": "gallery"}, format="json"
        )
        assert answer.status_code == 200 and answer.json()["images"] == 1, answer.content
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jpg")] == [
        "gallery/Ada/1.jpg"
    ]


def test_retry_takes_the_lists_filters_in_the_query_and_refuses_them_in_a_body(
    gallery: Gallery, operator_api
):
    """Filters sent as a JSON body were ignored, so `{"person": "Grace"}` sent every failed
    image back to the queue; the schema listed no parameter, so a generated client had no
    other way. The body is now refused, and the query's filters are in the schema."""
    answer = operator_api.post("/api/faces/retry/", {"person": "Grace"}, format="json")
    assert answer.status_code == 400, answer.content
    assert FaceImage.objects.get(pk=gallery.failed.pk).status == "failed"

    assert operator_api.post("/api/faces/retry/?person=Grace").json() == {"requeued": 0}
    assert operator_api.post("/api/faces/retry/?status=failed").json() == {"requeued": 1}
    assert FaceImage.objects.get(pk=gallery.failed.pk).status == "pending"

    schema = operator_api.get("/api/schema/", {"format": "json"}).json()
    documented = schema["paths"]["/api/faces/retry/"]["post"].get("parameters", [])
    assert {"status", "person", "created_after"} <= {p["name"] for p in documented}


def test_a_person_filter_of_digits_int_cannot_read_is_no_match_not_a_500(
    gallery: Gallery, viewer_api, viewer_client
):
    """`?person=²`: str.isdigit() says yes to a superscript two, int() says no (a ValueError
    through the list, the results page and its polled rows)."""
    for value in ("²", "①", "9" * 18):
        assert viewer_api.get("/api/faces/", {"person": value}).json()["count"] == 0, value
        for page in ("face-list", "face-rows"):
            assert viewer_client.get(reverse(page), {"person": value}).status_code == 200
    assert viewer_api.get("/api/faces/", {"person": str(gallery.ada.pk)}).json()["count"] == 1


def test_an_upload_gone_from_disk_fails_without_showing_where_the_panel_keeps_files(
    gallery: Gallery, operator_api, settings
):
    """The reason is the viewers' to read: it said "No such file or directory:
    '/…/media/faces/images/….jpg'", the panel's own path."""
    from faces import services

    answer = operator_api.post(
        "/api/faces/", {"image": ContentFile(jpeg(), name="door.jpg")}, format="multipart"
    )
    image = FaceImage.objects.get(pk=answer.json()["id"])
    image.file.storage.delete(image.file.name)
    assert services.image_process(image_id=image.pk) == "failed"
    body = operator_api.get(f"/api/faces/{image.pk}/").json()
    assert body["status"] == "failed" and "cannot be read" in body["error"], body
    assert str(settings.MEDIA_ROOT) not in body["error"] and "faces/images" not in body["error"]


def test_a_multipart_body_with_too_many_fields_gets_the_api_error_shape(
    gallery: Gallery, operator_api
):
    """1,000 `paths` as multipart fields (with `volume`, one over Django's field limit): the
    answer was Django's HTML 400 page, not the API's error body; nothing is stored either way."""
    paths = [f"unknown/{n}.jpg" for n in range(1000)]
    answer = operator_api.post("/api/faces/", {"volume": "photos", "paths": paths})
    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/json", answer.content[:200]
    assert answer.json()["error"]["code"] == "parse_error"
    assert FaceImage.objects.count() == 3


def test_a_persons_known_images_are_the_list_the_schema_describes(gallery: Gallery, viewer_api):
    """Found by the schema fuzzer: the schema promised a page (`{"count", "results"}`) and the
    endpoint answers a plain list, so a generated client fails to read it."""
    answer = viewer_api.get(f"/api/people/{gallery.ada.pk}/images/")
    assert [known["id"] for known in answer.json()] == [gallery.known.pk]
    schema = viewer_api.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/people/{id}/images/"]["get"]
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert body["type"] == "array", body
