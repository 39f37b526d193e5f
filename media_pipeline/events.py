"""Machine-readable events on stdout, one JSON object per line; human text goes to stderr.

The panel parses stdout line by line, so every event is a single flushed line and nothing else
is ever printed there.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

EVENT_TYPES = ("start", "progress", "output", "result", "error", "done")


def _default(value: Any) -> Any:
    # numpy scalars and arrays sneak into payloads; convert rather than fail mid-run.
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "__fspath__"):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class EventWriter:
    """Writes events to `out` and counts errors so the command can choose its exit code."""

    def __init__(self, command: str, out: TextIO | None = None, err: TextIO | None = None):
        self.command = command
        self._out = out if out is not None else sys.stdout
        self._err = err if err is not None else sys.stderr
        # The lane command writes from a decode/encode pipeline; keep lines whole.
        self._lock = threading.Lock()
        self.errors = 0

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        if event not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event!r}")
        record = {"event": event, "command": self.command, "time": round(time.time(), 3), **fields}
        line = json.dumps(record, default=_default, separators=(",", ":"))
        with self._lock:
            if event == "error":
                self.errors += 1
            self._out.write(line + "\n")
            self._out.flush()
        return record

    def log(self, message: str) -> None:
        with self._lock:
            self._err.write(message + "\n")
            self._err.flush()

    def error(self, file: str, reason: str) -> None:
        self.emit("error", file=str(file), reason=reason)
        self.log(f"error: {file}: {reason}")


class ProgressClock:
    """Says when the next `progress` event is due: the contract is at least one per second."""

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self._next = time.monotonic()

    def due(self) -> bool:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.interval
            return True
        return False
