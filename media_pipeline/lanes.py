"""Lane detection that follows curves: a bird's-eye view of the road ahead, lane pixels from
colour and gradient (stripe) tests, a sliding-window search (or, in video, a search around the
previous frame's fit), a second-order polynomial per line, sanity checks, smoothing, overlay.

The bird's-eye view is small (200x160 pixels whatever the frame's size): the perspective warp
samples the frame once, so the per-frame cost hardly grows with resolution. The warp's source
trapezoid is given as fractions of the frame, so any size and aspect works; it assumes a camera
looking straight ahead with the horizon a little above the middle, as dashcams are mounted.
The steps on the bird's-eye view are in lane_search.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from media_pipeline import lane_search
from media_pipeline.lane_search import LineFit, SearchTuning

Point = list[int]
Line = list[Point]  # [[x_bottom, y_bottom], [x_top, y_top]] in the frame's pixel coordinates

# What a metre is on the bird's-eye view (stated in the README): a lane is 3.7 m wide (US
# interstates, where the development footage was filmed), and the view covers about 30 m of
# road ahead (the usual reading of a view whose top row is at 64% of the frame's height).
LANE_WIDTH_M = 3.7
VIEW_LENGTH_M = 30.0
STRAIGHT_RADIUS_M = 10_000.0  # radii beyond this are reported as this: a straight road


@dataclass(frozen=True)
class Region:
    """The road the bird's-eye view covers, as fractions of the frame."""

    horizon: float = 0.575  # the vanishing point's row
    top: float = 0.64  # the view's far edge (must be below the horizon)
    lane_bottom_left: float = 0.135  # where a centred car's lane lines meet the bottom row
    lane_bottom_right: float = 0.865


@dataclass(frozen=True)
class Tuning:
    view_width: int = 200
    view_height: int = 160
    lane_width: int = 100  # the lane in the bird's-eye view, in its pixels
    smoothing: float = 0.6  # weight of the smoothed fit against a new frame's fit, in video
    hold_frames: int = 5  # a line lost for a few frames keeps its last position
    max_jump: float = 0.3  # a fit this far (lane widths) from the smoothed one is not trusted
    search: SearchTuning = field(default_factory=SearchTuning)


@dataclass
class FrameLanes:
    left: Line | None
    right: Line | None
    # What this frame alone found, before smoothing and holding: used for honest statistics.
    detected_left: bool = False
    detected_right: bool = False
    left_points: list[Point] | None = None  # the line as a polyline, bottom to top
    right_points: list[Point] | None = None
    radius_m: float | None = None  # radius of curvature of the lane near the car
    offset_m: float | None = None  # car's distance right (+) or left (-) of the lane centre

    @property
    def both(self) -> bool:
        return self.detected_left and self.detected_right

    def as_dict(self) -> dict[str, object]:
        return {
            "left": self.left,
            "right": self.right,
            "left_points": self.left_points,
            "right_points": self.right_points,
            "radius_m": self.radius_m,
            "offset_m": self.offset_m,
        }


@dataclass
class _SideState:
    fit: np.ndarray | None = None  # smoothed (a, b, c)
    missing: int = 0


@dataclass
class LaneDetector:
    """Detects lanes in frames of one fixed size; `video=True` follows them across frames."""

    width: int
    height: int
    video: bool = False
    region: Region = field(default_factory=Region)
    tuning: Tuning = field(default_factory=Tuning)

    def __post_init__(self) -> None:
        w, h, r, t = self.width, self.height, self.region, self.tuning
        self.y_top = int(round(h * r.top))
        self.y_bottom = h - 1
        vx, vy = w / 2, h * r.horizon
        # The trapezoid's sides run to the vanishing point, so it is a rectangle on the road.
        scale = (self.y_top - vy) / (self.y_bottom - vy)
        left, right = w * r.lane_bottom_left, w * r.lane_bottom_right
        source = np.float32(
            [
                (left, self.y_bottom),
                (vx + (left - vx) * scale, self.y_top),
                (vx + (right - vx) * scale, self.y_top),
                (right, self.y_bottom),
            ]
        )
        vw, vh, lw = t.view_width, t.view_height, t.lane_width
        self._expected = ((vw - lw) / 2, (vw + lw) / 2)
        target = np.float32(
            [(self._expected[0], vh - 1), (self._expected[0], 0), (self._expected[1], 0),
             (self._expected[1], vh - 1)]
        )  # fmt: skip
        self._to_view = cv2.getPerspectiveTransform(source, target)
        self._from_view = cv2.getPerspectiveTransform(target, source)
        # A frame too small for a meaningful view: no lanes, rather than upsampled noise.
        self._usable = w >= 64 and h >= 48 and (self.y_bottom - self.y_top) >= 8
        rows = np.linspace(self.y_bottom, self.y_top, 9)
        on_view = cv2.perspectiveTransform(
            np.float32([[(vx, y) for y in rows]]), self._to_view
        )[0]
        self._rows = rows
        # How many frame rows each view row stands for (the fit's weights).
        centre = np.float32([[(vw / 2, y) for y in range(vh)]])
        frame_rows = cv2.perspectiveTransform(centre, self._from_view)[0][:, 1]
        weight = np.abs(np.gradient(frame_rows)) if vh > 1 else np.ones(vh)
        self._view = lane_search.View(vw, vh, lw, weight / weight.mean(), t.search)
        self._row_t = (vh - 1 - on_view[:, 1]) / (vh - 1)  # each output row's t on the view
        self._sides = {"left": _SideState(), "right": _SideState()}
        self.polygon = source.round().astype(np.int32)

    # --- one frame -------------------------------------------------------------------------

    def _search(
        self, ys: np.ndarray, xs: np.ndarray, mask: np.ndarray, priors: dict
    ) -> dict[str, LineFit | None]:
        view = self._view
        fits: dict[str, LineFit | None] = {"left": None, "right": None}
        starts = None
        for index, name in enumerate(("left", "right")):
            prior = priors.get(name)
            if prior is not None:
                fits[name] = lane_search.fit_line(view, *lane_search.prior_search(view, ys, xs, prior))
            if fits[name] is None:
                if starts is None:
                    starts = lane_search.fresh_starts(mask, self._expected, view.lane_width)
                if starts[index] is not None:
                    found = lane_search.window_search(view, ys, xs, starts[index])
                    fits[name] = lane_search.fit_line(view, *found)
        left, right = fits["left"], fits["right"]
        if left is not None and right is not None:
            if not lane_search.plausible_pair(view, left, right):
                # Keep the better-supported line; the other gets a second look below.
                weaker = "left" if lane_search.support(left) < lane_search.support(right) else "right"
                fits[weaker] = None
            else:
                # Lane lines bend alike: the line seen less (dashes) takes the other's bend,
                # which a few dashes cannot pin down on their own.
                weaker, stronger = sorted((left, right), key=lane_search.support)
                name = "left" if weaker is left else "right"
                pixels = lane_search.prior_search(view, ys, xs, weaker.coeffs)
                refit = lane_search.fit_line(view, *pixels, bend=stronger.coeffs[0])
                if refit is not None:
                    pair = (refit, right) if name == "left" else (left, refit)
                    if lane_search.plausible_pair(view, *pair):
                        fits[name] = refit
        # One line found: look for the other a lane width away, bending the same way.
        for name, other, sign in (("left", "right", -1), ("right", "left", 1)):
            found = fits[other]
            if fits[name] is None and found is not None:
                prior = found.coeffs + np.array([0.0, 0.0, sign * view.lane_width])
                pixels = lane_search.prior_search(view, ys, xs, prior)
                fit = lane_search.fit_line(view, *pixels, bend=found.coeffs[0])
                pair = (fit, found) if name == "left" else (found, fit)
                if fit is not None and lane_search.plausible_pair(view, *pair):
                    fits[name] = fit
        return fits

    def _smooth(self, name: str, fit: LineFit | None) -> np.ndarray | None:
        state = self._sides[name]
        if not self.video:
            return None if fit is None else fit.coeffs
        if fit is not None and state.fit is not None and state.missing <= self.tuning.hold_frames:
            # A sudden jump is more likely a wrong line than the road: not trusted this frame.
            jump = np.abs(
                np.polyval(fit.coeffs, [0.0, 0.5, 1.0])
                - np.polyval(state.fit, [0.0, 0.5, 1.0])
            ).max()
            if jump > self.tuning.max_jump * self.tuning.lane_width:
                fit = None
        if fit is None:
            state.missing += 1
            if state.missing > self.tuning.hold_frames:
                state.fit = None
            return state.fit
        state.missing = 0
        if state.fit is None:
            state.fit = fit.coeffs.copy()
        else:
            k = self.tuning.smoothing
            state.fit = k * state.fit + (1 - k) * fit.coeffs
        return state.fit

    def _points(self, coeffs: np.ndarray | None) -> list[Point] | None:
        if coeffs is None:
            return None
        vh = self.tuning.view_height
        xs = np.polyval(coeffs, self._row_t)
        view = np.float32([np.column_stack([xs, (1 - self._row_t) * (vh - 1)])])
        frame = cv2.perspectiveTransform(view, self._from_view)[0]
        frame[:, 1] = self._rows  # the warp maps rows to rows; keep them exact
        return [[int(round(x)), int(round(y))] for x, y in frame]

    def _measures(
        self, left: np.ndarray | None, right: np.ndarray | None
    ) -> tuple[float | None, float | None]:
        lw, vw = self.tuning.lane_width, self.tuning.view_width
        m_x = LANE_WIDTH_M / lw
        present = [c for c in (left, right) if c is not None]
        if not present:
            return None, None
        a, b, _ = np.mean(present, axis=0)
        # x(t) in metres against distance y in metres (t = y / VIEW_LENGTH_M), at the car.
        big_a = m_x * a / VIEW_LENGTH_M**2
        big_b = m_x * b / VIEW_LENGTH_M
        radius = STRAIGHT_RADIUS_M
        if big_a != 0:
            radius = min(STRAIGHT_RADIUS_M, (1 + big_b**2) ** 1.5 / abs(2 * big_a))
        offset = None
        if left is not None and right is not None:
            offset = round(float((vw / 2 - (left[2] + right[2]) / 2) * m_x), 2)
        return round(float(radius), 1), offset

    def detect(self, frame: np.ndarray) -> FrameLanes:
        if frame.shape[0] != self.height or frame.shape[1] != self.width:
            raise ValueError(
                f"frame is {frame.shape[1]}x{frame.shape[0]}, detector expects {self.width}x{self.height}"
            )
        if not self._usable:
            return FrameLanes(left=None, right=None)
        t = self.tuning
        view = lane_search.warp(frame, self._to_view, (t.view_width, t.view_height))
        mask = lane_search.lane_pixels(view, t.lane_width, t.search)
        ys, xs = np.nonzero(mask)
        priors = {}
        if self.video:
            for name, state in self._sides.items():
                if state.fit is not None:
                    priors[name] = state.fit
        fits = self._search(ys, xs, mask, priors)
        left = self._smooth("left", fits["left"])
        right = self._smooth("right", fits["right"])
        left_points, right_points = self._points(left), self._points(right)
        radius, offset = self._measures(left, right)
        return FrameLanes(
            left=[left_points[0], left_points[-1]] if left_points else None,
            right=[right_points[0], right_points[-1]] if right_points else None,
            detected_left=fits["left"] is not None,
            detected_right=fits["right"] is not None,
            left_points=left_points,
            right_points=right_points,
            radius_m=radius,
            offset_m=offset,
        )


def draw(frame: np.ndarray, lanes: FrameLanes, y_top: int | None = None) -> np.ndarray:
    """Draws the lanes on `frame` in place: red curves along the lines, a translucent green road
    between them."""
    thickness = max(2, frame.shape[0] // 54)
    left = lanes.left_points or lanes.left
    right = lanes.right_points or lanes.right
    if left and right:
        top = y_top if y_top is not None else min(p[1] for p in (*left, *right))
        top = max(0, min(top, frame.shape[0] - 1))
        band = frame[top:, :]
        shade = band.copy()
        polygon = np.array([*left, *right[::-1]], dtype=np.int32) - np.array([0, top], np.int32)
        cv2.fillPoly(shade, [polygon], (0, 160, 0))
        # Blend only the band the lanes occupy: the full frame would cost 3x as much.
        cv2.addWeighted(shade, 0.3, band, 0.7, 0, dst=band)
    for line in (left, right):
        if line:
            points = np.array(line, dtype=np.int32).reshape(-1, 1, 2)
            cv2.polylines(frame, [points], False, (0, 0, 255), thickness, cv2.LINE_AA)
    return frame
