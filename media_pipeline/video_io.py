"""Video decoding and encoding that overlap with the processing thread.

Decoding runs in a thread that fills a short queue while the caller processes the previous
frames; encoding drains another short queue. OpenCV and PyAV release the GIL while they work,
so on two cores decode, detection and encode really run side by side. The queues are bounded:
a slow stage slows the others instead of buffering the whole video in memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import cv2
import numpy as np

_END = object()


class MediaError(Exception):
    """An input or output file that cannot be used; reported as an `error` event."""


class FrameReader:
    """Decodes a video file in a background thread; iterate for (index, BGR frame)."""

    def __init__(self, path: Path | str, queue_size: int = 16):
        self.path = str(path)
        self._capture = cv2.VideoCapture(self.path)
        if not self._capture.isOpened():
            raise MediaError("cannot open video (missing, unreadable or unsupported codec)")
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS)) or 25.0
        self.frame_count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="decode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                ok, frame = self._capture.read()
                if not ok:
                    break
                self._queue.put(frame)
        except BaseException as error:  # noqa: BLE001 - re-raised in the consuming thread
            self._error = error
        finally:
            self._capture.release()
            self._queue.put(_END)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        index = 0
        while True:
            item = self._queue.get()
            if item is _END:
                break
            yield index, item  # type: ignore[misc]
            index += 1
        if self._error is not None:
            raise MediaError(f"decoding failed: {self._error}") from self._error

    def close(self) -> None:
        self._stop.set()
        # Unblock the decoder if it waits on a full queue.
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                pass
        self._thread.join()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class H264Writer:
    """Writes BGR frames as H.264 (yuv420p) in MP4 with the index up front ("faststart"), the
    combination Chromium's <video> plays while still downloading. OpenCV's own writer can only
    produce mp4v here, which Chromium refuses."""

    def __init__(
        self,
        path: Path | str,
        width: int,
        height: int,
        fps: float,
        preset: str = "veryfast",
        crf: int = 23,
        queue_size: int = 16,
    ):
        if width < 2 or height < 2:
            raise MediaError(f"video too small to encode: {width}x{height}")
        self.path = str(path)
        # 4:2:0 chroma needs even sizes: an odd last row or column is dropped.
        self.width, self.height = width - width % 2, height - height % 2
        self._container = av.open(self.path, mode="w", options={"movflags": "+faststart"})
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"preset": preset, "crf": str(crf)}
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self.frames = 0
        self._thread = threading.Thread(target=self._run, name="encode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    break
                # OpenCV's I420 conversion is cheaper than letting swscale convert from BGR.
                frame_bgr = item[: self.height, : self.width]  # type: ignore[index]
                i420 = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2YUV_I420)  # type: ignore[call-overload]
                frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
                self.frames += 1
            for packet in self._stream.encode():
                self._container.mux(packet)
        except BaseException as error:  # noqa: BLE001 - re-raised in the producing thread
            self._error = error
            # Keep draining so the producer never blocks on a full queue.
            while self._queue.get() is not _END:
                pass
        finally:
            self._container.close()

    def write(self, frame: np.ndarray) -> None:
        if self._error is not None:
            raise MediaError(f"encoding failed: {self._error}") from self._error
        self._queue.put(frame)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_END)
            self._thread.join()
        if self._error is not None:
            raise MediaError(f"encoding failed: {self._error}") from self._error

    def __enter__(self) -> H264Writer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def probe_duration(path: Path | str) -> float:
    """Duration in seconds as a player would compute it (used by tests and summaries)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return float(container.duration or 0) / av.time_base
