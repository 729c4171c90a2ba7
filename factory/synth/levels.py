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


def otsu_threshold(hist: np.ndarray) -> int:
    """Otsu's threshold of a 256-bin grey histogram: levels <= it are the dark class."""
    counts = hist.astype(np.float64)
    total = counts.sum()
    levels = np.arange(counts.size)
    weight_dark = np.cumsum(counts)
    sum_dark = np.cumsum(counts * levels)
    weight_light = total - weight_dark
    mean_dark = np.divide(sum_dark, weight_dark, out=np.zeros_like(sum_dark), where=weight_dark > 0)
    mean_light = np.divide(
        sum_dark[-1] - sum_dark, weight_light, out=np.zeros_like(sum_dark), where=weight_light > 0
    )
    between = weight_dark * weight_light * (mean_dark - mean_light) ** 2
    return int(np.argmax(between[:-1]))


def bilevel_levels(hist: np.ndarray) -> tuple[tuple[int, int] | None, float]:
    """The two grey levels of a bi-level histogram and the share of pixels on them.

    Returns ``((low, high), share)`` when at least :data:`MIN_BILEVEL_SHARE` of the pixels
    lie within :data:`LEVEL_TOLERANCE` of the dark and light classes' modes, which are at
    least :data:`MIN_LEVEL_GAP` apart; ``(None, share)`` otherwise.
    """
    hist = np.asarray(hist, np.float64).ravel()
    if hist.size != 256:
        raise ValueError(f"expected a 256-bin grey histogram, got {hist.size} bins")
    total = hist.sum()
    if total <= 0:
        return None, 0.0
    threshold = otsu_threshold(hist)
    low = int(np.argmax(hist[: threshold + 1]))
    high = threshold + 1 + int(np.argmax(hist[threshold + 1 :]))
    near = np.zeros(256, bool)
    for level in (low, high):
        near[max(0, level - LEVEL_TOLERANCE) : level + LEVEL_TOLERANCE + 1] = True
    share = float(hist[near].sum() / total)
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
    """Pool the grey histograms of up to :data:`LEVEL_SAMPLE` images (sorted by path) and
    decide whether they are bi-level."""
    chosen = sorted(Path(p) for p in image_paths)[:LEVEL_SAMPLE]
    hist = np.zeros(256, np.float64)
    for path in chosen:
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            raise FactoryError(f"{path}: cannot read the image (corrupt or not an image)")
        hist += np.bincount(grey.ravel(), minlength=256)
    levels, share = bilevel_levels(hist)
    return ToneLevels(levels, share, len(chosen))
