"""Quality scores for synthetic samples: pure functions of arrays (no I/O, no randomness).

Two questions a reviewer asks of a pasted defect, each answered by a number:

- **Seam visibility**: does the paste show an edge where it was blended in? Measured on a thin
  band along the paste mask's boundary: the gradient magnitude the output has there beyond
  what the clean background already had, in units of the background's median gradient around
  the paste. 0 means no extra edge; about 1 means an extra edge as strong as the local texture;
  a hard-edged alpha paste with a brightness mismatch scores several.
- **Contrast against its class**: is the defect as dark/bright against its surroundings as the
  real defects of its class? :func:`defect_contrast` is one statistic computed the same way on
  real instances (instance mask, or pixels estimated from the box) and on synthetic ones
  (pixels that the paste changed), so :func:`contrast_zscore` compares like with like.

:func:`score_sample` folds both into one ``score`` in [0, 1] used by ``--min-quality``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

# Gradients below this (grey levels per pixel, Sobel/8) are sensor noise, not edges.
GRADIENT_FLOOR = 2.0
# Width in pixels of the band around the paste boundary where a seam would show.
SEAM_BAND = 2
# Ring around a defect that stands for "its surroundings".
RING_WIDTH = 4
# Contrast spread below this (grey levels) is treated as this: a class whose real defects all
# have the same contrast should not make a 1-grey-level difference look like 10 sigma.
CONTRAST_STD_FLOOR = 4.0
# A polarity group (dark or bright real instances) needs this many members to be the reference.
MIN_POLARITY_GROUP = 3
# ... and at least this share of the class: 4 bright of 29 demo bridges must not make a
# bright paste of a dark class look typical (it is the placement that went wrong).
MIN_POLARITY_SHARE = 0.25
# A paste must change pixels by more than this (grey levels) to count as a defect pixel.
CHANGE_TOLERANCE = 6.0
# Seam visibility at which the seam factor of the score drops to 1/e.
SEAM_SCALE = 1.5
# Contrast z at which the contrast factor of the score drops to exp(-1/2).
CONTRAST_Z_SCALE = 2.0


def to_grey(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32 grey levels from a grey or BGR uint8 image."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image.astype(np.float32)


def gradient_magnitude(grey: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude in grey levels per pixel (Sobel 3x3 sums 8 weights)."""
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    return cv2.magnitude(gx, gy)


def _kernel(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def boundary_band(mask: np.ndarray, width: int = SEAM_BAND) -> np.ndarray:
    """Pixels within ``width`` of the mask boundary, on both sides (bool ``(H, W)``)."""
    m = mask.astype(np.uint8)
    outer = cv2.dilate(m, _kernel(width))
    inner = cv2.erode(m, _kernel(width), borderType=cv2.BORDER_REPLICATE)
    band = (outer > 0) & (inner == 0)
    # The image border is not a seam: the mask just stops there.
    band[:width, :] = band[-width:, :] = False
    band[:, :width] = band[:, -width:] = False
    return band


def surrounding_ring(mask: np.ndarray, width: int = RING_WIDTH, gap: int = 1) -> np.ndarray:
    """Pixels between ``gap`` and ``gap + width`` outside the mask (bool ``(H, W)``)."""
    m = mask.astype(np.uint8)
    near = cv2.dilate(m, _kernel(gap)) if gap > 0 else m
    far = cv2.dilate(m, _kernel(gap + width))
    return (far > 0) & (near == 0)


def _check_pair(output: np.ndarray, background: np.ndarray, mask: np.ndarray) -> None:
    if output.shape != background.shape:
        raise ValueError(f"output {output.shape} and background {background.shape} differ")
    if mask.shape != output.shape[:2]:
        raise ValueError(f"paste mask {mask.shape} does not match image {output.shape[:2]}")


def seam_visibility(output: np.ndarray, background: np.ndarray, paste_mask: np.ndarray) -> float:
    """Extra gradient along the paste boundary, relative to the background's local texture.

    ``output`` and ``background`` are uint8 images of the same shape (grey or BGR),
    ``paste_mask`` a bool ``(H, W)`` mask of the region that was blended in. Returns 0 for an
    empty mask or an invisible seam, larger when the boundary shows an edge the background
    did not have.
    """
    _check_pair(output, background, paste_mask)
    mask = paste_mask.astype(bool)
    if not mask.any():
        return 0.0
    band = boundary_band(mask)
    if not band.any():
        return 0.0
    g_out = gradient_magnitude(to_grey(output))
    g_bg = gradient_magnitude(to_grey(background))
    excess = np.maximum(g_out[band] - g_bg[band], 0.0)
    # The scale is the texture the eye compares the seam with: the background's typical
    # (median: sparse strong edges such as traces do not count) gradient around the paste,
    # never below the noise floor.
    around = surrounding_ring(mask, width=3 * RING_WIDTH, gap=0) | band
    scale = max(float(np.median(g_bg[around])), GRADIENT_FLOOR)
    return float(excess.mean() / scale)


def defect_contrast(image: np.ndarray, defect_mask: np.ndarray) -> float:
    """Mean grey level of the defect's core minus the median of its surroundings (signed).

    The surroundings are a ring just outside the mask; the core is the part of the mask
    that deviates from the ring's median, in the defect's polarity, by at least half of the
    mask's strong (95th percentile) deviation. Using the core makes the statistic insensitive to how generous
    the mask is (a tight instance mask, a dilated paste region, a box), so that real and
    synthetic instances compare like with like. Negative for dark defects, positive for
    bright ones; 0 for an empty mask.
    """
    mask = defect_mask.astype(bool)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"defect mask {mask.shape} does not match image {image.shape[:2]}")
    if not mask.any():
        return 0.0
    ring = surrounding_ring(mask)
    if not ring.any():
        return 0.0
    grey = to_grey(image)
    inside = grey[mask]
    level = float(np.median(grey[ring]))
    deviation = inside - level
    # The defect's polarity is the side with the stronger deviations; structures of the
    # other polarity caught by a generous mask (a bright trace beside a dark spot) are left out.
    dark, bright = np.percentile(-deviation, 95), np.percentile(deviation, 95)
    signed = -deviation if dark > bright else deviation
    strong = float(max(dark, bright))
    core = signed >= 0.5 * strong if strong > 0 else np.ones(signed.shape, bool)
    return float(inside[core].mean() - level)


def changed_pixels(
    output: np.ndarray, background: np.ndarray, paste_mask: np.ndarray
) -> np.ndarray:
    """Pixels of the paste that differ from the background by more than the tolerance."""
    _check_pair(output, background, paste_mask)
    diff = np.abs(to_grey(output) - to_grey(background))
    return (diff > CHANGE_TOLERANCE) & paste_mask.astype(bool)


def contrast_score(output: np.ndarray, background: np.ndarray, paste_mask: np.ndarray) -> float:
    """:func:`defect_contrast` of the pixels the paste changed (its defect, not its margin)."""
    changed = changed_pixels(output, background, paste_mask)
    if not changed.any():
        return 0.0
    return defect_contrast(output, changed)


def estimate_defect_mask(image: np.ndarray, xyxy: Sequence[float], *, k: float = 2.5) -> np.ndarray:
    """Pixels inside a box that stand out from the ring around it (for real boxes w/o masks).

    A pixel is a defect pixel when it differs from the ring's median by more than ``k``
    robust standard deviations (MAD) or ``CHANGE_TOLERANCE``; falls back to the whole box.
    """
    h, w = image.shape[:2]
    x0, y0, x1, y1 = _int_box(xyxy, w, h)
    box = np.zeros((h, w), bool)
    box[y0:y1, x0:x1] = True
    if not box.any():
        return box
    ring = surrounding_ring(box)
    if not ring.any():
        return box
    grey = to_grey(image)
    values = grey[ring]
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median))) * 1.4826
    threshold = max(k * mad, CHANGE_TOLERANCE)
    defect = box & (np.abs(grey - median) > threshold)
    return defect if defect.any() else box


def instance_contrast(
    image: np.ndarray, xyxy: Sequence[float], instance_mask: np.ndarray | None = None
) -> float:
    """Contrast of one real instance: its mask when given, else pixels estimated in its box."""
    if instance_mask is not None and instance_mask.any():
        return defect_contrast(image, instance_mask)
    return defect_contrast(image, estimate_defect_mask(image, xyxy))


def _moments(values: np.ndarray) -> dict:
    if values.size == 0:
        return {"n": 0, "mean": None, "std": None, "median": None}
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return {
        "n": int(values.size),
        "mean": float(values.mean()),
        "std": max(std, CONTRAST_STD_FLOOR),
        "median": float(np.median(values)),
    }


def class_contrast_stats(contrasts: Sequence[float]) -> dict:
    """Reference statistics of a class's real contrasts: ``n``, ``mean``, ``std``, ``median``,
    and the same for its ``dark`` (negative) and ``bright`` (non-negative) instances.

    ``std`` is floored at :data:`CONTRAST_STD_FLOOR` so that z-scores stay meaningful for
    classes whose few real instances look alike. The polarity groups matter for classes with
    both dark and bright instances (particles): their overall mean is near 0 and would make
    an invisible paste look typical.
    """
    values = np.asarray([c for c in contrasts if math.isfinite(c)], dtype=np.float64)
    stats = _moments(values)
    stats["dark"] = _moments(values[values < 0])
    stats["bright"] = _moments(values[values >= 0])
    return stats


def contrast_zscore(contrast: float, stats: dict | None) -> float | None:
    """How many (floored) standard deviations ``contrast`` lies from the real instances of
    its class with the same polarity (all of them when fewer than
    :data:`MIN_POLARITY_GROUP`, or under :data:`MIN_POLARITY_SHARE` of them, share it: a
    polarity the class rarely shows stands out)."""
    if not stats or not stats.get("n"):
        return None
    group = stats.get("bright" if contrast >= 0 else "dark")
    size = (group or {}).get("n") or 0
    if size >= MIN_POLARITY_GROUP and size >= MIN_POLARITY_SHARE * stats["n"]:
        stats = group
    return float((contrast - stats["mean"]) / stats["std"])


def combine_score(seam: float, contrast_z: float | None, contrast: float) -> float:
    """One number in [0, 1] from the parts: 1 is a seamless paste with a typical contrast."""
    seam_factor = math.exp(-max(seam, 0.0) / SEAM_SCALE)
    if contrast_z is not None:
        contrast_factor = math.exp(-0.5 * (contrast_z / CONTRAST_Z_SCALE) ** 2)
    else:
        # Without real references, only penalise a paste that is barely visible at all.
        contrast_factor = min(1.0, abs(contrast) / (2 * CHANGE_TOLERANCE))
    return float(seam_factor * contrast_factor)


def score_sample(
    output: np.ndarray,
    background: np.ndarray,
    paste_masks: list[np.ndarray],
    *,
    class_stats: Sequence[dict | None] | None = None,
) -> dict:
    """Scores of one synthetic image: per paste and overall.

    ``paste_masks`` holds one bool ``(H, W)`` mask per paste; ``class_stats`` optionally one
    :func:`class_contrast_stats` dict per paste (the stats of that paste's class). Returns
    ``{"score", "seam_visibility", "pastes": [{"seam_visibility", "contrast",
    "contrast_z", "score"}, ...]}``; the sample's ``score`` is its worst paste's score and its
    ``seam_visibility`` the worst paste's seam (a sample is as believable as its worst paste).
    """
    if class_stats is not None and len(class_stats) != len(paste_masks):
        raise ValueError(f"{len(class_stats)} class stats for {len(paste_masks)} pastes")
    pastes = []
    for index, mask in enumerate(paste_masks):
        seam = seam_visibility(output, background, mask)
        contrast = contrast_score(output, background, mask)
        stats = class_stats[index] if class_stats is not None else None
        z = contrast_zscore(contrast, stats)
        pastes.append(
            {
                "seam_visibility": round(seam, 4),
                "contrast": round(contrast, 3),
                "contrast_z": None if z is None else round(z, 3),
                "score": round(combine_score(seam, z, contrast), 4),
            }
        )
    if not pastes:
        return {"score": 0.0, "seam_visibility": 0.0, "pastes": []}
    return {
        "score": min(p["score"] for p in pastes),
        "seam_visibility": max(p["seam_visibility"] for p in pastes),
        "pastes": pastes,
    }


def _int_box(xyxy: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    return (
        max(0, min(width, math.floor(x0))),
        max(0, min(height, math.floor(y0))),
        max(0, min(width, math.ceil(x1))),
        max(0, min(height, math.ceil(y1))),
    )
