"""The curve model's steps on a small bird's-eye view of the road: lane pixels, a sliding-window
or prior-guided search, one second-order polynomial per line, and the checks a fit must pass.

A fit is x = a*t**2 + b*t + c in bird's-eye pixels, where t runs from 0 at the bottom row (next
to the car) to 1 at the top row (furthest ahead), so the coefficients mean the same whatever the
view's height: c is where the line meets the car, b its heading, a its bend.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SearchTuning:
    ridge_offset: float = 0.08  # neighbours compared, as a fraction of the lane width each side
    white_contrast: int = 14  # grey levels a line must stand above the road on both sides...
    white_ratio: float = 0.16  # ...and this fraction of the road's own brightness (shadows)
    yellow_contrast: int = 22  # yellowness ((R+G)/2 - B) above the road on both sides
    yellow_min: int = 28
    windows: int = 8
    window_margin: float = 0.22  # half-width of a search window, fraction of the lane width
    prior_margin: float = 0.2  # half-width of the band around a previous fit
    min_window_pixels: int = 6  # a window with fewer does not move the search
    min_pixels: int = 60  # a line needs this many pixels...
    min_windows: int = 2  # ...in at least this many windows
    curve_span: float = 0.45  # pixels spanning less of the height fit a straight line
    lane_width_range: tuple[float, float] = (0.6, 1.55)  # of the nominal width, at any row
    max_width_change: float = 0.35  # near vs far width, fraction of nominal: lines parallel
    max_bend: float = 0.8  # |a| (bend over the view) at most this many lane widths
    max_drift: float = 0.7  # how far a line moves sideways over the view, in lane widths
    max_spread: float = 0.032  # RMS distance of a line's pixels from its fit, of the lane width
    min_share: float = 0.3  # the lines' share of all stripe pixels: less is clutter, not road


@dataclass
class LineFit:
    coeffs: np.ndarray  # (a, b, c)
    pixels: int
    windows: int  # windows (bands of rows) that hold pixels of this line
    spread: float = 0.0  # RMS distance of its pixels from the fit, in view pixels

    def x(self, t: np.ndarray | float) -> np.ndarray:
        a, b, c = self.coeffs
        return (a * t + b) * t + c


def lane_pixels(view: np.ndarray, lane_width: float, tuning: SearchTuning) -> np.ndarray:
    """Mask of paint-like pixels: thin stripes brighter (white) or yellower (yellow) than the
    road a little way to both sides. Comparing with both neighbours (a rise, then a fall: two
    horizontal gradients of opposite sign) keeps shadow edges, kerbs and seams out (they are
    steps, not stripes), and a contrast relative to the road's own brightness keeps lines in
    deep shadow and on pale concrete alike."""
    d = max(2, int(round(lane_width * tuning.ridge_offset)))
    bgr = view.astype(np.int16)
    b, g, r = bgr[..., 0], bgr[..., 1], bgr[..., 2]
    grey = (b + g + r) // 3
    yellow = (r + g) // 2 - b
    mask = np.zeros(grey.shape, dtype=bool)
    if grey.shape[1] <= 2 * d:
        return mask
    centre, left, right = grey[:, d:-d], grey[:, : -2 * d], grey[:, 2 * d :]
    road = np.maximum(left, right)
    rise = centre - road
    white = rise > np.maximum(tuning.white_contrast, (road * tuning.white_ratio).astype(np.int16))
    y_centre, y_road = yellow[:, d:-d], np.maximum(yellow[:, : -2 * d], yellow[:, 2 * d :])
    yellowish = (y_centre - y_road > tuning.yellow_contrast) & (y_centre > tuning.yellow_min)
    mask[:, d:-d] = white | (yellowish & (rise > -tuning.white_contrast))
    return mask


@dataclass(frozen=True)
class View:
    """The bird's-eye view's size, its nominal lane width, and how many frame rows each of its
    rows stands for (rows near the car are squeezed by the warp, far ones stretched)."""

    width: int
    height: int
    lane_width: float
    row_weight: np.ndarray
    tuning: SearchTuning

    def t(self, ys: np.ndarray) -> np.ndarray:
        return (self.height - 1 - ys) / max(1, self.height - 1)


def _windows(view: View, ys: np.ndarray) -> int:
    """How many of the windows (bands of rows) hold at least one of these pixels."""
    bands = ys * view.tuning.windows // view.height
    return int(np.count_nonzero(np.bincount(bands, minlength=view.tuning.windows)))


def _least_squares(t: np.ndarray, xs: np.ndarray, w: np.ndarray, degree: int) -> np.ndarray:
    """Weighted polynomial fit through the normal equations: a 2x2 or 3x3 solve costs a tenth
    of np.polyfit's general machinery, and t in [0, 1] keeps them well conditioned."""
    columns = [t**power for power in range(degree, -1, -1)]
    a = np.stack(columns, axis=1) * w[:, None]
    try:
        return np.linalg.solve(a.T @ a, a.T @ (xs * w))
    except np.linalg.LinAlgError:  # all pixels on one row: no slope to speak of
        return np.linalg.lstsq(a, xs * w, rcond=None)[0]


def _fit(view: View, ys: np.ndarray, xs: np.ndarray, bend: float | None) -> np.ndarray:
    """Weighted least squares x(t); a straight line when the pixels span too little of the
    view to show a bend, or the given bend `a` (the other line's: lane lines run parallel).
    Weights follow the frame rows a pixel stands for, so the few view rows next to the car
    (many frame rows, where a user looks first) count as much as the stretched far ones."""
    t = view.t(ys)
    w = np.sqrt(view.row_weight[ys])
    xs = xs.astype(np.float64)
    if bend is not None:
        b, c = _least_squares(t, xs - bend * t * t, w, 1)
        return np.array([bend, b, c])
    if np.ptp(t) < view.tuning.curve_span:
        b, c = _least_squares(t, xs, w, 1)
        return np.array([0.0, b, c])
    return _least_squares(t, xs, w, 2)


def fit_line(
    view: View, ys: np.ndarray, xs: np.ndarray, bend: float | None = None
) -> LineFit | None:
    """A line through the pixels if there are enough of them, spread over enough rows, and the
    curve is one a road can have."""
    tuning = view.tuning
    if len(xs) < tuning.min_pixels:
        return None
    windows = _windows(view, ys)
    if windows < tuning.min_windows:
        return None
    coeffs = _fit(view, ys, xs, bend)
    # One refit without the pixels far from the first fit: a car's edge or a stray marking
    # pulls a least-squares fit, the second pass lets go of it.
    t = view.t(ys)
    near = np.abs(((coeffs[0] * t + coeffs[1]) * t + coeffs[2]) - xs) < view.lane_width * 0.08
    if near.sum() >= tuning.min_pixels and near.sum() < len(xs):
        ys, xs = ys[near], xs[near]
        coeffs = _fit(view, ys, xs, bend)
        windows = _windows(view, ys)
    t = view.t(ys)
    spread = float(np.sqrt(np.mean((((coeffs[0] * t + coeffs[1]) * t + coeffs[2]) - xs) ** 2)))
    fit = LineFit(coeffs, int(len(xs)), int(windows), spread)
    return fit if plausible_line(view, fit) else None


def window_search(
    view: View, mask_ys: np.ndarray, mask_xs: np.ndarray, start: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of one line, following it up from `start` (x at the bottom) window by window; an
    empty window (the gap between dashes) carries on in the direction the line was heading."""
    tuning, height = view.tuning, view.height
    margin = view.lane_width * tuning.window_margin
    rows = height / tuning.windows
    x, step = float(start), 0.0
    chosen = []
    for window in range(tuning.windows):
        y_high = height - window * rows
        y_low = y_high - rows
        inside = (mask_ys >= y_low) & (mask_ys < y_high) & (np.abs(mask_xs - x) < margin)
        found = np.flatnonzero(inside)
        if len(found) >= tuning.min_window_pixels:
            chosen.append(found)
            new_x = float(mask_xs[found].mean())
            if window > 0:
                step = 0.5 * step + 0.5 * (new_x - x)
            x = new_x
        x += step
    if not chosen:
        return mask_ys[:0], mask_xs[:0]
    index = np.concatenate(chosen)
    return mask_ys[index], mask_xs[index]


def prior_search(
    view: View, mask_ys: np.ndarray, mask_xs: np.ndarray, prior: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels within a band around a previous fit (the last frame's, or the other line moved
    over by a lane width)."""
    t = view.t(mask_ys)
    expected = (prior[0] * t + prior[1]) * t + prior[2]
    near = np.abs(mask_xs - expected) < view.lane_width * view.tuning.prior_margin
    return mask_ys[near], mask_xs[near]


def fresh_starts(
    mask: np.ndarray, expected: tuple[float, float], lane_width: float
) -> tuple[float | None, float | None]:
    """Where the two lines start: the strongest column of lane pixels in the lower half of the
    view on each side of the centre, favouring columns near where a centred car's lines are."""
    height, width = mask.shape
    counts = mask[height // 2 :].sum(axis=0).astype(np.float32)
    if not counts.any():
        return None, None
    k = max(3, int(lane_width * 0.06) | 1)
    counts = np.convolve(counts, np.ones(k, np.float32), mode="same")
    columns = np.arange(width, dtype=np.float32)
    middle = (expected[0] + expected[1]) / 2
    starts: list[float | None] = []
    for centre, side in ((expected[0], columns < middle), (expected[1], columns >= middle)):
        # A gentle preference for the usual position: the next lane's line, a lane width away,
        # needs about twice the pixels to win.
        weight = 1.0 / (1.0 + ((columns - centre) / lane_width) ** 2)
        score = np.where(side, counts * weight, 0)
        best = int(np.argmax(score))
        starts.append(float(best) if counts[best] >= max(4, height * 0.03) else None)
    return starts[0], starts[1]


def plausible_line(view: View, fit: LineFit) -> bool:
    a, b, c = fit.coeffs
    top = a + b + c
    width, lane_width, tuning = view.width, view.lane_width, view.tuning
    return (
        fit.spread <= tuning.max_spread * lane_width
        and abs(a) <= tuning.max_bend * lane_width
        and max(abs(b), abs(a + b)) <= tuning.max_drift * lane_width
        and -0.25 * width <= c <= 1.25 * width
        and -0.5 * width <= top <= 1.5 * width
    )


def plausible_pair(view: View, left: LineFit, right: LineFit) -> bool:
    """Lane width within bounds at the near, middle and far rows, and the lines parallel."""
    lane_width, tuning = view.lane_width, view.tuning
    t = np.array([0.0, 0.5, 1.0])
    widths = right.x(t) - left.x(t)
    low, high = tuning.lane_width_range
    if widths.min() < low * lane_width or widths.max() > high * lane_width:
        return False
    return bool(np.ptp(widths) <= tuning.max_width_change * lane_width)


def clear_alone(view: View, fit: LineFit) -> bool:
    """A line that stands without the other: tight (painted, not clutter) over most rows."""
    return fit.spread <= 0.025 * view.lane_width and fit.windows >= view.tuning.windows // 2 + 1


def support(fit: LineFit) -> float:
    return fit.windows * 1000 + fit.pixels


# A pair scoring this much needs no other horizon tried: both lines over most of the view's
# rows, close to parallel.
CONVINCING = 10.0


def pair_score(view: View, left: LineFit | None, right: LineFit | None) -> float:
    """How convincing a pair of fits is: rows (windows) with pixels of either line, a bonus
    for both, less for lines that are not parallel, and less for a strong bend (seen from the
    wrong horizon, straight roads look bent; real bends on the view are gentle)."""
    present = [f for f in (left, right) if f is not None]
    score = sum(f.windows for f in present)
    if present:
        bend = float(np.mean([abs(f.coeffs[0]) for f in present]))
        score -= bend / (0.08 * view.lane_width)
    if left is not None and right is not None:
        widths = right.x(np.array([0.0, 0.5, 1.0])) - left.x(np.array([0.0, 0.5, 1.0]))
        score += 4 - 20 * float(np.ptp(widths)) / view.lane_width
    return float(score)


def warp(frame: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    # Replicated borders: the black of a constant border next to the road would look like the
    # dark side of a stripe.
    return cv2.warpPerspective(
        frame, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
