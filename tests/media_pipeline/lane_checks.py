"""Independent checks of detected lanes: on painted road markings, and near hand labels."""

from __future__ import annotations

import cv2
import numpy as np


def paint_mask(bgr: np.ndarray) -> np.ndarray:
    """White and yellow paint by HLS thresholds (a different colour space from the detector's),
    widened by 6 px so a line drawn along the middle of a marking counts as on it."""
    hls = cv2.cvtColor(bgr, cv2.COLOR_BGR2HLS)
    white = cv2.inRange(hls, (0, 190, 0), (180, 255, 255))
    yellow = cv2.inRange(hls, (10, 80, 90), (40, 255, 255))
    return cv2.dilate(white | yellow, np.ones((13, 13), np.uint8))


def along(points: list[list[int]], count: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """`count` points evenly spaced along a polyline (two points: a straight line)."""
    pts = np.asarray(points, dtype=float)
    steps = np.r_[0, np.cumsum(np.hypot(*np.diff(pts, axis=0).T))]
    at = np.linspace(0, steps[-1], count)
    return np.interp(at, steps, pts[:, 0]), np.interp(at, steps, pts[:, 1])


def on_paint(mask: np.ndarray, line: list[list[int]], shift: int = 0) -> float:
    """Fraction of 50 points along the line that lie on paint (dashed markings give ~0.5)."""
    x, y = along(line)
    xs = np.clip((x + shift).astype(int), 0, mask.shape[1] - 1)
    ys = np.clip(y.astype(int), 0, mask.shape[0] - 1)
    return float(np.mean(mask[ys, xs] > 0))


def x_at(points: list[list[int]], y: float) -> float:
    """Where a polyline crosses row y."""
    pts = np.asarray(points, dtype=float)
    order = np.argsort(pts[:, 1])
    assert pts[order[0], 1] <= y <= pts[order[-1], 1], f"row {y} outside the line {points}"
    return float(np.interp(y, pts[order, 1], pts[order, 0]))
