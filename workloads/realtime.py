"""The one way run updates reach websocket viewers: the Channels group `run-<id>`.

Payloads are typed (`run.log`, `run.state`, `run.event`) and sent after the transaction that
stored them commits, so a viewer never sees a line the database does not have.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def run_group(run_id: int) -> str:
    return f"run-{run_id}"


def _send(run_id: int, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(run_group(run_id), payload)
    except Exception as exc:  # noqa: BLE001 - live view is best effort; the DB row is the truth
        logger.warning("could not publish to run-%s: %s", run_id, exc)


def publish_run_message(run_id: int, payload: dict[str, Any]) -> None:
    """Send `payload` (with a `type`) to the run's group once the current transaction commits."""
    transaction.on_commit(lambda: _send(run_id, payload))


def publish_run_messages(run_id: int, payloads: list[dict[str, Any]]) -> None:
    if payloads:
        transaction.on_commit(lambda: [_send(run_id, payload) for payload in payloads])


def log_payload(line) -> dict[str, Any]:
    return {
        "type": "run.log", "cursor": line.cursor, "pod": line.pod, "text": line.text,
        "time": line.time.isoformat(),
    }  # fmt: skip


def state_payload(run) -> dict[str, Any]:
    return {
        "type": "run.state", "run": run.pk, "state": run.state, "progress": run.progress,
        "error": run.error,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }  # fmt: skip


def event_payload(event) -> dict[str, Any]:
    return {
        "type": "run.event", "kind": event.kind, "data": event.data, "pod": event.pod,
        "time": event.time.isoformat(),
    }  # fmt: skip
