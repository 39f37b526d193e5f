"""Live run logs over the real ASGI app and the Redis channel layer."""

from __future__ import annotations

import asyncio

import pytest

from tests.fixtures.live import (
    ORIGIN,
    astore,
    closed_after,
    communicator,
    receive_lines,
    receive_until_type,
    store,
    token_for,
)

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("asgi_app")]


def test_it_sends_the_backlog_then_live_lines_from_all_pods_in_order(run, viewer_user):
    """Backlog first, then lines stored later, every cursor once, labelled with its pod."""
    store(run, "pod-a", [f"a{i}" for i in range(5)])
    store(run, "pod-b", [f"b{i}" for i in range(5)])
    token = token_for(viewer_user)

    async def scenario():
        comm = communicator(f"/ws/runs/{run.pk}/logs/", token=token)
        connected, protocol = await comm.connect()
        assert connected and protocol == "controlpanel"
        backlog, live = await receive_until_type(comm, "live")
        assert [line["text"] for line in backlog] == [f"a{i}" for i in range(5)] + [
            f"b{i}" for i in range(5)
        ]
        assert live["cursor"] == 10
        await astore(run, "pod-b", ["b5", "b6"])
        await astore(run, "pod-a", ["a5"])
        later = await receive_lines(comm, 3)
        await comm.disconnect()
        return backlog + later

    lines = asyncio.run(scenario())
    assert [line["cursor"] for line in lines] == list(range(1, 14))
    assert [(line["pod"], line["text"]) for line in lines[-3:]] == [
        ("pod-b", "b5"),
        ("pod-b", "b6"),
        ("pod-a", "a5"),
    ]
    assert set(lines[0]) == {"cursor", "pod", "text", "time"}


def test_a_reconnect_resumes_after_the_last_cursor_without_gaps_or_duplicates(run, viewer_user):
    """Lines stored while the client was away arrive once, after the ones it had."""
    store(run, "pod-a", [f"first {i}" for i in range(20)])
    token = token_for(viewer_user)

    async def scenario():
        comm = communicator(f"/ws/runs/{run.pk}/logs/?tail=5", token=token)
        assert (await comm.connect())[0]
        seen, _ = await receive_until_type(comm, "live")
        await comm.disconnect()
        await astore(run, "pod-b", [f"away {i}" for i in range(7)])
        again = communicator(f"/ws/runs/{run.pk}/logs/?after={seen[-1]['cursor']}", token=token)
        assert (await again.connect())[0]
        resumed, _ = await receive_until_type(again, "live")
        await astore(run, "pod-a", ["after reconnect"])
        resumed += await receive_lines(again, 1)
        await again.disconnect()
        return seen, resumed

    seen, resumed = asyncio.run(scenario())
    assert [line["cursor"] for line in seen] == list(range(16, 21))
    assert [line["cursor"] for line in resumed] == list(range(21, 29))
    assert resumed[0]["text"] == "away 0" and resumed[-1]["text"] == "after reconnect"


def test_a_cursor_of_digits_int_cannot_read_gets_the_usual_tail(run, viewer_user):
    """`?after=²&tail=²`: str.isdigit() says yes to a superscript two, int() says no (the socket
    was accepted, then closed by the error)."""
    store(run, "pod-a", [f"line {i}" for i in range(3)])
    token = token_for(viewer_user)

    async def scenario():
        comm = communicator(f"/ws/runs/{run.pk}/logs/?after=%C2%B2&tail=%C2%B2", token=token)
        assert (await comm.connect())[0]
        backlog, live = await receive_until_type(comm, "live")
        await comm.disconnect()
        return backlog, live

    backlog, live = asyncio.run(scenario())
    assert [line["text"] for line in backlog] == ["line 0", "line 1", "line 2"]
    assert live["cursor"] == 3


def test_lines_whose_messages_were_lost_are_sent_from_the_database(run, viewer_user, settings):
    """A line stored without any group message (e.g. Redis dropped it) still arrives."""
    from workloads.models import RunLogLine

    token = token_for(viewer_user)

    async def scenario():
        comm = communicator(f"/ws/runs/{run.pk}/logs/", token=token)
        assert (await comm.connect())[0]
        await receive_until_type(comm, "live")
        await astore(run, "pod-a", ["announced"])
        first = await receive_lines(comm, 1)

        def store_silently():
            from django.utils import timezone

            from workloads.models import Run

            RunLogLine.objects.create(
                run=run, cursor=2, pod="pod-a", text="silent", time=timezone.now()
            )
            Run.objects.filter(pk=run.pk).update(log_cursor=2)

        from channels.db import database_sync_to_async

        await database_sync_to_async(store_silently)()
        second = await receive_lines(comm, 1)
        await comm.disconnect()
        return first + second

    assert [line["text"] for line in asyncio.run(scenario())] == ["announced", "silent"]


def test_a_browser_session_with_our_origin_is_accepted(run, viewer_user, client):
    """The page's own websocket: session cookie plus our Origin."""
    client.force_login(viewer_user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    store(run, "pod-a", ["hello"])

    async def scenario():
        comm = communicator(f"/ws/runs/{run.pk}/logs/", cookie=cookie)
        connected, _ = await comm.connect()
        lines = await receive_lines(comm, 1) if connected else []
        await comm.disconnect()
        return connected, lines

    connected, lines = asyncio.run(scenario())
    assert connected and lines[0]["text"] == "hello"


def _refused(path: str, **kwargs) -> int | None:
    async def scenario():
        comm = communicator(path, **kwargs)
        connected, code = await comm.connect()
        await comm.disconnect()
        return None if connected else code

    return asyncio.run(scenario())


def test_anonymous_users_are_refused(run):
    """No session, no token: closed before accepting, with 4401."""
    assert _refused(f"/ws/runs/{run.pk}/logs/") == 4401


def test_a_revoked_or_wrong_token_is_refused(run):
    """A token that is not ours authenticates nobody."""
    assert _refused(f"/ws/runs/{run.pk}/logs/", token="not-a-token") == 4401


def test_a_session_from_a_foreign_origin_is_refused(run, viewer_user, client):
    """Another site's page cannot ride the user's cookie."""
    client.force_login(viewer_user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    evil = [(b"origin", b"https://evil.example")]
    assert _refused(f"/ws/runs/{run.pk}/logs/", cookie=cookie, headers=evil) is not None


def test_a_session_from_another_port_on_our_host_is_refused(run, viewer_user, client):
    """Another web application on the same host name (another port) cannot ride the cookie,
    while the page on the panel's own scheme, host and port can."""
    client.force_login(viewer_user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    path = f"/ws/runs/{run.pk}/logs/"

    def attempt(origin: bytes, host: bytes) -> int | None:
        return _refused(path, cookie=cookie, headers=[(b"origin", origin), (b"host", host)])

    assert attempt(b"http://127.0.0.1:9999", b"127.0.0.1:8000") is not None
    assert attempt(b"http://localhost:3000", b"localhost:8000") is not None
    assert attempt(b"https://127.0.0.1:8000", b"127.0.0.1:8000") is not None  # other scheme
    assert attempt(b"http://127.0.0.1:8000", b"127.0.0.1:8000") is None
    assert attempt(b"http://localhost", b"localhost:80") is None  # the default port, spelled out


def test_a_trusted_origin_behind_a_proxy_is_accepted_with_its_exact_port(
    run, viewer_user, client, settings
):
    """Behind a TLS proxy the page's origin is not the host the socket reaches: the origin
    named in CSRF_TRUSTED_ORIGINS is accepted, the same host on another port or scheme is not."""
    settings.CSRF_TRUSTED_ORIGINS = ["https://panel.example.com"]
    client.force_login(viewer_user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    path = f"/ws/runs/{run.pk}/logs/"

    def attempt(origin: bytes) -> int | None:
        return _refused(
            path, cookie=cookie, headers=[(b"origin", origin), (b"host", b"127.0.0.1:8000")]
        )

    assert attempt(b"https://panel.example.com") is None
    assert attempt(b"https://panel.example.com:443") is None  # the default port, spelled out
    assert attempt(b"https://panel.example.com:8443") is not None
    assert attempt(b"http://panel.example.com") is not None
    assert attempt(b"https://evil.example.com") is not None


def test_a_session_cookie_without_an_origin_is_not_enough(run, viewer_user, client):
    """Without an Origin the client is not a browser page of ours: it needs a token."""
    client.force_login(viewer_user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    assert _refused(f"/ws/runs/{run.pk}/logs/", cookie=cookie, headers=[]) == 4401


def test_a_user_without_a_role_is_refused(run, viewer_user):
    """Deactivated users have no role: refused like the pages and the API refuse them."""
    token = token_for(viewer_user)
    viewer_user.is_active = False
    viewer_user.save()
    assert _refused(f"/ws/runs/{run.pk}/logs/", token=token) == 4401


def test_an_unknown_run_is_refused(transactional_db, viewer_user):
    assert _refused("/ws/runs/999999/logs/", token=token_for(viewer_user)) == 4404


def test_a_watcher_is_disconnected_when_their_account_is_deactivated(run, viewer_user):
    """Permissions are re-checked while watching, not only on connect: the change is pushed to
    the user's sockets, which close at their next tick, not the periodic re-check's."""

    token = token_for(viewer_user)

    async def scenario():
        from channels.db import database_sync_to_async

        comm = communicator(f"/ws/runs/{run.pk}/logs/", token=token, headers=[ORIGIN])
        assert (await comm.connect())[0]
        await receive_until_type(comm, "live")

        def deactivate():
            viewer_user.is_active = False
            viewer_user.save()

        await database_sync_to_async(deactivate)()
        return await closed_after(comm)

    code, after = asyncio.run(scenario())
    assert code == 4401 and after < 2.5
