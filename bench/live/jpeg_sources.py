"""Camera sources that cost (almost) nothing: N MJPEG streams of JPEGs encoded once.

`python -m bench.live.jpeg_sources --cameras 16 --fps 15 --port P` serves /cam/<i>.mjpg for
i in 0..N-1 from one process: 30 frames of the clock pattern at 1280x720 are encoded once at
start, then each stream sends them in turn at the given rate, with the `X-Frame-Seq` and
`X-Timestamp` part headers of the stream server. So a benchmark of the relay measures the relay,
not the sources' JPEG encoders.
"""

from __future__ import annotations

import argparse
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2

from media_pipeline.patterns import PATTERNS


def encode_frames(width: int, height: int, count: int = 30) -> list[bytes]:
    clock = PATTERNS["clock"](width=width, height=height, fps=30)
    return [cv2.imencode(".jpg", clock.read(), [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
            for _ in range(count)]  # fmt: skip


def handler_for(frames: list[bytes], cameras: int, fps: float):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            name = self.path.removeprefix("/cam/").removesuffix(".mjpg")
            if not name.isdigit() or int(name) >= cameras:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            interval, due, seq = 1.0 / fps, time.monotonic(), 0
            try:
                while True:
                    seq += 1
                    jpeg = frames[seq % len(frames)]
                    head = (f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
                            f"X-Frame-Seq: {seq}\r\nX-Timestamp: {int(time.time() * 1000)}\r\n\r\n")  # fmt: skip
                    self.wfile.write(head.encode() + jpeg + b"\r\n")
                    due += interval
                    time.sleep(max(0.0, due - time.monotonic()))
            except OSError:
                return  # the relay went away

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--fps", type=float, default=15)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    frames = encode_frames(args.width, args.height)
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port), handler_for(frames, args.cameras, args.fps)
    )
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"serving {args.cameras} cameras at {args.fps:g} fps, {len(frames[0])} bytes a frame",
          flush=True)  # fmt: skip
    threading.Event().wait()


if __name__ == "__main__":
    main()
