"""Live camera frames over a websocket: `/ws/cameras/<id>/frames/`.

Each frame is one binary message: 16 bytes of header (sequence number and capture time in ms
since the epoch, both big-endian unsigned 64-bit) followed by the JPEG. Text messages are JSON
control messages (`hello`, `status`).

A slow viewer skips frames instead of buffering: the consumer keeps only the newest frame it has
not sent, and sends at most WINDOW frames the client has not acknowledged
(`{"type": "ack", "seq": N}` after showing a frame). A client that never acknowledges gets one
frame a second. So memory per connection is a couple of frames, whatever the viewer's speed.

The socket outlives a Redis restart: it stays open, the viewer gets the status
`reconnecting`, and frames follow once Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from cameras.models import Camera
from cameras.relay import camera_group, relays
from cameras.selectors import camera_may_watch
from core.services import Actor, audit_record_view
from core.websockets import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    LayerOutageMixin,
    access_verdict,
    connect_refusal,
    outlives_database_outage,
    refreshed_user,
    user_group,
)

HEADER = struct.Struct(">QQ")
# Changes to who may watch are pushed (`camera.changed`, `access.changed`); this re-check only
# catches one lost while Redis was away. Every 5 s it was a fifth of the web process's CPU for
# 48 viewers (three queries each).
SAFETY_RECHECK_S = 30.0
WINDOW = 2
UNACKED_GRACE_S = 1.0


class CameraFrameConsumer(LayerOutageMixin, AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.camera_id = int(self.scope["url_route"]["kwargs"]["camera_id"])
        self.joined = False
        self.pending: dict | None = None
        self.in_flight = 0
        self.last_ack = time.monotonic()
        self.ticker: asyncio.Task | None = None
        user = self.scope.get("user")
        refusal = connect_refusal(user)
        if refusal is not None:
            await self.close(code=refusal)
            return
        name = await self._open_camera(user)
        if isinstance(name, int):
            await self.close(code=name)
            return
        await self.join_groups(camera_group(self.camera_id), user_group(user.pk))
        self.joined = True
        await self.accept(subprotocol=self.scope.get("ws_subprotocol"))
        await self.send(
            text_data=json.dumps({"type": "hello", "camera": self.camera_id, "name": name})
        )
        relays.join(self.camera_id, self)
        self.ticker = asyncio.create_task(self._tick())

    async def disconnect(self, code: int) -> None:
        if self.ticker is not None:
            self.ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.ticker
        if self.joined:
            await self.leave_groups()
            await relays.leave(self.camera_id, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not text_data:
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            return
        if isinstance(message, dict) and message.get("type") == "ack":
            self.in_flight = max(0, self.in_flight - 1)
            self.last_ack = time.monotonic()
            await self._pump()

    # -- from the relay (in memory) and the channel layer --------------------------------------
    async def camera_frame(self, message: dict) -> None:
        self.pending = message  # an older unsent frame is dropped here: skip, don't queue
        await self._pump()

    async def camera_status(self, message: dict) -> None:
        payload = {
            "type": "status",
            "status": message["status"],
            "detail": message.get("detail", ""),
        }
        await self.send(text_data=json.dumps(payload))

    async def camera_changed(self, message: dict) -> None:
        await self._enforce()

    async def access_changed(self, message: dict) -> None:  # the user's role, groups, account
        await self._enforce()

    async def layer_lost(self, message: dict) -> None:
        # Frames travel through Redis: none arrive until it is back.
        self.pending = None
        await self.camera_status({"status": "reconnecting", "detail": message["detail"]})

    async def layer_restored(self, message: dict) -> None:
        relays.join(self.camera_id, self)  # restarts the pull if it gave up

    # -- internals ------------------------------------------------------------------------------
    async def _pump(self) -> None:
        if self.pending is None:
            return
        if self.in_flight >= WINDOW:
            if time.monotonic() - self.last_ack < UNACKED_GRACE_S:
                return
            self.in_flight, self.last_ack = WINDOW - 1, time.monotonic()
        frame, self.pending = self.pending, None
        self.in_flight += 1
        await self.send(bytes_data=HEADER.pack(frame["seq"], frame["captured"]) + frame["jpeg"])

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(SAFETY_RECHECK_S)
            if await self._enforce():
                return

    @outlives_database_outage
    async def _enforce(self) -> bool:
        """Close if the viewer may no longer watch (or the camera is gone); True if closed."""
        verdict = await self._recheck()
        if verdict is None:
            return False
        await self.close(code=verdict)
        return True

    @database_sync_to_async
    def _recheck(self) -> int | None:
        user = self.scope.get("user")
        verdict = access_verdict(user, Camera.objects.filter(pk=self.camera_id))
        if verdict is None and not camera_may_watch(refreshed_user(user), self.camera_id):
            return CLOSE_FORBIDDEN  # the camera's viewers no longer include this user
        return verdict

    @database_sync_to_async
    def _open_camera(self, user) -> str | int:
        """The camera's name, recording the view in the audit log; or the close code when there
        is no such camera (4404) or its viewers do not include the user (4403)."""
        camera = Camera.objects.filter(pk=self.camera_id).first()
        if camera is None:
            return CLOSE_NOT_FOUND
        if not camera_may_watch(user, camera.pk):
            return CLOSE_FORBIDDEN
        client = self.scope.get("client") or [None]
        audit_record_view(actor=Actor(user=user, ip_address=client[0]), obj=camera)
        return camera.name
