"""Akri camera brokers over gRPC (`camera.proto`: `Camera.GetFrame` -> `bytes frame`,
`string camera`; stubs in media_pipeline/akri_proto/).

- `AkriBrokerSource`: the `akri://HOST:PORT` source of `stream`. Each `read()` is one
  `GetFrame` call; the stream server calls it as fast as the broker answers (or at `--fps`).
  `read_jpeg()` hands the broker's JPEG on untouched, for a stream that neither processes nor
  resizes (no decode and re-encode per frame).
- `akri-broker`: serves `camera.proto` from any source (`test:ball`, a file, a camera), so tests
  and demos have a broker without Akri's images. `GetFrame` answers with the newest frame; a
  caller that already has it waits (up to a second) for the next, so polling "as fast as the
  broker answers" follows the camera's own rate instead of spinning on one frame.
"""

from __future__ import annotations

import signal
import threading
import time
from concurrent import futures
from dataclasses import dataclass

import cv2
import numpy as np

from media_pipeline.events import EventWriter
from media_pipeline.sources import SourceError, open_source

DEFAULT_PORT = 8083  # the container port of Akri's brokers (Service port 80 -> 8083)
CALL_TIMEOUT_S = 5.0
NEWER_WAIT_S = 1.0
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def _grpc():
    import grpc

    from media_pipeline.akri_proto import camera_pb2, camera_pb2_grpc

    return grpc, camera_pb2, camera_pb2_grpc


class AkriBrokerSource:
    """Frames from an Akri broker's `Camera.GetFrame`."""

    live = True  # the broker paces itself: each call returns when it has a frame

    def __init__(self, address: str, timeout: float = CALL_TIMEOUT_S):
        grpc, camera_pb2, camera_pb2_grpc = _grpc()
        self._grpc, self._request = grpc, camera_pb2.NotifyRequest()
        self._timeout = timeout
        self.address = address
        self.fps = 25.0
        self.camera = ""
        options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
        self._channel = grpc.insecure_channel(address, options=options)
        self._stub = camera_pb2_grpc.CameraStub(self._channel)
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError as error:
            self._channel.close()
            raise SourceError(f"no Akri broker answers at {address}") from error

    def read_jpeg(self) -> bytes | None:
        """The broker's next frame as it sent it (a JPEG), or None when the call failed."""
        try:
            reply = self._stub.GetFrame(self._request, timeout=self._timeout)
        except self._grpc.RpcError:
            return None
        self.camera = reply.camera
        return reply.frame or None

    def read(self) -> np.ndarray | None:
        while True:
            jpeg = self.read_jpeg()
            if jpeg is None:
                return None
            frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if frame is not None:
                return frame  # else a frame that is not a JPEG: ask for the next one

    def close(self) -> None:
        self._channel.close()


def open_akri(rest: str) -> AkriBrokerSource:
    """`akri://HOST:PORT` (the part after the scheme), checked before dialling."""
    host, sep, port = rest.rstrip("/").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SourceError(f"an Akri broker is akri://HOST:PORT, not akri://{rest}")
    return AkriBrokerSource(f"{host}:{port}")


# -- the broker -------------------------------------------------------------------------------


@dataclass
class BrokerOptions:
    source: str
    host: str = "0.0.0.0"  # noqa: S104 - it runs in a pod behind a Service
    port: int = DEFAULT_PORT
    fps: float | None = None
    width: int | None = None
    jpeg_quality: int = 80
    duration: float | None = None
    camera: str = ""  # the name GetFrame reports (default: the source)
    progress_interval: float = 1.0


class _Newest:
    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.jpeg = b""
        self.sequence = 0
        self.seen: dict[str, int] = {}  # peer -> the sequence it got last

    def publish(self, jpeg: bytes) -> None:
        with self.condition:
            self.jpeg, self.sequence = jpeg, self.sequence + 1
            self.condition.notify_all()

    def next_for(self, peer: str) -> bytes:
        with self.condition:
            last = self.seen.get(peer, 0)
            self.condition.wait_for(lambda: self.sequence > last, NEWER_WAIT_S)
            self.seen[peer] = self.sequence
            if len(self.seen) > 1024:  # peers come and go: forget the oldest
                self.seen.pop(next(iter(self.seen)))
            return self.jpeg


class Broker:
    def __init__(self, options: BrokerOptions, events: EventWriter):
        grpc, camera_pb2, camera_pb2_grpc = _grpc()
        self.options, self.events = options, events
        self.source = open_source(options.source)
        self.newest = _Newest()
        self.frames = 0
        self.stop = threading.Event()
        name = options.camera or options.source
        newest, reply = self.newest, camera_pb2.NotifyResponse

        class Servicer(camera_pb2_grpc.CameraServicer):
            def GetFrame(self, request, context):  # noqa: N802 - the proto's name
                return reply(frame=newest.next_for(context.peer()), camera=name)

        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="getframe"),
            options=[("grpc.max_send_message_length", MAX_MESSAGE_BYTES)],
        )
        camera_pb2_grpc.add_CameraServicer_to_server(Servicer(), self.server)
        host = f"[{options.host}]" if ":" in options.host else options.host
        self.port = self.server.add_insecure_port(f"{host}:{options.port}")
        if not self.port:
            raise OSError(f"cannot listen on {options.host}:{options.port}")
        self._thread = threading.Thread(target=self._capture, name="capture", daemon=True)

    def _interval(self) -> float:
        if self.options.fps is not None:
            return 1.0 / self.options.fps if self.options.fps > 0 else 0.0
        return 0.0 if self.source.live else 1.0 / self.source.fps

    def _capture(self) -> None:
        interval, next_due = self._interval(), time.monotonic()
        quality = [cv2.IMWRITE_JPEG_QUALITY, self.options.jpeg_quality]
        while not self.stop.is_set():
            frame = self.source.read()
            if frame is None:
                if not self.source.live:
                    break
                self.stop.wait(0.1)
                continue
            width = self.options.width
            if width and frame.shape[1] != width:
                height = int(round(frame.shape[0] * width / frame.shape[1] / 2)) * 2
                frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
            ok, jpeg = cv2.imencode(".jpg", frame, quality)
            if ok:
                self.newest.publish(jpeg.tobytes())
                self.frames += 1
            if interval:
                next_due += interval
                delay = next_due - time.monotonic()
                if delay > 0:
                    self.stop.wait(delay)
                else:
                    next_due = time.monotonic()
        self.stop.set()

    def start(self) -> None:
        self.server.start()
        self._thread.start()

    def shutdown(self) -> None:
        self.stop.set()
        self._thread.join(timeout=5)
        self.server.stop(grace=1).wait(2)
        self.source.close()


def run_broker(options: BrokerOptions, events: EventWriter) -> int:
    try:
        broker = Broker(options, events)
    except (SourceError, OSError, RuntimeError) as error:
        events.error(options.source, str(error))
        events.emit("done", frames=0, errors=events.errors)
        return 1
    events.emit(
        "start", source=options.source, port=broker.port, grpc=f"{options.host}:{broker.port}"
    )
    events.log(
        f"akri-broker: serving {options.source} as camera.proto on {options.host}:{broker.port}"
    )
    signal.signal(signal.SIGTERM, lambda *_: broker.stop.set())
    broker.start()
    deadline = time.monotonic() + options.duration if options.duration else None
    try:
        while not broker.stop.wait(options.progress_interval):
            events.emit("progress", file=options.source, frame=broker.frames, frames=None)
            if deadline is not None and time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        pass
    broker.shutdown()
    events.emit("done", frames=broker.frames, errors=events.errors)
    return 1 if events.errors else 0
