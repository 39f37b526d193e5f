"""Live camera frames: one pull per camera, fanned out to every viewer, skipping for the slow."""

from __future__ import annotations

import asyncio
import json
import struct
import time

import pytest
from channels.db import database_sync_to_async

from tests.fixtures.live import communicator, stream_clients, token_for

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("asgi_app")]


@pytest.fixture
def camera(transactional_db, stream_server):
    from cameras.models import Camera

    return Camera.objects.create(name="clock", source_url=stream_server + "/stream.mjpg")


async def next_frame(comm, timeout: float = 15) -> tuple[int, int, bytes]:
    while True:
        output = await comm.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            raise AssertionError(f"closed with {output.get('code')}")
        if output.get("bytes"):
            seq, captured = struct.unpack(">QQ", output["bytes"][:16])
            return seq, captured, output["bytes"][16:]


async def wait_until(predicate, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not await database_sync_to_async(predicate)():
        assert time.monotonic() < deadline, f"not met: {predicate}"
        await asyncio.sleep(0.1)


def test_two_viewers_get_the_same_live_frames_from_a_single_pull(
    camera, stream_server, viewer_user, admin_user
):
    """Both see JPEG frames with rising sequence numbers and a capture time; the camera is
    pulled once, and the pull stops when the last viewer leaves."""
    path = f"/ws/cameras/{camera.pk}/frames/"
    tokens = token_for(viewer_user), token_for(admin_user)

    async def scenario():
        one = communicator(path, token=tokens[0])
        two = communicator(path, token=tokens[1])
        assert (await one.connect())[0] and (await two.connect())[0]
        hello = json.loads(await one.receive_from(timeout=5))
        assert hello == {"type": "hello", "camera": camera.pk, "name": "clock"}
        frames = {"one": [], "two": []}
        for _ in range(5):
            for name, comm in (("one", one), ("two", two)):
                frame = await next_frame(comm)
                frames[name].append(frame)
                await comm.send_to(text_data=json.dumps({"type": "ack", "seq": frame[0]}))
        await wait_until(lambda: stream_clients(stream_server) == 1)
        await one.disconnect()
        await two.disconnect()
        await wait_until(lambda: stream_clients(stream_server) == 0)
        return frames

    frames = asyncio.run(scenario())
    for received in frames.values():
        seqs = [seq for seq, _, _ in received]
        assert seqs == sorted(seqs) and len(set(seqs)) == 5
        assert all(jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9" for _, _, jpeg in received)
        assert all(abs(captured / 1000 - time.time()) < 60 for _, captured, _ in received)
    assert {s for s, _, _ in frames["one"]} & {s for s, _, _ in frames["two"]}  # the same frames


def test_a_viewer_that_stops_reading_skips_frames_instead_of_queueing_them(camera, viewer_user):
    """Without acknowledgements at most two frames are in flight; afterwards the next frame is
    the newest, not the oldest of a backlog."""

    token = token_for(viewer_user)

    async def scenario():
        comm = communicator(f"/ws/cameras/{camera.pk}/frames/", token=token)
        assert (await comm.connect())[0]
        first = [await next_frame(comm), await next_frame(comm)]
        await asyncio.sleep(0.6)  # about 12 frames go by while two are unacknowledged
        for seq, _, _ in first:
            await comm.send_to(text_data=json.dumps({"type": "ack", "seq": seq}))
        after = await next_frame(comm)
        await comm.disconnect()
        return [seq for seq, _, _ in first], after[0]

    first, after = asyncio.run(scenario())
    assert after > first[-1] + 5


def test_viewing_a_camera_is_recorded_in_the_audit_log(camera, viewer_user):
    """Once per user, camera and hour: a wall opened three times is one line, not three."""
    from datetime import timedelta

    from core.models import AuditEvent

    token = token_for(viewer_user)

    async def scenario():
        comm = communicator(f"/ws/cameras/{camera.pk}/frames/", token=token)
        assert (await comm.connect())[0]
        await comm.disconnect()

    for _visit in range(3):
        asyncio.run(scenario())
    views = AuditEvent.objects.filter(action="view")
    assert views.count() == 1
    event = views.get()
    assert event.actor == viewer_user and "clock" in event.object_repr
    views.update(created_at=event.created_at - timedelta(minutes=61))
    asyncio.run(scenario())
    assert views.count() == 2  # an hour later it is a new visit


def test_anonymous_viewers_and_foreign_origins_are_refused(camera, viewer_user, client):
    """No identity, another site, or another application on our host name (another port)."""
    client.force_login(viewer_user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    async def scenario():
        results = []
        other_port = [(b"origin", b"http://testserver:3000"), (b"host", b"testserver")]
        for kwargs in (
            {},
            {"cookie": cookie, "headers": [(b"origin", b"https://evil.example")]},
            {"cookie": cookie, "headers": other_port},
        ):
            comm = communicator(f"/ws/cameras/{camera.pk}/frames/", **kwargs)
            connected, _ = await comm.connect()
            results.append(connected)
            await comm.disconnect()
        return results

    assert asyncio.run(scenario()) == [False, False, False]


def test_viewers_are_disconnected_when_the_camera_is_deleted(camera, viewer_user, operator_user):
    """A change to the camera makes every viewer's permission be re-checked at once."""
    from cameras.services import camera_delete
    from core.services import Actor

    token = token_for(viewer_user)

    async def scenario():
        comm = communicator(f"/ws/cameras/{camera.pk}/frames/", token=token)
        assert (await comm.connect())[0]
        await next_frame(comm)
        await database_sync_to_async(camera_delete)(actor=Actor(user=operator_user), camera=camera)
        while True:
            output = await comm.receive_output(timeout=3)  # well before the periodic re-check
            if output["type"] == "websocket.close":
                return output["code"]

    assert asyncio.run(scenario()) == 4404


def test_viewers_in_two_web_processes_share_one_pull(
    daphne_server, camera, stream_server, viewer_user
):
    """A viewer here and one on a second web process (Daphne) both get live frames while the
    camera is pulled once: the process that does not pull gets each frame through its inbox."""
    import threading

    import websocket

    token = token_for(viewer_user)
    received: list[int] = []

    def remote_viewer() -> None:
        url = daphne_server.replace("http", "ws") + f"/ws/cameras/{camera.pk}/frames/"
        ws = websocket.create_connection(url, subprotocols=["controlpanel", f"token.{token}"])
        ws.settimeout(30)
        try:
            while len(received) < 10:
                opcode, data = ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_BINARY:
                    seq = struct.unpack(">QQ", data[:16])[0]
                    received.append(seq)
                    ws.send(json.dumps({"type": "ack", "seq": seq}))
        finally:
            ws.close()

    async def scenario():
        comm = communicator(f"/ws/cameras/{camera.pk}/frames/", token=token)
        assert (await comm.connect())[0]
        thread = threading.Thread(target=remote_viewer)
        thread.start()
        local = []
        while thread.is_alive() or len(local) < 10:
            seq, _captured, _jpeg = await next_frame(comm)
            local.append(seq)
            await comm.send_to(text_data=json.dumps({"type": "ack", "seq": seq}))
            if len(local) == 5:
                await wait_until(lambda: stream_clients(stream_server) == 1)
        thread.join()
        pulls = stream_clients(stream_server)
        await comm.disconnect()
        return local, pulls

    local, pulls = asyncio.run(scenario())
    assert pulls == 1
    assert len(received) == 10 and received == sorted(received)
    assert set(received) & set(local)  # the same frames on both processes
