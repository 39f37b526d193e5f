"""Classical lane-line detection: paint colour masks, blur, Canny, region of interest, Hough,
slope filtering, one averaged line per side, smoothing across video frames, overlay.

All the image work happens on the band of rows the region of interest covers (the lower part
of the frame): that is where lanes can be, and it cuts the per-frame cost by about 60%.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

Point = list[int]
Line = list[Point]  # [[x_bottom, y_bottom], [x_top, y_top]] in the frame's pixel coordinates


@dataclass(frozen=True)
class Region:
    """The region of interest as fractions of the frame, so any resolution works."""

    top: float = 0.61
    bottom: float = 1.0
    bottom_left: float = 0.08
    bottom_right: float = 0.97
    top_left: float = 0.44
    top_right: float = 0.56


@dataclass(frozen=True)
class Tuning:
    white_min: int = 200  # every BGR channel at least this bright: white paint...
    white_ratio: float = 2.0  # ...or, in darker footage, this many times the road's brightness
    white_floor: int = 100
    yellow_low: tuple[int, int, int] = (15, 80, 120)  # HSV: hue 15-35 is yellow paint
    yellow_high: tuple[int, int, int] = (35, 255, 255)
    canny_low: int = 50
    canny_high: int = 150
    min_abs_slope: float = 0.45  # flatter segments are shadows, cars, crossings
    max_abs_slope: float = 3.0
    smoothing: float = 0.7  # weight of the previous frame's lane in video mode
    hold_frames: int = 5  # a lane lost for a few frames keeps its last position


@dataclass
class FrameLanes:
    left: Line | None
    right: Line | None
    # What this frame alone found, before smoothing and holding: used for honest statistics.
    detected_left: bool = False
    detected_right: bool = False

    @property
    def both(self) -> bool:
        return self.detected_left and self.detected_right

    def as_dict(self) -> dict[str, Line | None]:
        return {"left": self.left, "right": self.right}


@dataclass
class _SideState:
    fit: np.ndarray | None = None  # (x at bottom, x at top), float
    missing: int = 0


@dataclass
class LaneDetector:
    """Detects lanes in frames of one fixed size; `video=True` smooths across frames."""

    width: int
    height: int
    video: bool = False
    region: Region = field(default_factory=Region)
    tuning: Tuning = field(default_factory=Tuning)

    def __post_init__(self) -> None:
        w, h, r = self.width, self.height, self.region
        self.y_top = int(round(h * r.top))
        self.y_bottom = int(round(h * r.bottom)) - 1
        # The band of the frame the region of interest covers: all image work happens there.
        self.x_left = max(0, int(w * min(r.bottom_left, r.top_left)))
        self.x_right = min(w, int(np.ceil(w * max(r.bottom_right, r.top_right))) + 1)
        corners = np.array(
            [
                (w * r.bottom_left, h * r.bottom),
                (w * r.top_left, self.y_top),
                (w * r.top_right, self.y_top),
                (w * r.bottom_right, h * r.bottom),
            ]
        )
        self.polygon = corners.round().astype(np.int32)
        band_corners = (corners - (self.x_left, self.y_top)).round().astype(np.int32)
        self._roi_mask = np.zeros((h - self.y_top, self.x_right - self.x_left), dtype=np.uint8)
        cv2.fillPoly(self._roi_mask, [band_corners], 255)
        self._roi_sample = self._roi_mask[::8, ::8] > 0
        # Hough parameters scale with the frame so 540p and 1080p behave alike.
        self._min_length = max(10, int(h * 0.035))
        self._max_gap = max(20, int(h * 0.2))
        self._threshold = max(10, int(h * 0.03))
        self._sides = {"left": _SideState(), "right": _SideState()}
        self._kernel = (5, 5)
        self._frames = 0
        self._white = self.tuning.white_min

    def white_threshold(self, band: np.ndarray) -> int:
        """White paint is much brighter than the asphalt around it, whatever the exposure: the
        threshold follows the road's brightness (darker footage gets a lower one), capped at
        `white_min` so bright concrete and sky glare stay out."""
        t = self.tuning
        if not self._roi_sample.any():  # a frame too small to sample: keep the fixed threshold
            return t.white_min
        # Every 8th pixel each way is plenty for an average and costs 1/64 of the full band.
        road = float(band[::8, ::8][self._roi_sample].mean(axis=0).min())
        return int(min(t.white_min, max(t.white_floor, t.white_ratio * road)))

    def edges(self, frame: np.ndarray) -> np.ndarray:
        """Canny edges of the paint masks inside the region of interest (band coordinates)."""
        t = self.tuning
        band = frame[self.y_top :, self.x_left : self.x_right]
        # Exposure changes over seconds, not frames: in video, re-measure every 15th frame.
        if not self.video or self._frames % 15 == 0:
            self._white = self.white_threshold(band)
        self._frames += 1
        white = cv2.inRange(band, (self._white,) * 3, (255, 255, 255))
        hsv = cv2.cvtColor(band, cv2.COLOR_BGR2HSV)
        yellow = cv2.inRange(hsv, t.yellow_low, t.yellow_high)
        paint = cv2.bitwise_or(white, yellow)
        paint = cv2.GaussianBlur(paint, self._kernel, 0)
        edges = cv2.Canny(paint, t.canny_low, t.canny_high)
        return cv2.bitwise_and(edges, self._roi_mask)

    def segments(self, frame: np.ndarray) -> np.ndarray:
        """Hough segments as (N, 4) x1, y1, x2, y2 in frame coordinates."""
        lines = cv2.HoughLinesP(
            self.edges(frame),
            rho=1,
            # 2-degree steps: half the accumulator work of 1 degree, and the length-weighted
            # average of a side's segments is finer than either.
            theta=np.pi / 90,
            threshold=self._threshold,
            minLineLength=self._min_length,
            maxLineGap=self._max_gap,
        )
        if lines is None:
            return np.empty((0, 4), dtype=np.float64)
        # OpenCV 5 returns (N, 4), OpenCV 4 returned (N, 1, 4): accept both.
        segments = np.asarray(lines, dtype=np.float64).reshape(-1, 4)
        segments[:, [0, 2]] += self.x_left
        segments[:, [1, 3]] += self.y_top
        return segments

    def _fit_side(self, segments: np.ndarray, left: bool) -> np.ndarray | None:
        """One line per side, as x at the bottom and top rows: a length-weighted average of
        the segments' x = a*y + b (x as a function of y stays finite for steep lanes)."""
        if len(segments) == 0:
            return None
        x1, y1, x2, y2 = segments.T
        dx, dy = x2 - x1, y2 - y1
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = dy / dx
        t = self.tuning
        middle = self.width / 2
        steep = (np.abs(slope) >= t.min_abs_slope) & (np.abs(slope) <= t.max_abs_slope)
        if left:
            keep = steep & (slope < 0) & (x1 < middle * 1.05) & (x2 < middle * 1.05)
        else:
            keep = steep & (slope > 0) & (x1 > middle * 0.95) & (x2 > middle * 0.95)
        if not keep.any():
            return None
        x1, y1, dx, dy = x1[keep], y1[keep], dx[keep], dy[keep]
        inverse = dx / dy
        intercept = x1 - inverse * y1
        weight = np.hypot(dx, dy)
        a = np.average(inverse, weights=weight)
        b = np.average(intercept, weights=weight)
        return np.array([a * self.y_bottom + b, a * self.y_top + b])

    def _smooth(self, name: str, fit: np.ndarray | None) -> np.ndarray | None:
        state = self._sides[name]
        if not self.video:
            return fit
        if fit is None:
            state.missing += 1
            if state.missing > self.tuning.hold_frames:
                state.fit = None
            return state.fit
        state.missing = 0
        if state.fit is None:
            state.fit = fit
        else:
            k = self.tuning.smoothing
            state.fit = k * state.fit + (1 - k) * fit
        return state.fit

    def _line(self, fit: np.ndarray | None) -> Line | None:
        if fit is None:
            return None
        return [[int(round(fit[0])), self.y_bottom], [int(round(fit[1])), self.y_top]]

    def detect(self, frame: np.ndarray) -> FrameLanes:
        if frame.shape[0] != self.height or frame.shape[1] != self.width:
            raise ValueError(
                f"frame is {frame.shape[1]}x{frame.shape[0]}, detector expects {self.width}x{self.height}"
            )
        if not self._roi_mask.any():  # a thumbnail-sized frame has no region to search
            return FrameLanes(left=None, right=None)
        segments = self.segments(frame)
        raw_left = self._fit_side(segments, left=True)
        raw_right = self._fit_side(segments, left=False)
        return FrameLanes(
            left=self._line(self._smooth("left", raw_left)),
            right=self._line(self._smooth("right", raw_right)),
            detected_left=raw_left is not None,
            detected_right=raw_right is not None,
        )


def draw(frame: np.ndarray, lanes: FrameLanes, y_top: int | None = None) -> np.ndarray:
    """Draws the lanes on `frame` in place (red lines, a translucent green road between them)."""
    thickness = max(2, frame.shape[0] // 54)
    if lanes.left and lanes.right:
        top = y_top if y_top is not None else min(lanes.left[1][1], lanes.right[1][1])
        band = frame[top:, :]
        shade = band.copy()
        polygon = np.array(
            [lanes.left[0], lanes.left[1], lanes.right[1], lanes.right[0]], dtype=np.int32
        ) - np.array([0, top], dtype=np.int32)
        cv2.fillPoly(shade, [polygon], (0, 160, 0))
        # Blend only the band the lanes occupy: the full frame would cost 3x as much.
        cv2.addWeighted(shade, 0.3, band, 0.7, 0, dst=band)
    for line in (lanes.left, lanes.right):
        if line:
            cv2.line(frame, tuple(line[0]), tuple(line[1]), (0, 0, 255), thickness, cv2.LINE_AA)
    return frame
