"""Bi-level images (binarised scans: DeepPCB's boards, thresholded die masks) hold two grey
levels and almost nothing between them. Blending leaves grey where the real images have none
(Poisson's gradients, the jitter's blur and noise, resampling), so every paste carries a halo
a detector can learn instead of the defect. On DeepPCB the real defect boxes hold 0.07% grey
pixels and the pastes 2.7%. When the train images are bi-level, the blended pixels are
snapped back to the two levels.

:func:`bilevel_levels` and :func:`snap_to_levels` are pure; :func:`learn_levels` reads the
source images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from factory.errors import FactoryError

SNAP_MODES = ("auto", "off")
# Pixels within this many grey levels of one of the two levels count as on it (JPEG ringing).
LEVEL_TOLERANCE = 40
# Images are bi-level when at least this share of their pixels is on the two levels.
MIN_BILEVEL_SHARE = 0.995
# The two levels must be at least this far apart (a flat image is not bi-level).
MIN_LEVEL_GAP = 96
# Each level must hold at least this share of the pixels (a flat image is not bi-level).
MIN_LEVEL_SHARE = 0.01
# Levels are learned from this many train images (sorted by path: deterministic).
LEVEL_SAMPLE = 32


@dataclass(frozen=True)
class ToneLevels:
    """What was learned: ``levels`` (low, high) when the images are bi-level, else None."""

    levels: tuple[int, int] | None
    bilevel_share: float
    images: int

    def to_dict(self) -> dict:
        return {
            "levels": list(self.levels) if self.levels else None,
            "bilevel_share": round(self.bilevel_share, 5),
            "images": self.images,
        }


def bilevel_levels(grey: np.ndarray) -> tuple[tuple[int, int] | None, float]:
    """The two grey levels of bi-level ``grey`` pixels (uint8, any shape) and the share of
    pixels on them.

    Returns ``((low, high), share)`` when at least :data:`MIN_BILEVEL_SHARE` of the pixels
    lie within :data:`LEVEL_TOLERANCE` of the modes of Otsu's dark and light classes, which
    are at least :data:`MIN_LEVEL_GAP` apart and each hold :data:`MIN_LEVEL_SHARE` of the
    pixels; ``(None, share)`` otherwise.
    """
    if grey.dtype != np.uint8:
        raise ValueError(f"expected uint8 grey pixels, got {grey.dtype}")
    values = grey.reshape(-1, 1)
    if not values.size:
        return None, 0.0
    threshold, _ = cv2.threshold(values, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    threshold = int(threshold)
    hist = np.bincount(values.ravel(), minlength=256)
    if threshold >= 255:
        return None, 0.0
    low = int(np.argmax(hist[: threshold + 1]))
    high = threshold + 1 + int(np.argmax(hist[threshold + 1 :]))
    near = np.zeros(256, bool)
    for level in (low, high):
        near[max(0, level - LEVEL_TOLERANCE) : level + LEVEL_TOLERANCE + 1] = True
    share = float(hist[near].sum() / values.size)
    dark_share = hist[: threshold + 1].sum() / values.size
    if min(dark_share, 1 - dark_share) < MIN_LEVEL_SHARE:
        return None, share
    if high - low < MIN_LEVEL_GAP or share < MIN_BILEVEL_SHARE:
        return None, share
    return (low, high), share


def snap_to_levels(image: np.ndarray, region: np.ndarray, levels: tuple[int, int]) -> np.ndarray:
    """``image`` with the pixels of ``region`` (bool, H x W) set to the nearer of the two
    ``levels`` (every channel on its own); pixels outside ``region`` are untouched."""
    if region.shape != image.shape[:2]:
        raise ValueError(f"region is {region.shape}, image is {image.shape[:2]}")
    low, high = levels
    middle = (low + high) / 2.0
    out = image.copy()
    picked = out[region]
    out[region] = np.where(picked < middle, low, high).astype(image.dtype)
    return out


def learn_levels(image_paths: list[Path]) -> ToneLevels:
    """Pool the grey pixels of up to :data:`LEVEL_SAMPLE` images (sorted by path) and
    decide whether they are bi-level."""
    chosen = sorted(Path(p) for p in image_paths)[:LEVEL_SAMPLE]
    pixels = []
    for path in chosen:
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            raise FactoryError(f"{path}: cannot read the image (corrupt or not an image)")
        pixels.append(grey.ravel())
    levels, share = bilevel_levels(np.concatenate(pixels) if pixels else np.zeros(0, np.uint8))
    return ToneLevels(levels, share, len(chosen))
