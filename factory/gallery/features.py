"""Offline feature vectors for defect crops: classical descriptors, no weights, no network.

Each crop (a defect's box plus a little context) is resized to a fixed square and described
by an intensity histogram, a HOG-like grid of gradient-orientation histograms, a local binary
pattern histogram and its box shape. All pure functions of arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from factory.quality import to_grey

CROP_SIZE = 32
CONTEXT = 0.15  # fraction of the box size added on each side
INTENSITY_BINS = 16
ORIENTATION_BINS = 8
CELLS = 4
LBP_BINS = 32


def crop_xyxy(image: np.ndarray, xyxy: Sequence[float], context: float = CONTEXT) -> np.ndarray:
    """The box plus ``context`` of its size on each side, clipped to the image."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    mx, my = (x1 - x0) * context, (y1 - y0) * context
    left, top = max(0, int(np.floor(x0 - mx))), max(0, int(np.floor(y0 - my)))
    right, bottom = min(w, int(np.ceil(x1 + mx))), min(h, int(np.ceil(y1 + my)))
    if right <= left or bottom <= top:
        raise ValueError(f"box {tuple(xyxy)} is outside the {w}x{h} image")
    return image[top:bottom, left:right]


def describe_crop(crop: np.ndarray) -> np.ndarray:
    """A fixed-length float32 descriptor of one crop (grey or BGR uint8)."""
    h, w = crop.shape[:2]
    grey = cv2.resize(to_grey(crop), (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)
    # Intensity relative to the crop's median: defects differ by contrast, not by the
    # absolute brightness of the board they sit on.
    centred = grey - np.median(grey)
    hist = np.histogram(np.clip(centred, -128, 127), bins=INTENSITY_BINS, range=(-128, 128))[0]
    intensity = hist / max(1, hist.sum())
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    magnitude, angle = cv2.cartToPolar(gx, gy)
    orientation = (np.mod(angle, np.pi) / np.pi * ORIENTATION_BINS).astype(int)
    orientation = np.minimum(orientation, ORIENTATION_BINS - 1)
    cell = CROP_SIZE // CELLS
    hog = np.zeros((CELLS, CELLS, ORIENTATION_BINS), np.float32)
    for cy in range(CELLS):
        for cx in range(CELLS):
            sl = np.s_[cy * cell : (cy + 1) * cell, cx * cell : (cx + 1) * cell]
            hog[cy, cx] = np.bincount(
                orientation[sl].ravel(), magnitude[sl].ravel(), minlength=ORIENTATION_BINS
            )
    hog = hog.ravel()
    hog /= np.linalg.norm(hog) + 1e-6
    lbp = local_binary_pattern(grey)
    lbp_hist = np.bincount((lbp >> 3).ravel(), minlength=LBP_BINS).astype(np.float32)
    lbp_hist /= max(1.0, lbp_hist.sum())
    shape = np.array(
        [np.log1p(w), np.log1p(h), np.log((w + 1) / (h + 1)), grey.std() / 64.0], np.float32
    )
    return np.concatenate([intensity, hog, lbp_hist, shape]).astype(np.float32)


def local_binary_pattern(grey: np.ndarray) -> np.ndarray:
    """8-neighbour LBP codes (uint8) of the interior pixels of a grey image."""
    centre = grey[1:-1, 1:-1]
    codes = np.zeros(centre.shape, np.uint8)
    offsets = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]
    h, w = grey.shape
    for bit, (dy, dx) in enumerate(offsets):
        neighbour = grey[1 + dy : h - 1 + dy, 1 + dx : w - 1 + dx]
        codes |= (neighbour >= centre).astype(np.uint8) << bit
    return codes


def describe_crops(crops: Sequence[np.ndarray]) -> np.ndarray:
    """``(N, D)`` descriptors; ``(0, D)`` for no crops."""
    if not crops:
        return np.zeros((0, feature_dim()), np.float32)
    return np.stack([describe_crop(c) for c in crops])


def feature_dim() -> int:
    return INTENSITY_BINS + CELLS * CELLS * ORIENTATION_BINS + LBP_BINS + 4


def standardise(reference: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Scale every set by the reference set's per-feature mean and std."""
    mean = reference.mean(axis=0)
    std = reference.std(axis=0)
    # Floor the scale: a feature (histogram bin) that barely varies should not dominate.
    std = np.maximum(std, 0.02)
    return [(x - mean) / std for x in (reference, *others)]
