"""Frame sources named by one string, as the panel stores them:

file:PATH[?loop=0]   a video file, looping by default (a camera that never ends)
rtsp://...           an IP camera, through OpenCV's FFmpeg backend
http(s)://...        an MJPEG stream (multipart/x-mixed-replace), e.g. another stream server
v4l2:/dev/videoN     a local camera or v4l2loopback device
akri://HOST:PORT     an Akri camera broker (gRPC, Akri's camera.proto; media_pipeline/akri.py)
test:ball | test:carousel | test:clock[?width=W&height=H&fps=N]   generated patterns
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from typing import Protocol

import cv2
import numpy as np

from media_pipeline.patterns import PATTERNS


class SourceError(Exception):
    """The source cannot be opened or has failed for good."""


class FrameSource(Protocol):
    fps: float  # the rate the source naturally produces (the server paces files and patterns)
    live: bool  # True when reading blocks until the device has a frame (no extra pacing)

    def read(self) -> np.ndarray | None:
        """The next BGR frame, or None when the source has ended."""
        ...

    def close(self) -> None: ...


class CaptureSource:
    """rtsp://, v4l2: and files through cv2.VideoCapture."""

    def __init__(self, target: str | int, backend: int, live: bool, loop: bool = False):
        self._target, self._backend = target, backend
        self._capture = cv2.VideoCapture(target, backend)
        if not self._capture.isOpened():
            raise SourceError(f"cannot open {target!r}")
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0) or 25.0
        self.live = live
        self.loop = loop

    def read(self) -> np.ndarray | None:
        ok, frame = self._capture.read()
        if ok:
            return frame
        if not self.loop:
            return None
        # Rewinding is unreliable on some containers; reopening always works.
        self._capture.release()
        self._capture = cv2.VideoCapture(self._target, self._backend)
        ok, frame = self._capture.read()
        return frame if ok else None

    def close(self) -> None:
        self._capture.release()


class MjpegHttpSource:
    """Reads multipart MJPEG over HTTP by scanning for JPEG start/end markers, which works
    whatever boundary string or part headers the camera uses."""

    live = True

    def __init__(self, url: str, timeout: float = 10.0, chunk: int = 65536):
        try:
            self._response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - http(s) only, checked by open_source
        except OSError as error:
            raise SourceError(f"cannot open {url}: {error}") from error
        self._buffer = bytearray()
        self._chunk = chunk
        self.fps = 25.0

    def read(self) -> np.ndarray | None:
        buffer = self._buffer
        while True:
            start = buffer.find(b"\xff\xd8")
            if start < 0:
                del buffer[:-1]  # only part headers so far; a trailing 0xff may start a marker
            else:
                del buffer[:start]
                end = buffer.find(b"\xff\xd9", 2)
                if end >= 0:
                    jpeg = bytes(buffer[: end + 2])
                    del buffer[: end + 2]
                    frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
                    if frame is not None:
                        return frame
                    continue  # a corrupt part: skip to the next one
            data = self._response.read1(self._chunk)
            if not data:
                return None
            buffer += data

    def close(self) -> None:
        try:
            self._response.close()
        except OSError:
            pass  # closing a connection the camera already dropped


def _pattern_options(query: str) -> dict[str, float]:
    options = urllib.parse.parse_qs(query)
    parsed: dict[str, float] = {}
    for key in ("width", "height", "fps"):
        if key in options:
            parsed[key] = float(options[key][0])
    return parsed


def open_source(spec: str) -> FrameSource:
    scheme, _, rest = spec.partition(":")
    scheme = scheme.lower()
    if scheme == "test":
        name, _, query = rest.partition("?")
        if name not in PATTERNS:
            raise SourceError(f"unknown test pattern {name!r} (choose from {', '.join(PATTERNS)})")
        options = _pattern_options(query)
        return PATTERNS[name](
            width=int(options.get("width", 640)),
            height=int(options.get("height", 480)),
            fps=options.get("fps", 30.0),
        )
    if scheme == "file":
        path, _, query = rest.partition("?")
        loop = urllib.parse.parse_qs(query).get("loop", ["1"])[0] not in ("0", "false", "no")
        return CaptureSource(path, cv2.CAP_FFMPEG, live=False, loop=loop)
    if scheme == "rtsp":
        return CaptureSource(spec, cv2.CAP_FFMPEG, live=True)
    if scheme in ("http", "https"):
        return MjpegHttpSource(spec)
    if scheme == "v4l2":
        return CaptureSource(rest, cv2.CAP_V4L2, live=True)
    if scheme == "akri" and rest.startswith("//"):
        from media_pipeline.akri import open_akri

        return open_akri(rest[2:])
    raise SourceError(
        f"unsupported source {spec!r}: use file:, rtsp://, http(s)://, v4l2:, akri:// or test:"
    )
