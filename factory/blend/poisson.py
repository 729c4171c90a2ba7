"""Poisson blending (OpenCV ``seamlessClone``) on a region of interest, not the whole frame."""

from __future__ import annotations

import cv2
import numpy as np

# Pixels of background kept around the patch inside the ROI; Poisson needs a fixed border.
ROI_PAD = 4


def roi_geometry(
    image_hw: tuple[int, int], patch_hw: tuple[int, int], top_left_xy: tuple[int, int], pad: int
) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """The ROI ``xyxy`` clipped to the image and the border ``(top, bottom, left, right)``
    to add so that the ROI spans the whole patch plus ``pad`` on each side."""
    height, width = image_hw
    ph, pw = patch_hw
    x0, y0 = top_left_xy
    want = (x0 - pad, y0 - pad, x0 + pw + pad, y0 + ph + pad)
    roi = (max(0, want[0]), max(0, want[1]), min(width, want[2]), min(height, want[3]))
    border = (roi[1] - want[1], want[3] - roi[3], roi[0] - want[0], want[2] - roi[2])
    return roi, border


def pad_roi(roi: np.ndarray, border: tuple[int, int, int, int]) -> np.ndarray:
    """Extend an ROI past the image edge by mirroring it (replicating when it is too small)."""
    if not any(border):
        return roi
    top, bottom, left, right = border
    fits = max(top, bottom) < roi.shape[0] and max(left, right) < roi.shape[1]
    mode = cv2.BORDER_REFLECT_101 if fits else cv2.BORDER_REPLICATE
    return cv2.copyMakeBorder(roi, top, bottom, left, right, mode)


def poisson_blend(
    background: np.ndarray,
    patch: np.ndarray,
    mask: np.ndarray,
    top_left_xy: tuple[int, int],
    *,
    mixed: bool = False,
    pad: int = ROI_PAD,
    core: np.ndarray | None = None,
) -> np.ndarray:
    """Blend ``patch`` into a copy of ``background`` where ``mask`` is set (gradient domain).

    Grey ``(H, W)`` and BGR ``(H, W, 3)`` uint8 images; ``patch`` has the background's
    channels; ``mask`` is bool ``(h, w)``. The patch may reach past the image edge: the
    ROI is mirrored out so the solver sees a natural border there, and only the part
    inside the image is written back. ``mixed`` keeps the stronger of the patch's and the
    background's gradients (OpenCV ``MIXED_CLONE``), useful for thin defects on texture.

    ``core`` (bool ``(h, w)``, inside ``mask``) marks the defect itself: the guidance field
    then takes the patch's gradients only there and the
    background's own texture in the rest of ``mask``, so the patch's old surroundings are not
    carried along and the changed pixels stay on the defect.
    """
    if patch.shape[:2] != mask.shape[:2]:
        raise ValueError(f"patch {patch.shape[:2]} and mask {mask.shape[:2]} differ in size")
    out = background.copy()
    roi_xyxy, border = roi_geometry(background.shape[:2], patch.shape[:2], top_left_xy, pad)
    rx0, ry0, rx1, ry1 = roi_xyxy
    if rx1 <= rx0 or ry1 <= ry0:
        return out
    destination = pad_roi(background[ry0:ry1, rx0:rx1], border)
    ph, pw = patch.shape[:2]
    full_mask = np.zeros(destination.shape[:2], np.uint8)
    full_mask[pad : pad + ph, pad : pad + pw] = mask.astype(bool) * 255
    # seamlessClone ignores the outermost pixel ring; keep the mask off it and off the
    # part of the ROI that lies outside the image (its mirrored pixels are not real).
    full_mask[:1, :] = full_mask[-1:, :] = 0
    full_mask[:, :1] = full_mask[:, -1:] = 0
    if not full_mask.any():
        return out
    source = destination.copy()
    if core is None:
        source[pad : pad + ph, pad : pad + pw] = patch
    else:
        # Hard composite: Poisson smooths the level across the boundary anyway, and a
        # feathered rim would make pixels outside the defect change.
        region = source[pad : pad + ph, pad : pad + pw]
        region[core.astype(bool)] = patch[core.astype(bool)]
    grey = destination.ndim == 2
    if grey:
        source = cv2.cvtColor(source, cv2.COLOR_GRAY2BGR)
        destination = cv2.cvtColor(destination, cv2.COLOR_GRAY2BGR)
    bx, by, bw, bh = cv2.boundingRect(full_mask)
    # OpenCV centres the mask's bounding rectangle on `center` with integer halves.
    center = (bx + bw // 2, by + bh // 2)
    flag = cv2.MIXED_CLONE if mixed else cv2.NORMAL_CLONE
    blended = cv2.seamlessClone(source, destination, full_mask, center, flag)
    if grey:
        blended = blended[:, :, 0]
    top, _, left, _ = border
    out[ry0:ry1, rx0:rx1] = blended[top : top + (ry1 - ry0), left : left + (rx1 - rx0)]
    return out


def poisson_blend_full_frame(
    background: np.ndarray,
    patch: np.ndarray,
    mask: np.ndarray,
    top_left_xy: tuple[int, int],
    *,
    mixed: bool = False,
) -> np.ndarray:
    """The naive baseline: ``seamlessClone`` with full-frame source, mask and destination.

    Only for benchmarks; the patch must lie inside the image.
    """
    x0, y0 = top_left_xy
    ph, pw = patch.shape[:2]
    grey = background.ndim == 2
    destination = cv2.cvtColor(background, cv2.COLOR_GRAY2BGR) if grey else background
    source = destination.copy()
    patch3 = cv2.cvtColor(patch, cv2.COLOR_GRAY2BGR) if grey else patch
    source[y0 : y0 + ph, x0 : x0 + pw] = patch3
    full_mask = np.zeros(background.shape[:2], np.uint8)
    full_mask[y0 : y0 + ph, x0 : x0 + pw] = mask.astype(bool) * 255
    bx, by, bw, bh = cv2.boundingRect(full_mask)
    flag = cv2.MIXED_CLONE if mixed else cv2.NORMAL_CLONE
    blended = cv2.seamlessClone(source, destination, full_mask, (bx + bw // 2, by + bh // 2), flag)
    return blended[:, :, 0].copy() if grey else blended
