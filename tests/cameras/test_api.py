"""Cameras over the REST API, and who may watch which camera on every path."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group

from cameras.models import Camera
from core.choices import Role
from core.models import AuditEvent
from tests.cameras.test_socket import next_frame
from tests.factories import UserFactory
from tests.fixtures.live import closed_after, communicator, token_for


def test_operators_add_change_and_delete_cameras_through_the_api(operator_api, viewer_api):
    """The form's fields in, the same checks as the form (400 naming the field), audited."""
    bad = operator_api.post("/api/cameras/", {"name": "door", "source_url": "rtsp://cam/1"})
    assert bad.status_code == 400 and "source_url" in bad.json()
    assert not Camera.objects.exists()
    created = operator_api.post(
        "/api/cameras/", {"name": "door", "source_url": "http://cam.example/stream.mjpg"}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["restricted"] is False and body["discovered_by_akri"] is False
    assert body["frames_socket"] == f"/ws/cameras/{body['id']}/frames/"
    assert viewer_api.get("/api/cameras/").json()["results"][0]["name"] == "door"
    assert viewer_api.patch(f"/api/cameras/{body['id']}/", {"name": "x"}).status_code == 403
    changed = operator_api.patch(f"/api/cameras/{body['id']}/", {"name": "front door"})
    assert changed.status_code == 200 and changed.json()["name"] == "front door"
    assert operator_api.get("/api/cameras/999999/").status_code == 404
    assert operator_api.delete(f"/api/cameras/{body['id']}/").status_code == 204
    actions = list(
        AuditEvent.objects.filter(object_type="camera")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["create", "update", "delete"]


def test_only_admins_choose_a_cameras_viewers(operator_api, admin_api, viewer_user):
    camera = Camera.objects.create(name="yard", source_url="http://cam.example/a.mjpg")
    refused = operator_api.patch(
        f"/api/cameras/{camera.pk}/", {"restricted": True, "name": "renamed"}, format="json"
    )
    assert refused.status_code == 403
    camera.refresh_from_db()
    assert camera.restricted is False and camera.name == "yard"
    Group.objects.create(name="night shift")
    done = admin_api.patch(
        f"/api/cameras/{camera.pk}/",
        {"restricted": True, "viewer_users": ["vera"], "viewer_groups": ["night shift"]},
        format="json",
    )
    assert done.status_code == 200, done.content
    assert done.json()["viewer_users"] == ["vera"]
    assert done.json()["viewer_groups"] == ["night shift"]
    unknown = admin_api.patch(
        f"/api/cameras/{camera.pk}/", {"viewer_users": ["nobody"]}, format="json"
    )
    assert unknown.status_code == 400 and "viewer_users" in unknown.json()
    event = AuditEvent.objects.filter(object_type="camera").latest("id")
    assert event.changes["viewers"] == {
        "before": {"restricted": False, "users": [], "groups": []},
        "after": {"restricted": True, "users": ["vera"], "groups": ["night shift"]},
    }


def test_a_restricted_camera_is_hidden_from_viewers_it_does_not_name(
    admin_api, viewer_api, viewer_client, viewer_user
):
    """Wall, page and API: the unchosen viewer sees nothing; a named user and a member of a
    named group do, and admins always do."""
    open_camera = Camera.objects.create(name="lobby", source_url="http://cam.example/a.mjpg")
    secret = Camera.objects.create(
        name="vault", source_url="http://cam.example/b.mjpg", restricted=True
    )
    guard = UserFactory(username="gus", role=Role.VIEWER)
    member = UserFactory(username="mia", role=Role.VIEWER)
    group = Group.objects.create(name="guards")
    member.groups.add(group)
    secret.viewer_users.add(guard)
    secret.viewer_groups.add(group)

    assert [c["name"] for c in viewer_api.get("/api/cameras/").json()["results"]] == ["lobby"]
    for path in ("", "snapshot/"):
        assert viewer_api.get(f"/api/cameras/{secret.pk}/{path}").status_code == 404
    assert viewer_api.patch(f"/api/cameras/{secret.pk}/", {"name": "x"}).status_code == 403
    wall = viewer_client.get("/cameras/").content.decode()
    assert "lobby" in wall and "vault" not in wall
    assert viewer_client.get(f"/cameras/{secret.pk}/").status_code == 404
    assert viewer_client.get(f"/cameras/{open_camera.pk}/").status_code == 200

    for user in (guard, member):
        viewer_client.force_login(user)
        assert "vault" in viewer_client.get("/cameras/").content.decode()
    names = [c["name"] for c in admin_api.get("/api/cameras/").json()["results"]]
    assert names == ["lobby", "vault"]


@pytest.mark.live
@pytest.mark.usefixtures("asgi_app")
def test_snapshots_and_sockets_follow_the_viewers_and_a_viewer_losing_access_is_cut_off(
    stream_server, admin_user, viewer_user
):
    """A snapshot is a JPEG of the live stream; a viewer not named is refused with 4403 like
    any other refusal; a viewer who loses access while watching is closed well within a
    second of the change."""
    import time

    from rest_framework.test import APIClient

    from cameras.services import camera_set_viewers
    from core.services import Actor

    camera = Camera.objects.create(name="clock", source_url=stream_server + "/stream.mjpg")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(viewer_user)}")
    snapshot = api.get(f"/api/cameras/{camera.pk}/snapshot/")
    assert snapshot.status_code == 200 and snapshot["Content-Type"] == "image/jpeg"
    assert snapshot.content[:2] == b"\xff\xd8" and snapshot.content[-2:] == b"\xff\xd9"
    assert AuditEvent.objects.filter(action="view", actor=viewer_user).exists()

    other = UserFactory(username="olga", role=Role.VIEWER)
    path = f"/ws/cameras/{camera.pk}/frames/"
    tokens = token_for(viewer_user), token_for(other)

    async def scenario():
        watching = communicator(path, token=tokens[0])
        staying = communicator(path, token=tokens[1])
        assert (await watching.connect())[0] and (await staying.connect())[0]
        await next_frame(watching)
        await database_sync_to_async(camera_set_viewers)(
            actor=Actor(user=admin_user), camera=camera, restricted=True, users=[other]
        )
        changed = time.monotonic()
        while True:
            output = await watching.receive_output(timeout=1.0)
            if output["type"] == "websocket.close":
                cut_after = time.monotonic() - changed
                break
        await next_frame(staying)  # the named viewer keeps watching
        await staying.disconnect()
        refused = communicator(path, token=tokens[0])
        connected, code = await refused.connect()
        return output["code"], cut_after, connected, code

    code, cut_after, connected, refused_code = asyncio.run(scenario())
    assert code == 4403 and cut_after < 1.0
    assert (connected, refused_code) == (False, 4403)
    assert api.get(f"/api/cameras/{camera.pk}/snapshot/").status_code == 404


@pytest.mark.live
@pytest.mark.usefixtures("asgi_app")
def test_a_viewer_who_leaves_the_cameras_group_or_is_deactivated_is_cut_off_at_once(
    stream_server, admin_user
):
    """Access that changes on the user's side, not the camera's: removed from the one group
    that may watch (from either side of the relation), or the account deactivated, in Django's
    admin or a shell. Each socket closes well within a second, with the refusal's code."""

    from cameras.services import camera_set_viewers
    from core.services import Actor

    night = Group.objects.create(name="night shift")
    nia = UserFactory(username="nia", role=Role.VIEWER)
    bob = UserFactory(username="bob", role=Role.VIEWER)
    cyd = UserFactory(username="cyd", role=Role.VIEWER)
    night.user_set.add(nia, bob, cyd)
    camera = Camera.objects.create(name="gate", source_url=stream_server + "/stream.mjpg")
    camera_set_viewers(actor=Actor(user=admin_user), camera=camera, restricted=True, groups=[night])
    path = f"/ws/cameras/{camera.pk}/frames/"
    tokens = {user.username: token_for(user) for user in (nia, bob, cyd)}

    async def cut_off(watching, change) -> tuple[int, float]:
        await database_sync_to_async(change)()
        return await closed_after(watching, timeout=1.0)

    def deactivate_cyd():
        cyd.is_active = False
        cyd.save()

    async def scenario():
        sockets = {name: communicator(path, token=token) for name, token in tokens.items()}
        for socket in sockets.values():
            assert (await socket.connect())[0]
            await next_frame(socket)
        results = {
            "nia": await cut_off(sockets["nia"], lambda: nia.groups.remove(night)),
            "bob": await cut_off(sockets["bob"], lambda: night.user_set.remove(bob)),
            "cyd": await cut_off(sockets["cyd"], deactivate_cyd),
        }
        return results

    results = asyncio.run(scenario())
    assert results["nia"][0] == 4403 and results["nia"][1] < 1.0
    assert results["bob"][0] == 4403 and results["bob"][1] < 1.0
    assert results["cyd"][0] == 4401 and results["cyd"][1] < 1.0


def test_admins_choose_viewers_on_the_camera_page(admin_client, operator_user, viewer_user):
    """The page's form does what the API does; operators may not use it."""
    from django.test import Client

    camera = Camera.objects.create(name="dock", source_url="http://cam.example/a.mjpg")
    page = admin_client.get(f"/cameras/{camera.pk}/").content.decode()
    assert "Who may watch" in page and "Every viewer (the default)" in page
    response = admin_client.post(
        f"/cameras/{camera.pk}/viewers/",
        {"restricted": "on", "viewer_users": [operator_user.pk]},
    )
    assert response.status_code == 302
    camera.refresh_from_db()
    assert camera.restricted and list(camera.viewer_users.all()) == [operator_user]
    operator = Client()
    operator.force_login(operator_user)
    assert operator.post(f"/cameras/{camera.pk}/viewers/", {}).status_code == 403
    assert "Who may watch" not in operator.get(f"/cameras/{camera.pk}/").content.decode()
    viewer = Client()
    viewer.force_login(viewer_user)
    assert viewer.get(f"/cameras/{camera.pk}/").status_code == 404


def test_an_akri_cameras_discovered_fields_are_not_changed_by_hand(operator_api):
    """Name, processing and keep_running are the operator's; where the camera is, Akri's."""
    from django.utils import timezone

    from cameras.akri import camera_stream_wanted

    camera = Camera.objects.create(
        name="bay", akri_namespace="edge", akri_instance="akri-udev-video-1",
        akri_configuration="akri-udev-video", akri_nodes=["node-1"], akri_device="/dev/video0",
    )  # fmt: skip
    refused = operator_api.patch(
        f"/api/cameras/{camera.pk}/", {"source_url": "http://cam.example/x.mjpg"}, format="json"
    )
    assert (
        refused.status_code == 400 and "Akri" in refused.json()["error"]["fields"]["source_url"][0]
    )
    changed = operator_api.patch(
        f"/api/cameras/{camera.pk}/", {"name": "loading bay", "keep_running": True}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["keep_running"] is True
    assert changed.json()["akri_device"] == "/dev/video0"
    camera.gone_at = timezone.now()
    camera.save()
    assert operator_api.get(f"/api/cameras/{camera.pk}/").json()["gone"] is True
    assert operator_api.get(f"/api/cameras/{camera.pk}/snapshot/").status_code == 503
    assert "gone" in camera_stream_wanted(camera.pk)


def test_a_viewer_name_no_row_can_have_is_a_400(admin_api):
    """A NUL byte in a form-encoded name reaches no query (PostgreSQL refuses it)."""
    response = admin_api.post(
        "/api/cameras/",
        {"name": "x", "source_url": "http://cam.example/a.mjpg", "viewer_users": ["a\x00b"]},
    )
    assert response.status_code == 400 and "viewer_users" in response.json()["error"]["fields"]
    assert not Camera.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_camera_is_deleted_while_redis_is_away(operator_api, settings):
    """Telling its open sockets fails with Redis away; the deletion still answers 204 and is
    done (the sockets' periodic re-check closes them once Redis is back)."""
    from tests.conftest import free_port

    camera = Camera.objects.create(name="yard", source_url="http://cam.example/a.mjpg")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
        }
    }
    response = operator_api.delete(f"/api/cameras/{camera.pk}/")
    assert response.status_code == 204
    assert not Camera.objects.filter(pk=camera.pk).exists()
