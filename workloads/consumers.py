"""Live run logs over a websocket: `/ws/runs/<id>/logs/`.

The database is the truth and the channel group only says "this is new". On connect the
consumer joins `run-<id>` first, then sends the stored backlog, so no line committed during the
backlog can be missed; every line carries its cursor and the consumer sends each cursor once, in
order. A group message that skips ahead (another pod's batch published first, or a message the
channel layer dropped) is answered from the database, and a periodic check fills in anything no
message announced at all. Memory per connection is bounded by a window of unacknowledged lines:
a client that falls behind is fed from the database when it catches up, never from a queue.
While Redis restarts the socket stays open and the periodic check keeps feeding it from the
database; once Redis is back the run's state is sent again (a change announced meanwhile was
lost). While the database restarts, a turn that cannot read it is skipped.

Client messages: `{"type": "ack", "cursor": N}` (every few hundred lines). Server messages: log
lines `{"cursor", "pod", "text", "time"}` (no `type`), and typed control messages:
`live` (backlog done), `heartbeat` (every few seconds, with the run's newest cursor),
`run.state`, `ended` (the run is final and every stored line was sent: `state`, `cursor`),
`gone` (run deleted; the socket closes with 4404). A pipeline event's line also carries
`summary`, its short reading ("progress · 3/7 · 50.9 fps · a.jpg").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.websockets import (
    CLOSE_NOT_FOUND,
    RECHECK_S,
    LayerOutageMixin,
    access_verdict,
    connect_refusal,
    outlives_database_outage,
    query_param,
    user_group,
)
from workloads import events
from workloads.choices import FINAL_STATES
from workloads.models import Run, RunLogLine
from workloads.realtime import run_group, state_payload

TAIL_DEFAULT = 500
TAIL_MAX = 10_000
FILL_BATCH = 1000
WINDOW = 5000  # lines sent but not acknowledged; beyond it the client is fed from the DB
TICK_S = 1.0
HEARTBEAT_S = 5.0


def line_message(line: RunLogLine) -> dict[str, Any]:
    return with_summary(
        {"cursor": line.cursor, "pod": line.pod, "text": line.text, "time": line.time.isoformat()}
    )


def with_summary(message: dict[str, Any]) -> dict[str, Any]:
    """A pipeline event's line carries its short reading (`summary`) beside the raw text."""
    summary = events.summary(message["text"])
    if summary:
        message["summary"] = summary
    return message


class RunLogConsumer(LayerOutageMixin, AsyncJsonWebsocketConsumer):
    """Backlog, then live lines, each cursor exactly once and in order."""

    async def connect(self) -> None:
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        self.last_sent = 0
        self.acked = 0
        self.joined = False
        self.final: str | None = None  # the run's final state once it has one
        self.ended = False
        self.lock = asyncio.Lock()
        self.ticker: asyncio.Task | None = None
        user = self.scope.get("user")
        refusal = connect_refusal(user)
        if refusal is not None:
            await self.close(code=refusal)
            return
        if not await self._run_exists():
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.join_groups(run_group(self.run_id), user_group(user.pk))
        self.joined = True
        await self.accept(subprotocol=self.scope.get("ws_subprotocol"))
        after = query_param(self.scope, "after")
        async with self.lock:
            if after is not None and after.isdecimal():  # isdigit() passes "²"
                self.last_sent = self.acked = int(after)
            else:
                tail = query_param(self.scope, "tail")
                tail_n = min(int(tail), TAIL_MAX) if tail and tail.isdecimal() else TAIL_DEFAULT
                self.last_sent = self.acked = await self._tail_start(tail_n)
            await self._fill()
            await self.send_json({"type": "live", "cursor": self.last_sent})
            self.final = await self._final_state()
            await self._end_if_done()
        self.ticker = asyncio.create_task(self._tick())

    async def disconnect(self, code: int) -> None:
        if self.ticker is not None:
            self.ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.ticker
        if self.joined:
            await self.leave_groups()

    @outlives_database_outage
    async def receive_json(self, content: Any, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ack":
            cursor = content.get("cursor")
            if isinstance(cursor, int) and self.acked < cursor <= self.last_sent:
                self.acked = cursor
                async with self.lock:
                    await self._fill()
                    await self._end_if_done()

    # -- channel layer messages (named after the payload type) ---------------------------------
    @outlives_database_outage
    async def run_logs(self, message: dict) -> None:
        """A stored batch's lines, in cursor order (one message per batch, see realtime)."""
        async with self.lock:
            await self._take(message["lines"])

    @outlives_database_outage
    async def run_log(self, message: dict) -> None:
        """One line: what publishers before `run.logs` sent; kept for a mixed-version rollout."""
        async with self.lock:
            await self._take([message])

    async def _take(self, lines: list[dict]) -> None:
        """Send the lines that follow on directly; a gap or a full window goes to the database."""
        for line in lines:
            cursor = line["cursor"]
            if cursor <= self.last_sent:
                continue  # already sent from the database
            if cursor == self.last_sent + 1 and self.last_sent - self.acked < WINDOW:
                await self.send_json(
                    with_summary({k: line[k] for k in ("cursor", "pod", "text", "time")})
                )
                self.last_sent = cursor
            else:
                await self._fill(upto=lines[-1]["cursor"])
                return

    @outlives_database_outage
    async def run_state(self, message: dict) -> None:
        await self.send_json(message)
        if message.get("state") in FINAL_STATES:
            self.final = message["state"]
            async with self.lock:
                newest = await self._newest_cursor()
                if newest is not None and newest > self.last_sent:
                    await self._fill(upto=newest)
                await self._end_if_done()

    async def _end_if_done(self) -> None:
        """Once the run is over and every stored line is sent: say so, once. The page then
        shows "ended" with the final state and stops reconnecting."""
        if self.final is None or self.ended:
            return
        newest = await self._newest_cursor()
        if newest is None or self.last_sent >= newest:
            self.ended = True
            await self.send_json({"type": "ended", "state": self.final, "cursor": self.last_sent})

    async def run_event(self, message: dict) -> None:
        pass  # events are log lines too; the log view shows them as lines

    async def access_changed(self, message: dict) -> None:
        self.next_recheck = 0.0  # the user's role or account changed: re-check at the next tick

    @outlives_database_outage
    async def layer_restored(self, message: dict) -> None:
        """Lines kept coming from the database while Redis was away (see `_tick`); a state
        change announced meanwhile was lost, so say where the run is now."""
        state = await self._state()
        if state is not None:
            await self.send_json(state)

    # -- internals ------------------------------------------------------------------------------
    async def _fill(self, upto: int | None = None) -> None:
        """Send stored lines after `last_sent` (to `upto`) while the window has room."""
        while self.last_sent - self.acked < WINDOW:
            room = min(FILL_BATCH, WINDOW - (self.last_sent - self.acked))
            lines = await self._lines_after(self.last_sent, room, upto)
            for line in lines:
                await self.send_json(line)
            if lines:
                self.last_sent = lines[-1]["cursor"]
            if len(lines) < room:
                return

    async def _tick(self) -> None:
        """Fill what no message announced, say we are alive, and re-check the permission."""
        self.next_heartbeat = self.next_recheck = time.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            if await self._tick_once():
                return

    @outlives_database_outage
    async def _tick_once(self) -> bool:
        """One turn of `_tick`; True once the socket is closed."""
        now = time.monotonic()
        if now >= self.next_recheck:
            self.next_recheck = now + RECHECK_S
            verdict = await self._recheck()
            if verdict is not None:
                if verdict == CLOSE_NOT_FOUND:
                    await self.send_json({"type": "gone", "run": self.run_id})
                await self.close(code=verdict)
                return True
        async with self.lock:
            newest, state = await self._cursor_and_state()
            if newest is not None and newest > self.last_sent:
                await self._fill(upto=newest)
            if self.final is None and state in FINAL_STATES:
                # The state message was lost (or published from where no loop could send it):
                # the database says the run is over.
                self.final = state
                run_state = await self._state()
                if run_state is not None:
                    await self.send_json(run_state)
            await self._end_if_done()
            if now >= self.next_heartbeat:
                self.next_heartbeat = now + HEARTBEAT_S
                await self.send_json({"type": "heartbeat", "cursor": newest})
        return False

    @database_sync_to_async
    def _recheck(self) -> int | None:
        return access_verdict(self.scope.get("user"), Run.objects.filter(pk=self.run_id))

    @database_sync_to_async
    def _state(self) -> dict[str, Any] | None:
        run = Run.objects.filter(pk=self.run_id).first()
        return state_payload(run) if run is not None else None

    @database_sync_to_async
    def _cursor_and_state(self) -> tuple[int | None, str | None]:
        row = Run.objects.filter(pk=self.run_id).values_list("log_cursor", "state").first()
        return row if row is not None else (None, None)

    @database_sync_to_async
    def _final_state(self) -> str | None:
        state = Run.objects.filter(pk=self.run_id).values_list("state", flat=True).first()
        return state if state in FINAL_STATES else None

    @database_sync_to_async
    def _run_exists(self) -> bool:
        return Run.objects.filter(pk=self.run_id).exists()

    @database_sync_to_async
    def _newest_cursor(self) -> int | None:
        return Run.objects.filter(pk=self.run_id).values_list("log_cursor", flat=True).first()

    @database_sync_to_async
    def _tail_start(self, tail: int) -> int:
        """The cursor before the last `tail` stored lines."""
        cursors = RunLogLine.objects.filter(run_id=self.run_id).order_by("-cursor")
        row = cursors.values_list("cursor", flat=True)[tail : tail + 1]
        return row[0] if row else 0

    @database_sync_to_async
    def _lines_after(self, after: int, limit: int, upto: int | None) -> list[dict[str, Any]]:
        lines = RunLogLine.objects.filter(run_id=self.run_id, cursor__gt=after)
        if upto is not None:
            lines = lines.filter(cursor__lte=upto)
        return [line_message(line) for line in lines.order_by("cursor")[:limit]]
