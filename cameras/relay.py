"""One MJPEG pull per camera, fanned out to every viewer.

The first viewer of a camera in a web process starts a relay task; the last one to leave stops
it. A Redis lease (`camera-relay:<id>`) makes sure only one web process pulls a camera at a
time: the others take over the pull within a couple of seconds if the holder stops.

Frames reach the viewers of the pulling process straight from memory: no copy per viewer, no
channel layer. Other web processes with viewers of the camera each put one inbox channel in the
group `camera-frames-<id>`; the holder sends each frame to that group once, so a frame crosses
Redis once per other process, whatever the number of viewers (before, every viewer's channel
got its own serialized copy through Redis: 48 viewers of 16 cameras meant 720 copies of a
100 KB JPEG a second through one Redis). Viewers' own channels stay in `camera-<id>` for
`camera.changed` (permission re-checks).

Each frame carries its sequence number and capture time (from the stream server's
`X-Frame-Seq`/`X-Timestamp` part headers, or counted and stamped here when a foreign source has
none), so viewers can measure drops and latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from cameras.sources import StreamTarget, camera_stream_target
from core.websockets import DATABASE_ERRORS, LAYER_ERRORS

logger = logging.getLogger(__name__)

LEASE_MS = 5000
STANDBY_S = 2.0
OUTAGE_RETRY_S = 1.0
MAX_FRAME_BYTES = 8 * 1024 * 1024  # a part larger than this is not a camera frame
# What the puller measured (fps, latency), for /metrics in any web process; gone soon after
# the pull stops.
STATS_PREFIX = "camera-relay-stats:"


def stats_key(camera_id: int) -> str:
    return f"{STATS_PREFIX}{camera_id}"


def camera_group(camera_id: int) -> str:
    """The camera's viewers' channels: `camera.changed` goes here."""
    return f"camera-{camera_id}"


def frames_group(camera_id: int) -> str:
    """Inboxes of the web processes that have viewers of the camera but do not pull it."""
    return f"camera-frames-{camera_id}"


# Kept alive by a web process waiting with viewers while another pulls: frames go to
# `frames_group` only while it exists. Sending to an empty group still cost two Redis round
# trips a frame (a tenth of the web process's CPU for a 16-camera wall with one process).
REMOTE_PREFIX = "camera-relay-remote:"
REMOTE_CHECK_S = 1.0


def remote_key(camera_id: int) -> str:
    return f"{REMOTE_PREFIX}{camera_id}"


@dataclass
class Frame:
    seq: int
    captured_ms: int
    jpeg: bytes


async def read_mjpeg(response: aiohttp.ClientResponse) -> AsyncIterator[Frame]:
    """Parts of a multipart/x-mixed-replace body; needs Content-Length in each part."""
    content = response.content
    counter = 0
    while True:
        line = await content.readline()
        if not line:
            return
        if not line.startswith(b"--"):
            continue  # the CRLF after a part, or preamble
        headers: dict[str, str] = {}
        while True:
            header = await content.readline()
            if not header:
                return
            header = header.strip()
            if not header:
                break
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        if not 0 < length <= MAX_FRAME_BYTES:
            raise ValueError("MJPEG part without a usable Content-Length")
        jpeg = await content.readexactly(length)
        counter += 1
        seq = int(headers.get("x-frame-seq", counter))
        captured = int(headers.get("x-timestamp", int(time.time() * 1000)))
        yield Frame(seq, captured, jpeg)


class CameraRelay:
    """Pulls one camera while this process has viewers of it (and holds the lease)."""

    def __init__(self, camera_id: int, manager: RelayManager):
        self.camera_id = camera_id
        self.manager = manager
        self.viewers: dict[str, object] = {}  # channel name -> consumer (camera_frame/status)
        self.task: asyncio.Task | None = None
        self.token = secrets.token_hex(8)
        self.frames = 0
        self._redis = None
        self._remote, self._remote_checked = False, 0.0

    async def deliver(self, message: dict) -> None:
        """A frame or status to this process's viewers, from memory."""
        handler = "camera_frame" if message["type"] == "camera.frame" else "camera_status"
        for viewer in list(self.viewers.values()):
            with contextlib.suppress(Exception):  # one viewer's closed socket is not the others'
                await getattr(viewer, handler)(message)

    async def run(self) -> None:
        import redis.asyncio as aioredis

        layer = get_channel_layer()
        redis = self._redis = aioredis.from_url(settings.REDIS_URL)
        key = f"camera-relay:{self.camera_id}"
        try:
            while self.viewers:
                try:
                    if await redis.set(key, self.token, nx=True, px=LEASE_MS) or (
                        await redis.get(key) == self.token.encode()
                    ):
                        # Holding: our viewers get frames from memory, not from the group.
                        await layer.group_discard(
                            frames_group(self.camera_id), await self.manager.inbox(layer)
                        )
                        await self._pull(layer, redis, key)
                    else:
                        # Another process pulls: its frames reach our inbox, once per frame.
                        await layer.group_add(
                            frames_group(self.camera_id), await self.manager.inbox(layer)
                        )
                        await redis.set(remote_key(self.camera_id), "1", px=int(STANDBY_S * 3000))
                        await asyncio.sleep(STANDBY_S)
                except (*LAYER_ERRORS, *DATABASE_ERRORS) as exc:
                    # Redis (the lease, the layer) or the database (where the stream is) is
                    # away: wait for it, keep the viewers.
                    logger.info("camera %s: %s; retrying", self.camera_id, exc)
                    await asyncio.sleep(OUTAGE_RETRY_S)
        finally:
            with contextlib.suppress(Exception):
                if self.manager.inbox_name is not None:
                    await layer.group_discard(frames_group(self.camera_id), self.manager.inbox_name)
            with contextlib.suppress(Exception):
                if await redis.get(key) == self.token.encode():
                    await redis.delete(key)
            await redis.aclose()

    async def _record_error(self, error: str) -> None:
        """Keep the reason on the camera's row, for its page and tile (and who opens it later)."""
        from cameras.services import camera_record_error

        await database_sync_to_async(camera_record_error)(camera_id=self.camera_id, error=error)

    async def _send(self, layer, message: dict) -> None:
        await self.deliver(message)
        now = time.monotonic()
        if self._redis is not None and now >= self._remote_checked + REMOTE_CHECK_S:
            self._remote_checked = now
            self._remote = bool(await self._redis.exists(remote_key(self.camera_id)))
        if self._remote:
            await layer.group_send(frames_group(self.camera_id), message)

    async def _status(self, layer, status: str, detail: str = "") -> None:
        await self._send(
            layer,
            {"type": "camera.status", "camera": self.camera_id, "status": status, "detail": detail},
        )

    async def _pull(self, layer, redis, key: str) -> None:
        """Pull until the viewers leave or the source fails (then back off and try again)."""
        target: StreamTarget | None = await database_sync_to_async(camera_stream_target)(
            self.camera_id
        )
        if target is None:
            from cameras.akri import camera_stream_wanted

            # An Akri camera's stream starts with its first viewer: ask for it, then wait.
            detail = await database_sync_to_async(camera_stream_wanted)(self.camera_id)
            await self._status(layer, "waiting", detail)
            await asyncio.sleep(STANDBY_S)
            return
        timeout = aiohttp.ClientTimeout(total=None, connect=5, sock_read=10)
        lease_due = 0.0
        counted, counted_since = 0, time.monotonic()
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(
                    target.url, headers=target.headers, ssl=target.ssl
                ) as response:
                    if response.status != 200:
                        raise aiohttp.ClientResponseError(
                            response.request_info, (), status=response.status,
                            message=(await response.text())[:200],
                        )  # fmt: skip
                    await self._status(layer, "live")
                    await self._record_error("")
                    async for frame in read_mjpeg(response):
                        if not self.viewers:
                            return
                        now = time.monotonic()
                        if now >= lease_due:
                            lease_due = now + LEASE_MS / 3000
                            await redis.set(key, self.token, px=LEASE_MS)
                            if counted:  # a rate needs frames: not at the first one
                                fps = counted / max(now - counted_since, 1e-3)
                                latency = max(0.0, time.time() - frame.captured_ms / 1000)
                                await redis.set(
                                    stats_key(self.camera_id),
                                    f"{fps:.3f} {latency:.3f}",
                                    px=LEASE_MS,
                                )
                            counted, counted_since = 0, now
                        counted += 1
                        self.frames += 1
                        await self._send(
                            layer,
                            {"type": "camera.frame", "camera": self.camera_id, "seq": frame.seq,
                             "captured": frame.captured_ms, "jpeg": frame.jpeg},
                        )  # fmt: skip
        except (TimeoutError, aiohttp.ClientError, ValueError, OSError) as exc:
            logger.info("camera %s: pull failed: %s", self.camera_id, exc)
            await self._status(layer, "reconnecting", str(exc)[:200])
            await self._record_error(str(exc) or type(exc).__name__)
            await asyncio.sleep(1.0)


class RelayManager:
    """This process's relays, keyed by camera id, and its inbox for frames other processes
    pull."""

    def __init__(self) -> None:
        self.relays: dict[int, CameraRelay] = {}
        self.inbox_name: str | None = None
        self._inbox_task: asyncio.Task | None = None

    async def inbox(self, layer) -> str:
        if self.inbox_name is None or self._inbox_task is None or self._inbox_task.done():
            # The default prefix, as the consumers' channels have: channels-redis reads each
            # prefix's messages with one blocking pop at a time under one lock, so a channel of a
            # prefix of its own would wait behind the consumers' pops (and theirs behind its).
            self.inbox_name = await layer.new_channel()
            self._inbox_task = asyncio.get_running_loop().create_task(self._read_inbox(layer))
        return self.inbox_name

    async def _read_inbox(self, layer) -> None:
        name = self.inbox_name
        while True:
            try:
                message = await layer.receive(name)
            except LAYER_ERRORS as exc:
                logger.info("camera relay inbox: %s; retrying", exc)
                await asyncio.sleep(OUTAGE_RETRY_S)
                continue
            relay = self.relays.get(message.get("camera"))
            if relay is not None:
                await relay.deliver(message)

    def join(self, camera_id: int, viewer) -> CameraRelay:
        relay = self.relays.get(camera_id)
        if relay is None:
            relay = self.relays[camera_id] = CameraRelay(camera_id, self)
        relay.viewers[viewer.channel_name] = viewer
        if relay.task is None or relay.task.done():
            relay.task = asyncio.get_running_loop().create_task(self._run(relay))
        return relay

    async def _run(self, relay: CameraRelay) -> None:
        try:
            await relay.run()
        finally:
            if not relay.viewers and self.relays.get(relay.camera_id) is relay:
                del self.relays[relay.camera_id]

    async def leave(self, camera_id: int, viewer: str) -> None:
        relay = self.relays.get(camera_id)
        if relay is None:
            return
        relay.viewers.pop(viewer, None)
        if not relay.viewers and relay.task is not None:
            # Stop pulling now rather than at the next frame: the last viewer has left.
            relay.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await relay.task
            self.relays.pop(camera_id, None)


relays = RelayManager()


SNAPSHOT_TIMEOUT_S = 10.0


async def grab_frame(target: StreamTarget, timeout: float = SNAPSHOT_TIMEOUT_S) -> Frame:
    """The next frame of a stream, for a snapshot: one request, read to its first part."""
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        async with session.get(target.url, headers=target.headers, ssl=target.ssl) as response:
            if response.status != 200:
                raise ValueError(f"the stream answered HTTP {response.status}")
            async for frame in read_mjpeg(response):
                return frame
    raise ValueError("the stream ended before its first frame")
