"""The pipeline's JSON events as people read them: one short line each (the raw line stays in the
log, a click away on the run page)."""

from __future__ import annotations

import json
from pathlib import PurePath

# Fields every event carries that say nothing on their own.
_ENVELOPE = ("event", "command", "time")


def parse_event(text: str) -> dict | None:
    """The event of a log line, or None for a plain line."""
    if not text.startswith('{"event"'):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("event"), str) else None


def _name(path) -> str:
    return PurePath(str(path)).name if path else ""


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def summary(text: str) -> str:
    """ "progress 3/7 · 50.9 fps · solidWhiteCurve.jpg" for an event line; "" for other lines."""
    data = parse_event(text)
    if data is None:
        return ""
    kind = data["event"]
    parts: list[str] = [kind]
    if kind == "start":
        inputs = data.get("inputs")
        if isinstance(inputs, list):
            parts.append(f"{len(inputs)} input{'s' if len(inputs) != 1 else ''}")
        if data.get("stream"):
            parts.append(f"streaming {_name(data.get('source')) or data.get('source', '')}".strip())
    elif kind == "progress":
        frame, frames = data.get("frame"), data.get("frames")
        if frame is not None:
            parts.append(f"{frame}/{frames}" if frames else f"frame {frame}")
        if isinstance(data.get("fps"), int | float):
            parts.append(f"{data['fps']:g} fps")
        if data.get("file"):
            parts.append(_name(data["file"]))
    elif kind == "result":
        parts.append(_name(data.get("image") or data.get("file")))
        faces = data.get("faces")
        if isinstance(faces, list):
            names = [str(f.get("person") or "unknown") for f in faces if isinstance(f, dict)]
            parts.append(", ".join(names) if names else "no face")
    elif kind == "output":
        parts.append(f"{_name(data.get('path'))} ({data.get('kind', 'file')})")
    elif kind == "error":
        parts.append(f"{_name(data.get('file'))}: {data.get('reason', '')}".strip(": "))
    elif kind == "done":
        counts = [
            f"{key}={_number(value)}"
            for key, value in data.items()
            if key not in _ENVELOPE and isinstance(value, int | float)
        ]
        parts.append(" ".join(counts))
    return " · ".join(part for part in parts if part)
