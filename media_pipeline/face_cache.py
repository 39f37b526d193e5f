"""On-disk cache of face encodings keyed by the image file's content (SHA-256).

Encoding a known face costs 100-300 ms; hashing the file costs microseconds. A renamed or
moved photo is still a hit, and an edited one is a miss, so only changed images are encoded
again. All entries live in one .npz file (fast to load with 100,000 faces), replaced
atomically so a crash or a concurrent run never leaves a torn cache.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

ENV_VAR = "MEDIA_PIPELINE_CACHE_DIR"
# Bump when the way encodings are computed changes: old entries then stop matching.
FORMAT = "v1"


def default_cache_dir() -> Path:
    """$MEDIA_PIPELINE_CACHE_DIR, else the XDG cache of the (possibly non-root) user, else a
    per-user temp folder when the home directory is read-only (common in containers)."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    candidate = Path(base) / "media_pipeline"
    try:
        candidate.mkdir(parents=True, exist_ok=True)
        if os.access(candidate, os.W_OK):
            return candidate
    except OSError:
        pass  # unwritable home: fall through to the temp folder below
    return Path(tempfile.gettempdir()) / f"media_pipeline-cache-{os.getuid()}"


def content_key(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class EncodingCache:
    """Maps content key -> (n, 128) float64 encodings (n may be 0: "no face in this image")."""

    def __init__(self, directory: Path | str | None, settings: str = "hog-1-small-1-margin20"):
        self.directory = Path(directory) if directory is not None else None
        self.file = (
            self.directory / f"face-encodings-{FORMAT}-{settings}.npz" if self.directory else None
        )
        self._entries: dict[str, np.ndarray] = {}
        self._dirty = False
        self.hits = self.misses = 0
        self._load()

    def _load(self) -> None:
        if self.file is None or not self.file.exists():
            return
        with np.load(self.file, allow_pickle=False) as data:
            keys, counts, encodings = data["keys"], data["counts"], data["encodings"]
        offsets = np.concatenate([[0], np.cumsum(counts)])
        for i, key in enumerate(keys.tolist()):
            self._entries[key] = encodings[offsets[i] : offsets[i + 1]]

    def get(self, key: str) -> np.ndarray | None:
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: str, encodings: np.ndarray) -> None:
        self._entries[key] = np.asarray(encodings, dtype=np.float64).reshape(-1, 128)
        self._dirty = True

    def __len__(self) -> int:
        return len(self._entries)

    def save(self) -> None:
        if self.file is None or not self._dirty:
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._entries)
        counts = np.array([len(self._entries[k]) for k in keys], dtype=np.int64)
        stacked = [self._entries[k] for k in keys if len(self._entries[k])]
        encodings = np.concatenate(stacked) if stacked else np.empty((0, 128))
        handle, temporary = tempfile.mkstemp(dir=self.file.parent, suffix=".npz.tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                np.savez(out, keys=np.array(keys, dtype="U64"), counts=counts, encodings=encodings)
            os.replace(temporary, self.file)
        except BaseException:
            os.unlink(temporary)
            raise
        self._dirty = False
