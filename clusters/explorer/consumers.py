"""A pod's log, live, for each viewer: `/ws/clusters/<id>/namespaces/<ns>/pods/<pod>/logs/
<container>/<current|previous>/`.

Nothing is stored: each socket follows the log straight from the API server on a thread of its
own, and speaks the run log view's protocol (static/live/logs.js): lines `{"cursor", "pod",
"text", "time"}` where the cursor is the line's number in the container's log and `pod` the
container, then `live`, `heartbeat` and, when the log ends (previous container, container
exited), `ended`. A reconnect with `?after=N` reads the log again and skips what was sent.
The thread waits while the socket's queue is full, so a slow viewer slows its own stream, never
the server's memory. The viewer's role is checked again every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from datetime import UTC, datetime
from typing import Any

import urllib3
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from clusters.explorer.client import ExplorerError, Forbidden, NotFound, connect
from clusters.explorer.selectors import BadInput, clean_name, clean_namespace
from clusters.models import Cluster
from core.websockets import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    RECHECK_S,
    access_verdict,
    connect_refusal,
    query_param,
)

QUEUE_MAX = 2000
HEARTBEAT_S = 5.0
CHUNK = 16 * 1024


class PodLogConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        self.stop = threading.Event()
        self.sender: asyncio.Task | None = None
        refusal = connect_refusal(self.scope.get("user"))
        if refusal is not None:
            await self.close(code=refusal)
            return
        try:
            self.namespace = clean_namespace(kwargs["namespace"])
            self.pod, self.container = clean_name(kwargs["pod"]), clean_name(kwargs["container"])
        except BadInput:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if kwargs["which"] not in ("current", "previous"):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.previous = kwargs["which"] == "previous"
        self.cluster = await self._cluster(kwargs["cluster_id"])
        if self.cluster is None or not self.namespace:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.accept(subprotocol=self.scope.get("ws_subprotocol"))
        after = query_param(self.scope, "after")
        self.after = int(after) if after and after.isdecimal() else 0
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_MAX)
        loop = asyncio.get_running_loop()
        threading.Thread(
            target=self._read, args=(loop,), daemon=True, name=f"pod-log-{self.pod}"
        ).start()
        self.sender = asyncio.create_task(self._send())

    async def disconnect(self, code: int) -> None:
        self.stop.set()
        if self.sender is not None:
            self.sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.sender

    async def receive_json(self, content: Any, **kwargs) -> None:
        pass  # acks of the run log protocol: the queue's bound already paces this stream

    # -- the reading thread -------------------------------------------------------------------
    def _put(self, loop: asyncio.AbstractEventLoop, message: dict) -> bool:
        """Hand a message to the socket, waiting while its queue is full; False once closed."""
        while not self.stop.is_set():
            try:
                future = asyncio.run_coroutine_threadsafe(self.queue.put(message), loop)
            except RuntimeError:  # the event loop is gone: the socket with it
                return False
            try:
                future.result(timeout=1.0)
                return True
            except TimeoutError:
                future.cancel()
        return False

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        query: list = [("container", self.container)]
        query += [("previous", "true")] if self.previous else [("follow", "true")]
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.pod}/log"
        try:
            with connect(self.cluster) as session:
                response = session.request(
                    "GET", path, query=query, stream=True,
                    verb="get", resource="pods/log", namespace=self.namespace,
                )  # fmt: skip
                watcher = threading.Thread(
                    target=self._shutdown_on_stop, args=(response,), daemon=True
                )
                watcher.start()
                self._put(loop, {"type": "live", "cursor": self.after})
                self._lines(loop, response)
                response.release_conn()
        except Forbidden as exc:
            self._put(loop, {"type": "error", "message": exc.message, "close": CLOSE_FORBIDDEN})
            return
        except NotFound:
            message = f"Pod {self.namespace}/{self.pod} or its container {self.container} is gone."
            self._put(loop, {"type": "error", "message": message, "close": CLOSE_NOT_FOUND})
            return
        except ExplorerError as exc:
            # e.g. "container is waiting to start": the viewer reconnects and tries again.
            self._put(loop, {"type": "error", "message": exc.message, "close": 1011})
            return
        except urllib3.exceptions.HTTPError:
            if not self.stop.is_set():
                self._put(
                    loop, {"type": "error", "message": "The log stream broke.", "close": 1011}
                )
            return
        self._put(loop, {"type": "ended"})

    def _shutdown_on_stop(self, response) -> None:
        while not self.stop.wait(0.5):
            if response.closed:
                return
        with contextlib.suppress(Exception):
            response.shutdown()

    def _lines(self, loop, response) -> None:
        cursor, pending = 0, b""
        for chunk in response.stream(CHUNK, decode_content=True):
            *complete, pending = (pending + chunk).split(b"\n")
            for line in complete:
                cursor += 1
                if cursor > self.after and not self._put(loop, self._line(cursor, line)):
                    return
        if pending:
            cursor += 1
            if cursor > self.after:
                self._put(loop, self._line(cursor, pending))

    def _line(self, cursor: int, raw: bytes) -> dict:
        return {
            "cursor": cursor,
            "pod": self.container,
            "text": raw.decode("utf-8", "replace"),
            "time": datetime.now(UTC).isoformat(),
        }

    # -- the socket side ----------------------------------------------------------------------
    async def _send(self) -> None:
        last_cursor = self.after
        next_recheck = time.monotonic() + RECHECK_S
        while True:
            try:
                message = await asyncio.wait_for(self.queue.get(), timeout=HEARTBEAT_S)
            except TimeoutError:
                message = {"type": "heartbeat", "cursor": last_cursor}
            if time.monotonic() >= next_recheck:
                next_recheck = time.monotonic() + RECHECK_S
                verdict = await self._recheck()
                if verdict is not None:
                    self.stop.set()
                    await self.close(code=verdict)
                    return
            close = message.pop("close", None)
            await self.send_json(message)
            last_cursor = (
                message.get("cursor", last_cursor) if "type" not in message else last_cursor
            )
            if close is not None:
                self.stop.set()
                await self.close(code=close)
                return

    @database_sync_to_async
    def _cluster(self, pk: str) -> Cluster | None:
        cluster = Cluster.objects.select_related("credential").filter(pk=int(pk)).first()
        return None if cluster is None or cluster.is_local else cluster

    @database_sync_to_async
    def _recheck(self) -> int | None:
        return access_verdict(self.scope.get("user"), Cluster.objects.filter(pk=self.cluster.pk))
