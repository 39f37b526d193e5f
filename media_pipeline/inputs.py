"""Turns command-line INPUT arguments (files and folders) into the media files to process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg"})


@dataclass(frozen=True)
class MediaInput:
    path: Path
    kind: str  # "image", "video" or "invalid" (reported as an error event, never raised)
    reason: str = ""


def classify(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return "invalid"


def expand(
    arguments: list[str], kinds: frozenset[str] = frozenset({"image", "video"})
) -> list[MediaInput]:
    """Files as given, folders walked recursively in name order; unusable entries are kept as
    "invalid" so the caller reports them and carries on with the rest."""
    found: list[MediaInput] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.name.startswith("."):
                    continue
                kind = classify(child)
                if kind in kinds:
                    found.append(MediaInput(child, kind))
        elif path.is_file():
            kind = classify(path)
            if kind in kinds:
                found.append(MediaInput(path, kind))
            else:
                found.append(MediaInput(path, "invalid", f"unsupported file type {path.suffix!r}"))
        else:
            found.append(MediaInput(path, "invalid", "no such file or folder"))
    return found
