"""Independent check that a detected lane lies on painted road markings."""

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


def on_paint(mask: np.ndarray, line: list[list[int]], shift: int = 0) -> float:
    """Fraction of 50 points along the line that lie on paint (dashed markings give ~0.5)."""
    (x1, y1), (x2, y2) = line
    t = np.linspace(0, 1, 50)
    xs = np.clip((x1 + (x2 - x1) * t + shift).astype(int), 0, mask.shape[1] - 1)
    ys = np.clip((y1 + (y2 - y1) * t).astype(int), 0, mask.shape[0] - 1)
    return float(np.mean(mask[ys, xs] > 0))
