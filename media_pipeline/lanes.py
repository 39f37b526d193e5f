"""Lane detection that follows curves: a bird's-eye view of the road ahead, lane pixels from
colour and gradient (stripe) tests, a sliding-window search (or, in video, a search around the
previous frame's fit), a second-order polynomial per line, sanity checks, smoothing, overlay.

The bird's-eye view is small (200x160 pixels whatever the frame's size): the perspective warp
samples the frame once, so the cost hardly grows with resolution. The warp is given as
fractions of the frame, so any size and aspect works. Cameras sit at different heights and
pitches, so where the horizon is varies: when the usual horizon does not give a clear pair of
parallel lines, a few others are tried and the one that does is kept (lane_geometry.py). The
steps on the view are in lane_search.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import cv2
import numpy as np

from media_pipeline import lane_search
from media_pipeline.lane_geometry import Geometry, Region, ViewSize
from media_pipeline.lane_search import LineFit, SearchTuning

Point = list[int]
Line = list[Point]  # [[x_bottom, y_bottom], [x_top, y_top]] in the frame's pixel coordinates

# Horizons (fractions of the height) tried when the usual one finds no clear lane.
HORIZONS = (0.575, 0.53, 0.62, 0.49, 0.66, 0.45, 0.41, 0.7)


@dataclass(frozen=True)
class Tuning:
    view: ViewSize = field(default_factory=ViewSize)
    search: SearchTuning = field(default_factory=SearchTuning)
    smoothing: float = 0.6  # weight of the smoothed fit against a new frame's fit, in video
    hold_frames: int = 5  # a line lost for a few frames keeps its last position
    max_jump: float = 0.3  # a fit this far (lane widths) from the smoothed one is not trusted
    resweep_frames: int = 12  # in video, other horizons are tried at most this often


@dataclass
class FrameLanes:
    left: Line | None
    right: Line | None
    # Whether this frame's own fit was found and trusted (not a sudden jump), before smoothing
    # and holding: used for honest statistics.
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
        # A frame too small for a meaningful view: no lanes, rather than upsampled noise.
        self._usable = self.width >= 64 and self.height >= 48
        self._geometries: dict[float, Geometry] = {}
        self.geometry = self._geometry(self.region.horizon)
        self._sides = {"left": _SideState(), "right": _SideState()}
        self._since_sweep = self.tuning.resweep_frames

    @property
    def y_top(self) -> int:
        return self.geometry.y_top

    def _geometry(self, horizon: float) -> Geometry:
        if horizon not in self._geometries:
            region = dataclasses.replace(self.region, horizon=horizon)
            self._geometries[horizon] = Geometry(
                self.width, self.height, region, self.tuning.view, self.tuning.search
            )
        return self._geometries[horizon]

    # --- one frame -------------------------------------------------------------------------

    def _search(
        self, geometry: Geometry, ys: np.ndarray, xs: np.ndarray, mask: np.ndarray, priors: dict
    ) -> dict[str, LineFit | None]:
        view = geometry.view
        fits: dict[str, LineFit | None] = {"left": None, "right": None}
        starts = None
        for index, name in enumerate(("left", "right")):
            prior = priors.get(name)
            if prior is not None:
                pixels = lane_search.prior_search(view, ys, xs, prior)
                fits[name] = lane_search.fit_line(view, *pixels)
            if fits[name] is None:
                if starts is None:
                    starts = lane_search.fresh_starts(mask, geometry.expected, view.lane_width)
                if starts[index] is not None:
                    found = lane_search.window_search(view, ys, xs, starts[index])
                    fits[name] = lane_search.fit_line(view, *found)
        left, right = fits["left"], fits["right"]
        if left is not None and right is not None:
            if priors and not lane_search.plausible_pair(view, left, right):
                # Following the last frame led somewhere implausible: search afresh.
                return self._search(geometry, ys, xs, mask, {})
            if not lane_search.plausible_pair(view, left, right):
                # Keep the better-supported line; the other gets a second look below.
                weaker = (
                    "left" if lane_search.support(left) < lane_search.support(right) else "right"
                )
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

    def _try(
        self, geometry: Geometry, frame: np.ndarray, priors: dict
    ) -> tuple[dict[str, LineFit | None], float]:
        """The fits one horizon gives, and how convincing they are: lines seen over many rows,
        both of them, and parallel (the right horizon makes lane lines parallel on the view)."""
        mask = lane_search.lane_pixels(
            geometry.warp(frame), geometry.view.lane_width, self.tuning.search
        )
        # The same coordinates as np.nonzero(mask), in a sixth of its time on a 200x160 mask.
        ys, xs = np.divmod(np.flatnonzero(mask), mask.shape[1])
        fits = self._search(geometry, ys, xs, mask, priors)
        # Stripes everywhere (foliage, faces, fabric, noise) and a "line" through some of them
        # is not a road: no lines rather than wrong ones.
        explained = sum(f.pixels for f in fits.values() if f is not None)
        if explained < self.tuning.search.min_share * len(xs):
            fits = {"left": None, "right": None}
        # A line without a partner has nothing to confirm it: it must be clean and long.
        lone = [n for n, f in fits.items() if f is not None]
        if len(lone) == 1 and not lane_search.clear_alone(geometry.view, fits[lone[0]]):
            fits[lone[0]] = None
        return fits, lane_search.pair_score(geometry.view, fits["left"], fits["right"])

    def _fits(self, frame: np.ndarray) -> dict[str, LineFit | None]:
        priors = {n: s.fit for n, s in self._sides.items() if self.video and s.fit is not None}
        fits, score = self._try(self.geometry, frame, priors)
        self._since_sweep += 1
        if score >= lane_search.CONVINCING or (priors and (fits["left"] or fits["right"])):
            return fits
        if self.video and self._since_sweep < self.tuning.resweep_frames:
            return fits
        # Not convincing with this horizon: try the others, keep the best.
        self._since_sweep = 0
        best = (score, self.geometry, fits)
        for horizon in HORIZONS:
            geometry = self._geometry(horizon)
            if geometry is self.geometry:
                continue
            other, other_score = self._try(geometry, frame, {})
            # Another horizon has to show a clear pair (more horizons tried would otherwise
            # mean more chances of lines in clutter), and the usual one wins near-ties.
            clear = other["left"] and other["right"] and other_score >= lane_search.CONVINCING
            if clear and other_score > best[0] + 1.0:
                best = (other_score, geometry, other)
        if best[1] is not self.geometry:
            self.geometry = best[1]
            self._sides = {"left": _SideState(), "right": _SideState()}  # fits of another view
        return best[2]

    def _smooth(self, name: str, fit: LineFit | None) -> tuple[np.ndarray | None, bool]:
        """The line to report for one side, and whether this frame's own fit was trusted."""
        state = self._sides[name]
        if not self.video:
            return (None if fit is None else fit.coeffs), fit is not None
        if fit is not None and state.fit is not None:
            # A sudden jump is more likely a wrong line than the road: not trusted at once. If
            # it persists past the hold, it is the road that moved: start again from it.
            jump = np.abs(
                np.polyval(fit.coeffs, [0.0, 0.5, 1.0]) - np.polyval(state.fit, [0.0, 0.5, 1.0])
            ).max()
            if jump > self.tuning.max_jump * self.geometry.view.lane_width:
                state.missing += 1
                if state.missing > self.tuning.hold_frames:
                    state.fit, state.missing = fit.coeffs.copy(), 0
                    return state.fit, True
                return state.fit, False
        if fit is None:
            state.missing += 1
            if state.missing > self.tuning.hold_frames:
                state.fit = None
            return state.fit, False
        state.missing = 0
        if state.fit is None:
            state.fit = fit.coeffs.copy()
        else:
            k = self.tuning.smoothing
            state.fit = k * state.fit + (1 - k) * fit.coeffs
        return state.fit, True

    def detect(self, frame: np.ndarray) -> FrameLanes:
        if frame.shape[0] != self.height or frame.shape[1] != self.width:
            raise ValueError(
                f"frame is {frame.shape[1]}x{frame.shape[0]}, detector expects {self.width}x{self.height}"
            )
        if not self._usable:
            return FrameLanes(left=None, right=None)
        fits = self._fits(frame)
        left, trusted_left = self._smooth("left", fits["left"])
        right, trusted_right = self._smooth("right", fits["right"])
        left_points, right_points = self.geometry.points(left), self.geometry.points(right)
        radius, offset = self.geometry.measures(left, right)
        return FrameLanes(
            left=[left_points[0], left_points[-1]] if left_points else None,
            right=[right_points[0], right_points[-1]] if right_points else None,
            detected_left=trusted_left,
            detected_right=trusted_right,
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
        polygon = np.array([*left, *right[::-1]], dtype=np.int32)
        x0 = int(np.clip(polygon[:, 0].min(), 0, frame.shape[1]))
        x1 = int(np.clip(polygon[:, 0].max() + 1, 0, frame.shape[1]))
        # Blend only the box the road occupies (outside the polygon the blend changes nothing):
        # the full frame would cost 3-5x as much, at the frame rate of a camera overlay.
        band = frame[top:, x0:x1]
        if band.size:
            shade = band.copy()
            cv2.fillPoly(shade, [polygon - np.array([x0, top], np.int32)], (0, 160, 0))
            cv2.addWeighted(shade, 0.3, band, 0.7, 0, dst=band)
    for line in (left, right):
        if line:
            points = np.array(line, dtype=np.int32).reshape(-1, 1, 2)
            cv2.polylines(frame, [points], False, (0, 0, 255), thickness, cv2.LINE_AA)
    return frame
