"""The bird's-eye view of one frame size and one camera pose: the perspective warp, the mapping
of fits back to frame pixels, and what a pixel of the view is in metres."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from media_pipeline import lane_search
from media_pipeline.lane_search import SearchTuning

Point = list[int]

# What a metre is on the bird's-eye view (stated in the README): a lane is 3.7 m wide (US
# interstates, where the development footage was filmed), and the view covers about 30 m of
# road ahead (the usual reading of such a view; its far edge is 6.5 times as far as its near
# edge).
LANE_WIDTH_M = 3.7
VIEW_LENGTH_M = 30.0
STRAIGHT_RADIUS_M = 10_000.0  # radii beyond this are reported as this: a straight road


@dataclass(frozen=True)
class Region:
    """Where the road is in the frame, for a camera looking straight ahead."""

    horizon: float = 0.575  # the vanishing point's row, as a fraction of the height
    # The view's far edge, as a fraction of the way from the horizon to the bottom row: the
    # same share of the road ahead whatever the horizon.
    top: float = 0.155
    # A lane's width in pixels per pixel below the horizon: the lane's width over the camera's
    # height above the road, whatever the lens or the frame's size (3.05 in both sets of
    # development footage: a 3.7 m lane seen from about 1.2 m).
    lane_per_row: float = 3.05


@dataclass(frozen=True)
class ViewSize:
    width: int = 200
    height: int = 160
    lane_width: int = 100  # a centred car's lane in the view, in its pixels


class Geometry:
    """Warp between frames of `width` x `height` and the bird's-eye view for one horizon."""

    def __init__(
        self, width: int, height: int, region: Region, size: ViewSize, tuning: SearchTuning
    ):
        w, h = width, height
        self.horizon = region.horizon
        vx, vy = w / 2, h * region.horizon
        self.y_bottom = h - 1
        self.y_top = int(round(vy + (self.y_bottom - vy) * region.top))
        # The trapezoid's sides run to the vanishing point, so it is a rectangle on the road.
        scale = (self.y_top - vy) / (self.y_bottom - vy)
        half_lane = region.lane_per_row * (self.y_bottom - vy) / 2
        left, right = vx - half_lane, vx + half_lane
        source = np.float32(
            [
                (left, self.y_bottom),
                (vx + (left - vx) * scale, self.y_top),
                (vx + (right - vx) * scale, self.y_top),
                (right, self.y_bottom),
            ]
        )
        vw, vh, lw = size.width, size.height, size.lane_width
        self.expected = ((vw - lw) / 2, (vw + lw) / 2)
        target = np.float32(
            [(self.expected[0], vh - 1), (self.expected[0], 0), (self.expected[1], 0),
             (self.expected[1], vh - 1)]
        )  # fmt: skip
        self.to_view = cv2.getPerspectiveTransform(source, target)
        self.from_view = cv2.getPerspectiveTransform(target, source)
        self.size = (vw, vh)
        # The output polylines: 9 frame rows from the bottom to the view's far edge, and where
        # each lies on the view (the warp maps rows to rows).
        self.rows = np.linspace(self.y_bottom, self.y_top, 9)
        on_view = cv2.perspectiveTransform(np.float32([[(vx, y) for y in self.rows]]), self.to_view)
        self.row_t = (vh - 1 - on_view[0][:, 1]) / max(1, vh - 1)
        # How many frame rows each view row stands for: the fit's weights.
        centre = np.float32([[(vw / 2, y) for y in range(vh)]])
        frame_rows = cv2.perspectiveTransform(centre, self.from_view)[0][:, 1]
        weight = np.abs(np.gradient(frame_rows)) if vh > 1 else np.ones(vh)
        self.view = lane_search.View(vw, vh, lw, weight / max(weight.mean(), 1e-9), tuning)

    def warp(self, frame: np.ndarray) -> np.ndarray:
        return lane_search.warp(frame, self.to_view, self.size)

    def points(self, coeffs: np.ndarray | None) -> list[Point] | None:
        """A fit as a polyline in frame pixels, bottom row first."""
        if coeffs is None:
            return None
        vh = self.size[1]
        xs = np.polyval(coeffs, self.row_t)
        view = np.float32([np.column_stack([xs, (1 - self.row_t) * (vh - 1)])])
        frame = cv2.perspectiveTransform(view, self.from_view)[0]
        frame[:, 1] = self.rows  # rows map to rows; keep them exact
        return np.rint(frame).astype(int).tolist()

    def measures(
        self, left: np.ndarray | None, right: np.ndarray | None
    ) -> tuple[float | None, float | None]:
        """(radius of curvature, offset) in metres at the car: the lane's radius from the mean
        of the lines' fits, the offset of the frame's centre from the lane's centre."""
        present = [c for c in (left, right) if c is not None]
        if not present:
            return None, None
        m_x = LANE_WIDTH_M / self.view.lane_width
        a, b, _ = np.mean(present, axis=0)
        # x(t) in metres against distance y in metres (t = y / VIEW_LENGTH_M).
        big_a = m_x * a / VIEW_LENGTH_M**2
        big_b = m_x * b / VIEW_LENGTH_M
        radius = STRAIGHT_RADIUS_M
        if big_a != 0:
            radius = min(STRAIGHT_RADIUS_M, (1 + big_b**2) ** 1.5 / abs(2 * big_a))
        offset = None
        if left is not None and right is not None:
            offset = round(float((self.size[0] / 2 - (left[2] + right[2]) / 2) * m_x), 2)
        return round(float(radius), 1), offset
