"""Boxes from the pixels a paste changed (pure functions)."""

from __future__ import annotations

import numpy as np


def changed_pixels(
    output: np.ndarray, before: np.ndarray, region: np.ndarray, tolerance: float
) -> np.ndarray:
    """Bool ``(H, W)``: pixels inside ``region`` where ``output`` differs from ``before`` by
    more than ``tolerance`` grey levels (largest channel difference for colour)."""
    diff = np.abs(output.astype(np.int16) - before.astype(np.int16))
    if diff.ndim == 3:
        diff = diff.max(axis=2)
    return (diff > tolerance) & region


def mask_to_xyxy(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tight box ``(x_min, y_min, x_max, y_max)`` of a bool mask, max exclusive; None if empty.

    The box lies inside the image by construction (it is clipped).
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def box_iou(a_xyxy, b_xyxy) -> float:
    ax0, ay0, ax1, ay1 = a_xyxy
    bx0, by0, bx1, by1 = b_xyxy
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0
