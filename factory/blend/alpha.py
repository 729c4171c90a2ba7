"""Feathered alpha blending: fast, and keeps the patch's own pixel values."""

from __future__ import annotations

import cv2
import numpy as np

from factory.blend.poisson import roi_geometry


def feather_alpha(mask: np.ndarray, feather_px: float) -> np.ndarray:
    """Float32 alpha in [0, 1] from a bool mask, soft over about ``feather_px`` pixels.

    The blurred mask is scaled by 1.5 and clipped, so the defect itself stays nearly
    opaque and the soft edge straddles the mask boundary.
    """
    m = mask.astype(np.float32)
    if feather_px <= 0:
        return m
    sigma = feather_px / 2.0
    return np.clip(cv2.GaussianBlur(m, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT) * 1.5, 0, 1)


def alpha_blend(
    background: np.ndarray,
    patch: np.ndarray,
    mask: np.ndarray,
    top_left_xy: tuple[int, int],
    *,
    feather_px: float = 2.0,
    match_level: bool = True,
) -> np.ndarray:
    """Blend ``patch`` into a copy of ``background`` with a feathered ``mask``.

    With ``match_level`` the patch is shifted by the difference between the background's
    and the patch's mean grey level on a ring just outside the mask, so a defect cut from a
    darker image does not arrive with a darker halo. Parts outside the image are clipped.
    """
    if patch.shape[:2] != mask.shape[:2]:
        raise ValueError(f"patch {patch.shape[:2]} and mask {mask.shape[:2]} differ in size")
    out = background.copy()
    (rx0, ry0, rx1, ry1), (top, _, left, _) = roi_geometry(
        background.shape[:2], patch.shape[:2], top_left_xy, 0
    )
    if rx1 <= rx0 or ry1 <= ry0:
        return out
    height, width = ry1 - ry0, rx1 - rx0
    clip = (slice(top, top + height), slice(left, left + width))
    alpha = feather_alpha(mask, feather_px)[clip]
    source = patch[clip].astype(np.float32)
    target = out[ry0:ry1, rx0:rx1].astype(np.float32)
    if match_level:
        m = mask[clip].astype(np.uint8)
        ring = (cv2.dilate(m, np.ones((7, 7), np.uint8)) > 0) & (m == 0)
        if ring.sum() >= 8:
            source = source + (target[ring].mean(axis=0) - source[ring].mean(axis=0))
    if source.ndim == 3:
        alpha = alpha[:, :, None]
    mixed = alpha * source + (1 - alpha) * target
    out[ry0:ry1, rx0:rx1] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return out
