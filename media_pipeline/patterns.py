"""Generated camera stand-ins, like the fake cameras of the Akri demo: a bouncing ball, a colour
carousel, and a clock that burns in its frame number and capture time for latency checks."""

from __future__ import annotations

import time

import cv2
import numpy as np

# The clock pattern's machine-readable strip: 48 bits of Unix time in ms + 32 bits of frame
# number as black/white blocks across the top, big enough to survive JPEG compression.
# Sizes are fractions of the frame so a resized frame still decodes.
CLOCK_BITS = 80
CLOCK_STRIP_FRACTION = 1 / 20


class Pattern:
    """A synthetic source: `fps` says how often the stream server should ask for a frame."""

    live = False

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0):
        self.width, self.height, self.fps = width, height, fps
        self.frame_number = 0

    def render(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def read(self) -> np.ndarray | None:
        frame = self.render(self.frame_number)
        self.frame_number += 1
        return frame

    def close(self) -> None:
        pass


class BallPattern(Pattern):
    def render(self, n: int) -> np.ndarray:
        frame = np.full((self.height, self.width, 3), (40, 30, 20), np.uint8)
        radius = max(4, min(self.width, self.height) // 12)
        # A triangle wave per axis: the ball bounces off the edges.
        span_x, span_y = self.width - 2 * radius, self.height - 2 * radius
        x = radius + abs((n * 7) % (2 * span_x) - span_x)
        y = radius + abs((n * 5) % (2 * span_y) - span_y)
        cv2.circle(frame, (int(x), int(y)), radius, (0, 200, 255), -1, cv2.LINE_AA)
        return frame


class CarouselPattern(Pattern):
    def render(self, n: int) -> np.ndarray:
        hue = np.uint8((n * 2) % 180)
        hsv = np.empty((self.height, self.width, 3), np.uint8)
        # Vertical colour bands that rotate through the hue circle.
        columns = (np.arange(self.width) * 180 // self.width + hue) % 180
        hsv[..., 0] = columns[None, :].astype(np.uint8)
        hsv[..., 1] = 220
        hsv[..., 2] = 230
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


class ClockPattern(Pattern):
    def render(self, n: int) -> np.ndarray:
        now = time.time()
        frame = np.full((self.height, self.width, 3), 30, np.uint8)
        strip = max(2, int(self.height * CLOCK_STRIP_FRACTION))
        bits = (int(now * 1000) << 32) | (n & 0xFFFFFFFF)
        for i in range(CLOCK_BITS):
            if (bits >> (CLOCK_BITS - 1 - i)) & 1:
                frame[:strip, i * self.width // CLOCK_BITS : (i + 1) * self.width // CLOCK_BITS] = (
                    255
                )
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
        scale = self.height / 240
        cv2.putText(
            frame,
            f"frame {n}",
            (10, int(70 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            2,
        )
        cv2.putText(
            frame,
            stamp,
            (10, int(140 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale * 1.3,
            (0, 255, 0),
            2,
        )
        return frame


def read_clock(frame: np.ndarray) -> tuple[int, float]:
    """(frame number, capture time in Unix seconds) from a clock-pattern frame, even after JPEG
    compression and resizing: latency = receive time - capture time."""
    height, width = frame.shape[:2]
    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    row = gray[int(height * CLOCK_STRIP_FRACTION / 2)]
    block = width / CLOCK_BITS
    bits = 0
    for i in range(CLOCK_BITS):
        centre = int((i + 0.5) * block)
        bits = (bits << 1) | int(row[centre] > 128)
    return bits & 0xFFFFFFFF, (bits >> 32) / 1000.0


PATTERNS: dict[str, type[Pattern]] = {
    "ball": BallPattern,
    "carousel": CarouselPattern,
    "clock": ClockPattern,
}
