"""The face service as its users drive it through the API: a gallery, the receiver, results."""

from __future__ import annotations

from pathlib import Path

import pytest

from faces.models import Face, FaceImage, KnownFace, Person
from tests.faces.conftest import (
    EXPECTED,
    FACES,
    known_person_files,
    people_in,
    wait_processed,
)

pytestmark = [pytest.mark.faces, pytest.mark.slow]


def add_person(api, name: str, photo: Path, *, upload: bool) -> dict:
    person = api.post("/api/people/", {"name": name}, format="json")
    assert person.status_code == 201, person.content
    pk = person.json()["id"]
    if upload:
        with open(photo, "rb") as handle:
            known = api.post(f"/api/people/{pk}/images/", {"image": handle}, format="multipart")
    else:
        relative = photo.relative_to(FACES).as_posix()
        known = api.post(
            f"/api/people/{pk}/images/", {"volume": "photos", "path": relative}, format="json"
        )
    assert known.status_code == 201, known.content
    return known.json()


def test_development_set_identified_through_the_api(celery_worker, face_service, admin_api):
    """Known people from the gallery, every unknown photo as its name says, the stranger
    unknown: uploads and volume paths alike."""
    for index, (person, photo) in enumerate(known_person_files().items()):
        known = add_person(admin_api, person, photo, upload=index % 2 == 0)
        top, right, bottom, left = known["box"]
        assert 0 <= top < bottom <= known["height"] and 0 <= left < right <= known["width"]
        assert known["thumbnail_url"]

    paths = [f"unknown/{name}" for name in sorted(EXPECTED)]
    submitted = admin_api.post("/api/faces/", {"volume": "photos", "paths": paths}, format="json")
    assert submitted.status_code == 202, submitted.content
    assert submitted.json()["status"] == "pending" and len(submitted.json()["ids"]) == len(paths)

    results = wait_processed(admin_api, submitted.json()["ids"])
    found = {Path(body["path"]).name: people_in(body) for body in results.values()}
    assert found == EXPECTED
    for body in results.values():
        assert body["status"] == "processed" and body["attempts"] == 1 and body["error"] == ""
        for face in body["faces"]:
            assert (face["distance"] <= 0.6) == (face["person"] is not None)
        assert admin_api.get(body["thumbnail_url"]).status_code == 200

    with open(FACES / "unknown" / "biden2.jpg", "rb") as handle:
        upload = admin_api.post("/api/faces/", {"image": handle}, format="multipart")
    assert upload.status_code == 202
    [result] = wait_processed(admin_api, upload.json()["ids"]).values()
    assert people_in(result) == ["biden"]

    obama = admin_api.get("/api/people/?search=OBA").json()["results"]
    assert [p["name"] for p in obama] == ["obama"]
    by_person = admin_api.get("/api/faces/?person=Obama&status=processed").json()
    assert sorted(Path(b["path"]).name for b in by_person["results"]) == [
        "obama2.jpg", "obama_small.jpg", "two_people.jpg",
    ]  # fmt: skip


def test_known_images_without_exactly_one_face_are_refused(face_service, admin_api):
    """The 400 says what was found, and nothing is stored."""
    person = admin_api.post("/api/people/", {"name": "Someone"}, format="json").json()
    url = f"/api/people/{person['id']}/images/"

    road = admin_api.post(url, {"volume": "scratch", "path": "road.jpg"}, format="json")
    assert road.status_code == 400 and "No face found" in road.json()["path"][0]
    two = admin_api.post(url, {"volume": "photos", "path": "unknown/two_people.jpg"}, format="json")
    assert two.status_code == 400 and two.json()["path"] == ["2 faces: crop to one."]
    broken = admin_api.post(url, {"volume": "scratch", "path": "not-an-image.jpg"}, format="json")
    assert broken.status_code == 400 and broken.json()["path"]
    missing = admin_api.post(url, {"volume": "photos", "path": "known/nobody.jpg"}, format="json")
    assert missing.status_code == 400 and missing.json()["path"]
    outside = admin_api.post(url, {"volume": "photos", "path": "../lanes/x.jpg"}, format="json")
    assert outside.status_code == 400 and "inside the volume" in outside.json()["path"][0]
    no_volume = admin_api.post(url, {"volume": "elsewhere", "path": "a.jpg"}, format="json")
    assert no_volume.status_code == 400 and "No volume 'elsewhere'" in no_volume.json()["volume"][0]
    with open(FACES / "unknown" / "two_people.jpg", "rb") as handle:
        upload = admin_api.post(url, {"image": handle}, format="multipart")
    assert upload.status_code == 400 and upload.json()["image"] == ["2 faces: crop to one."]

    assert KnownFace.objects.count() == 0


def test_receiver_refuses_bad_input_naming_the_field_and_stores_nothing(face_service, operator_api):
    cases = [
        ({"path": "unknown/obama2.jpg"}, "volume"),
        ({"volume": "photos"}, "path"),
        ({"volume": "photos", "path": "a.jpg", "paths": ["b.jpg"]}, "path"),
        ({"volume": "nowhere", "path": "a.jpg"}, "volume"),
        ({"volume": "photos", "path": "/etc/passwd"}, "path"),
        ({"volume": "photos", "path": "unknown/../../x.jpg"}, "path"),
        ({"volume": "photos", "path": "a\x00.jpg"}, "path"),
        ({"volume": "photos", "path": "a" * 1025}, "path"),
        ({"volume": "photos", "paths": []}, "paths"),
        ({"volume": "photos", "paths": [f"{i}.jpg" for i in range(1001)]}, "paths"),
        ({"volume": "photos", "paths": ["ok.jpg", "../escape.jpg"]}, "paths"),
        ({"volume": "photos", "paths": "unknown/obama2.jpg"}, "paths"),
    ]
    for body, field in cases:
        response = operator_api.post("/api/faces/", body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert field in response.json()["error"]["fields"], (body, response.json())
    not_image = operator_api.post(
        "/api/faces/", {"image": open(__file__, "rb")}, format="multipart"
    )
    assert not_image.status_code == 400 and "image" in not_image.json()
    assert FaceImage.objects.count() == 0


def test_unreadable_images_fail_with_the_reason_and_are_not_retried(
    celery_worker, face_service, operator_api
):
    submitted = operator_api.post(
        "/api/faces/",
        {"volume": "scratch", "paths": ["not-an-image.jpg", "missing.jpg"]},
        format="json",
    ).json()
    results = wait_processed(operator_api, submitted["ids"])
    for body in results.values():
        assert body["status"] == "failed" and body["attempts"] == 1, body
        assert body["error"]

    retried = operator_api.post("/api/faces/retry/?volume=scratch")
    assert retried.status_code == 202 and retried.json() == {"requeued": 2}
    results = wait_processed(operator_api, submitted["ids"])
    assert {body["status"] for body in results.values()} == {"failed"}


def test_naming_an_unknown_face_identifies_that_persons_earlier_unknowns(
    celery_worker, face_service, admin_api
):
    """One click: the face becomes a known image of a new person, and the other photo of
    them, unknown until then, is identified."""
    submitted = admin_api.post(
        "/api/faces/", {"volume": "photos", "paths": ["unknown/obama2.jpg", "unknown/obama_small.jpg"]},
        format="json",
    ).json()  # fmt: skip
    results = wait_processed(admin_api, submitted["ids"])
    assert [people_in(body) for body in results.values()] == [[None], [None]]
    first = results[submitted["ids"][0]]

    named = admin_api.post(
        f"/api/faces/{first['id']}/faces/{first['faces'][0]['id']}/name/", {"name": "Barack Obama"},
        format="json",
    )  # fmt: skip
    assert named.status_code == 201, named.content

    def other_identified():
        other = admin_api.get(f"/api/faces/{submitted['ids'][1]}/").json()
        return people_in(other) == ["Barack Obama"]

    from tests.conftest import wait_for

    wait_for(other_identified, timeout=30, interval=0.2)
    person = Person.objects.get(name__iexact="barack obama")
    assert person.known_faces.count() == 1
    assert set(FaceImage.objects.filter(faces__person=person).values_list("pk", flat=True)) == set(
        submitted["ids"]
    )


def test_people_are_managed_by_admins_and_deleting_one_deletes_their_faces(
    celery_worker, face_service, admin_api, operator_api, viewer_api
):
    assert operator_api.post("/api/people/", {"name": "x"}, format="json").status_code == 403
    assert (
        viewer_api.post(
            "/api/faces/", {"volume": "photos", "path": "a.jpg"}, format="json"
        ).status_code
        == 403
    )
    known = add_person(admin_api, "hannibal", FACES / "known" / "hannibal_1.jpg", upload=True)
    person_id = KnownFace.objects.get(pk=known["id"]).person_id

    duplicate = admin_api.post("/api/people/", {"name": "HANNIBAL"}, format="json")
    assert duplicate.status_code == 400 and "exists already" in duplicate.json()["name"][0]
    renamed = admin_api.patch(
        f"/api/people/{person_id}/", {"name": "Hannibal Lecter"}, format="json"
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Hannibal Lecter"
    assert viewer_api.get(f"/api/people/{person_id}/").json()["known_faces"][0]["id"] == known["id"]

    submitted = admin_api.post(
        "/api/faces/", {"volume": "photos", "path": "unknown/hannibal_2.jpg"}, format="json"
    ).json()
    [result] = wait_processed(admin_api, submitted["ids"]).values()
    assert people_in(result) == ["Hannibal Lecter"]

    stored = KnownFace.objects.get(pk=known["id"])
    files = [Path(stored.file.path), Path(stored.thumbnail.path)]
    assert all(path.exists() for path in files)
    assert admin_api.delete(f"/api/people/{person_id}/").status_code == 204
    assert not Person.objects.filter(pk=person_id).exists()
    assert KnownFace.objects.count() == 0
    assert not any(path.exists() for path in files)
    assert Face.objects.get(image_id=submitted["id"]).person is None  # the history stays
    assert admin_api.get("/api/people/99999999999999999999/").status_code == 404
    assert admin_api.get("/api/faces/123456789/").status_code == 404


def _healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def test_the_preset_on_the_local_cluster_serves_the_processors_with_two_replicas(
    celery_worker, faces_cluster, admin_api, settings
):
    """The real path `make run` takes: the preset's run starts two back-end processes, the
    processors find them through the run and spread the images over both."""
    from workloads.bootstrap import bootstrap_demo

    bootstrap_demo()
    settings.FACES_BREAKER_WAIT = 1
    started = admin_api.post(
        "/api/runs/",
        {"template": "face-recognition-service", "cluster": faces_cluster.name,
         "params": {"replicas": 2}},
        format="json",
    )  # fmt: skip
    assert started.status_code == 201, started.json()
    run_id = started.json()["id"]
    try:
        from tests.conftest import wait_for
        from tests.workloads.conftest import wait_for_run

        run = wait_for_run(admin_api, run_id, states=("running", "failed", "lost"))
        assert run["state"] == "running", run["error"]
        service = admin_api.get("/api/faces/service/").json()
        assert service["run"] == run_id and len(service["backends"]) == 2
        # Both replicas answer (models loaded) before the images go: else, on a busy machine, the
        # first one up takes every image while the other is still loading, as it should.
        for backend in service["backends"]:
            wait_for(lambda url=backend["url"]: _healthy(url), timeout=180, interval=0.5)
        paths = ["unknown/obama_small.jpg"] * 12
        ids = admin_api.post(
            "/api/faces/", {"volume": "photos", "paths": paths}, format="json"
        ).json()["ids"]
        # While the back-ends load their models their circuits may open and the images wait;
        # beat's probe closes them once /healthz answers.
        results = wait_processed(admin_api, ids, timeout=180, beat=True)
        assert {body["status"] for body in results.values()} == {"processed"}
        assert {body["backend"] for body in results.values()} == {
            f"run-{run_id}-serve-0", f"run-{run_id}-serve-1",
        }  # fmt: skip
    finally:
        admin_api.post(f"/api/runs/{run_id}/cancel/")


def test_the_gallery_exported_as_a_folder_feeds_the_batch_template(
    celery_worker, face_service, face_volumes, admin_api, operator_api
):
    """The batch half of the seed reads the service's gallery: people written as
    `<folder>/<person>/<n>.jpg` on a local volume, then the face-identification template run
    with that folder as `known` names the people in a photo."""
    import shutil

    add_person(admin_api, "Barack Obama", FACES / "known" / "obama_1.jpg", upload=True)
    add_person(admin_api, "Joe Biden", FACES / "known" / "biden_1.jpg", upload=False)
    assert (
        operator_api.post("/api/people/export/", {"volume": "scratch"}, format="json").status_code
        == 403
    )
    refused = admin_api.post(
        "/api/people/export/", {"volume": "scratch", "folder": "../x"}, format="json"
    )
    assert refused.status_code == 400 and "folder" in refused.json()

    exported = admin_api.post(
        "/api/people/export/", {"volume": "scratch", "folder": "gallery"}, format="json"
    )
    assert exported.status_code == 200, exported.content
    assert exported.json() | {"skipped": []} == {
        "volume": "scratch", "folder": "gallery", "images": 2, "people": 2, "skipped": [],
    }  # fmt: skip
    folder = face_volumes["scratch"] / "gallery"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.*")) == [
        "Barack Obama/1.jpg", "Joe Biden/1.jpg",
    ]  # fmt: skip
    probe = face_volumes["scratch"] / "probe"
    probe.mkdir(exist_ok=True)
    shutil.copy(FACES / "unknown" / "two_people.jpg", probe / "two_people.jpg")

    started = operator_api.post("/api/runs/", {
        "template": "face-identification", "cluster": face_service.cluster.name,
        "params": {"volume": "scratch", "known": "gallery", "images": ["probe"]},
    }, format="json")  # fmt: skip
    assert started.status_code == 201, started.json()
    from tests.workloads.conftest import wait_for_run

    run = wait_for_run(operator_api, started.json()["id"], timeout=180)
    assert run["state"] == "succeeded", run["error"]
    assert sorted(r["person"] for r in run["results"]) == ["Barack Obama", "Joe Biden"]
