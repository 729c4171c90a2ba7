"""Render one planned sample: transform the patches, place them, blend, measure the boxes.

:func:`render_sample` is a pure function of the plan entry, the background pixels and the
patches: all randomness comes from the entry's seed, so the same entry gives the same bytes
in any process. Each paste is retried (new location) up to ``max_tries`` times when it finds
no free location or changes too few pixels; a paste that still fails is reported, not faked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from factory.seeding import derive_seed
from factory.synth.bank import Patch
from factory.synth.boxes import changed_pixels, mask_to_xyxy
from factory.synth.levels import snap_to_levels
from factory.synth.plan import PastePlan, SamplePlan
from factory.synth.topology import change_signature

# Poisson (OpenCV) ignores source gradients within a few pixels of the mask edge, so the
# blend mask reaches this far beyond the defect.
BLEND_MARGIN_PX = 6
# The defect mask is dilated by this much before looking for changed pixels.
BOX_DILATE_PX = 0
# Below this NCC score the best context match is recorded as weak (it is still used).
MIN_CONTEXT_SCORE = 0.3
# Locations scoring within this of the best one are equally good.
CONTEXT_SCORE_BAND = 0.1
# Contexts flatter than this (grey-level std) are matched by level, not by NCC.
FLAT_CONTEXT_STD = 4.0
FLAT_CONTEXT_SCALE = 64.0
# Contexts at least twice this size are matched at half resolution.
NCC_COARSE_MIN_PX = 12
# Near-binary layouts (PCB traces, die metal): a context and a background whose grey levels
# Otsu splits this cleanly (between-class share of the variance) are placed by the defect's
# footprint: the trace/substrate layout under the defect and in a thin ring around it must
# agree with the clean context's. Whole-context NCC alone put shorts beside one trace (2 of
# 60 DeepPCB shorts joined two traces); the footprint decides what the defect touches.
BINARY_CONTEXT_ETA = 0.75
BINARY_BACKGROUND_ETA = 0.7
FOOTPRINT_RING_PX = 3
# Locations whose footprint agreement is within this of the best one are equally good.
FOOTPRINT_BAND = 0.03
# A footprint this good is a fit (on DeepPCB, 33 of 37 shorts placed at >= 0.92 joined two
# traces, 9 of 23 below); below it the class's other allowed orientations are tried.
FOOTPRINT_FIT = 0.92
JITTER_TRANSFORMS = ("RandomBrightnessContrast", "GaussNoise", "GaussianBlur", "Affine")


@dataclass(frozen=True)
class RenderConfig:
    border_margin: int = 4
    overlap_tolerance: float = 0.02
    box_tolerance: int = 12
    min_changed_fraction: float = 0.15
    max_tries: int = 6
    region_mask: np.ndarray | None = None  # bool (H, W) of the allowed area, or None
    # False: the defect's box centre must be allowed (one --region-mask image, as before);
    # True: every defect pixel must be (per-background mask folders).
    region_holds_defect: bool = False
    # (low, high) grey levels of bi-level images: blended pixels are snapped back to them.
    tone_levels: tuple[int, int] | None = None
    # Classes defined by their layout (factory.synth.topology.class_signature): on
    # near-binary layouts, a paste of such a class must show its signature.
    layout_signatures: tuple[tuple[str, str], ...] = ()


@dataclass
class TransformedPatch:
    image: np.ndarray
    defect: np.ndarray  # bool
    blend_mask: np.ndarray  # bool: the defect plus the margin the blender needs
    context: np.ndarray | None  # grey


@dataclass
class RenderedSample:
    image: np.ndarray
    class_ids: list[int] = field(default_factory=list)
    boxes_xyxy: list[tuple[int, int, int, int]] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)  # bool (H, W) per accepted paste
    blend_masks: list[np.ndarray] = field(default_factory=list)
    pastes: list[dict] = field(default_factory=list)  # manifest details per accepted paste
    failures: list[tuple[str, str]] = field(default_factory=list)  # (class, reason)
    tries: int = 0


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def match_channels(image: np.ndarray, like: np.ndarray) -> np.ndarray:
    if image.ndim == like.ndim:
        return image
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if like.ndim == 3 else _grey(image)


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def geometric_transform(
    patch: Patch, paste: PastePlan, margin: int = BLEND_MARGIN_PX + 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Flip, turn, rotate and scale a patch (pure). Returns image, defect, context, valid.

    The canvas grows to hold the rotated crop plus ``margin``; pixels that were not in the
    crop are mirrored in (``valid`` is False there) so that blending sees texture, not black.
    """
    image, mask, context = patch.image, patch.mask.astype(np.uint8), patch.context
    layers = [image, mask, np.ones(mask.shape, np.uint8)] + (
        [context] if context is not None else []
    )
    if paste.flip_h:
        layers = [np.ascontiguousarray(layer[:, ::-1]) for layer in layers]
    if paste.flip_v:
        layers = [np.ascontiguousarray(layer[::-1]) for layer in layers]
    if paste.turns:
        layers = [np.ascontiguousarray(np.rot90(layer, paste.turns)) for layer in layers]
    h, w = layers[0].shape[:2]
    angle, scale = paste.angle_deg, paste.scale
    cos, sin = (
        abs(math.cos(math.radians(angle))) * scale,
        abs(math.sin(math.radians(angle))) * scale,
    )
    out_w = math.ceil(w * cos + h * sin) + 2 * margin
    out_h = math.ceil(w * sin + h * cos) + 2 * margin
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    matrix[0, 2] += out_w / 2 - w / 2
    matrix[1, 2] += out_h / 2 - h / 2
    size = (out_w, out_h)

    def warp(layer: np.ndarray, nearest: bool, border: int) -> np.ndarray:
        flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
        return cv2.warpAffine(layer, matrix, size, flags=flags, borderMode=border)

    reflect = cv2.BORDER_REFLECT_101
    out_image = warp(layers[0], False, reflect)
    out_mask = warp(layers[1], True, cv2.BORDER_CONSTANT) > 0
    valid = warp(layers[2], True, cv2.BORDER_CONSTANT) > 0
    out_context = warp(layers[3], False, reflect) if context is not None else None
    return out_image, out_mask, out_context, valid


def jitter(
    image: np.ndarray, defect: np.ndarray, context: np.ndarray | None, valid: np.ndarray, seed: int
):
    """Photometric and small geometric jitter through albumentations, seeded by ``seed``."""
    import albumentations as A

    reflect = cv2.BORDER_REFLECT_101
    compose = A.Compose(
        [
            A.RandomBrightnessContrast(brightness_limit=0.08, contrast_limit=0.12, p=0.7),
            A.GaussNoise(std_range=(0.005, 0.02), p=0.3),
            A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(0.3, 0.7), p=0.2),
            A.Affine(scale=(0.95, 1.05), rotate=(-3, 3), shear=(-3, 3), border_mode=reflect, p=0.5),
        ],
        additional_targets={"context": "image", "valid": "mask"},
        seed=seed,
    )
    data = {
        "image": image,
        "mask": defect.astype(np.uint8),
        "valid": valid.astype(np.uint8),
        "context": context if context is not None else image,
    }
    result = compose(**data)
    return (
        result["image"],
        result["mask"] > 0,
        result["context"] if context is not None else None,
        result["valid"] > 0,
    )


def transform_patch(
    patch: Patch, paste: PastePlan, like: np.ndarray, *, with_jitter: bool = True
) -> TransformedPatch:
    """The patch as it will be pasted: geometry, jitter, channels like ``like``, blend mask.
    ``with_jitter=False`` gives a quick preview (the jitter is small) for trying orientations."""
    image = match_channels(patch.image, like)
    source = Patch(patch.info, image, patch.mask, patch.context)
    image, defect, context, valid = geometric_transform(source, paste)
    if paste.jitter_seed is not None and with_jitter:
        image, defect, context, valid = jitter(image, defect, context, valid, paste.jitter_seed)
    valid = cv2.erode(valid.astype(np.uint8), _disc(1)) > 0
    defect &= valid
    blend_mask = (cv2.dilate(defect.astype(np.uint8), _disc(BLEND_MARGIN_PX)) > 0) & valid
    return TransformedPatch(
        image=image,
        defect=defect,
        blend_mask=blend_mask,
        context=None if context is None else _grey(context),
    )


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    box = mask_to_xyxy(mask)
    return box if box is not None else (0, 0, 0, 0)


def candidate_grid(
    image_hw: tuple[int, int],
    patch: TransformedPatch,
    occupied_integral: np.ndarray,
    config: RenderConfig,
) -> tuple[int, int, np.ndarray]:
    """Top-left positions where the defect lies inside the allowed area and the blend mask
    overlaps earlier pastes by at most the tolerance: ``(x_min, y_min, valid[y, x])``."""
    height, width = image_hw
    m = config.border_margin
    dx0, dy0, dx1, dy1 = _bbox(patch.defect)
    x_lo, x_hi = m - dx0, width - m - dx1
    y_lo, y_hi = m - dy0, height - m - dy1
    if x_hi < x_lo or y_hi < y_lo:
        return 0, 0, np.zeros((0, 0), bool)
    xs = np.arange(x_lo, x_hi + 1)
    ys = np.arange(y_lo, y_hi + 1)
    valid = np.ones((ys.size, xs.size), bool)
    if occupied_integral[-1, -1] > 0:  # something was pasted already: keep clear of it
        valid = _free_of_overlap(xs, ys, patch, occupied_integral, config, image_hw)
    if config.region_mask is not None and config.region_holds_defect:
        valid &= defect_inside(config.region_mask, patch.defect, m)
    elif config.region_mask is not None:
        cx = np.clip(xs + (dx0 + dx1) // 2, 0, width - 1)
        cy = np.clip(ys + (dy0 + dy1) // 2, 0, height - 1)
        valid &= config.region_mask[np.ix_(cy, cx)]
    return int(x_lo), int(y_lo), valid


def defect_inside(allowed: np.ndarray, defect: np.ndarray, margin: int) -> np.ndarray:
    """Per top-left position of :func:`candidate_grid` (defect box kept ``margin`` px from
    the edges): whether every defect pixel lands on an ``allowed`` pixel. Pure."""
    dx0, dy0, dx1, dy1 = _bbox(defect)
    height, width = allowed.shape
    window = ~allowed[margin : height - margin, margin : width - margin]
    shape = (window.shape[0] - (dy1 - dy0) + 1, window.shape[1] - (dx1 - dx0) + 1)
    if dx1 <= dx0 or not window.any():
        return np.ones(shape, bool)
    core = defect[dy0:dy1, dx0:dx1].astype(np.float32)
    # Count of defect pixels on forbidden ones; integers, so 0.5 absorbs the DFT's rounding.
    hits = cv2.matchTemplate(window.astype(np.float32), core, cv2.TM_CCORR)
    return hits < 0.5


def _free_of_overlap(xs, ys, patch, occupied_integral, config, image_hw) -> np.ndarray:
    height, width = image_hw
    bx0, by0, bx1, by1 = _bbox(patch.blend_mask)
    X0 = np.clip(xs + bx0, 0, width)[None, :]
    X1 = np.clip(xs + bx1, 0, width)[None, :]
    Y0 = np.clip(ys + by0, 0, height)[:, None]
    Y1 = np.clip(ys + by1, 0, height)[:, None]
    ii = occupied_integral
    overlap = ii[Y1, X1] - ii[Y0, X1] - ii[Y1, X0] + ii[Y0, X0]
    area = max(1, (bx1 - bx0) * (by1 - by0))
    return overlap <= config.overlap_tolerance * area


def context_scores(background_grey: np.ndarray, context: np.ndarray) -> np.ndarray | None:
    """NCC of the patch's clean context at every top-left position, the background mirrored
    out by the patch size so positions reaching past the edge are scored too. ``[y + ph,
    x + pw]`` holds the score of top-left ``(x, y)``. None when the patch is too large."""
    ph, pw = context.shape
    bh, bw = background_grey.shape
    if ph >= bh or pw >= bw:
        return None
    padded = cv2.copyMakeBorder(background_grey, ph, ph, pw, pw, cv2.BORDER_REFLECT_101)
    if float(context.std()) >= FLAT_CONTEXT_STD:
        if min(ph, pw) < 2 * NCC_COARSE_MIN_PX:
            return cv2.matchTemplate(padded, context, cv2.TM_CCOEFF_NORMED)
        # Large contexts are matched at half resolution (4x fewer products, same peaks) and
        # the scores interpolated back to every full-resolution position.
        half = cv2.resize(padded, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        small = cv2.resize(context, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        coarse = cv2.matchTemplate(half, small, cv2.TM_CCOEFF_NORMED)
        size = (padded.shape[1] - pw + 1, padded.shape[0] - ph + 1)
        return cv2.resize(coarse, size, interpolation=cv2.INTER_LINEAR)
    # A flat context (a pin-hole inside copper) has no NCC: score how flat the location is
    # and how close its level is to the context's, on the same scale (1 = identical).
    image = padded.astype(np.float32)
    mean = cv2.boxFilter(image, -1, (pw, ph), anchor=(0, 0), normalize=True)
    square = cv2.boxFilter(image * image, -1, (pw, ph), anchor=(0, 0), normalize=True)
    std = np.sqrt(np.maximum(square - mean * mean, 0))
    score = 1 - (np.abs(mean - float(context.mean())) + std) / FLAT_CONTEXT_SCALE
    return score[: bh + ph + 1, : bw + pw + 1]


def otsu_split(grey: np.ndarray) -> tuple[float, float]:
    """A level splitting a grey image into dark and bright, and how cleanly it does: the
    between-class share of the variance (1 for a binary image, 0 for a flat one).

    The level is the midpoint of Otsu's two class means, not Otsu's own threshold: on a
    near-binary image every threshold between the modes is optimal and OpenCV returns the
    lowest one (7 on a DeepPCB template), where JPEG ringing on black already counts as bright.
    """
    values = grey.astype(np.float32)
    variance = float(values.var())
    if variance < 1.0:
        return 0.0, 0.0
    level, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = values > level
    share = float(bright.mean())
    if share in (0.0, 1.0):
        return float(level), 0.0
    high, low = float(values[bright].mean()), float(values[~bright].mean())
    return (high + low) / 2, share * (1 - share) * (high - low) ** 2 / variance


def footprint_key(defect: np.ndarray, ring_px: int = FOOTPRINT_RING_PX) -> np.ndarray:
    """The pixels whose layout decides what a defect touches: itself plus a thin ring."""
    return cv2.dilate(defect.astype(np.uint8), _disc(ring_px)) > 0


def footprint_scores(
    background_bright: np.ndarray, context_bright: np.ndarray, key: np.ndarray
) -> np.ndarray:
    """How well the background's bright/dark layout (bool) matches the clean context's on
    the ``key`` pixels, at every top-left position of the background mirrored out by the
    context size (the layout of :func:`context_scores`). Pure.

    Class-balanced: the mean of the agreement on the key's bright pixels and on its dark
    pixels, so that the few pixels where a short meets its two traces count as much as the
    many substrate pixels beside it (a short touching one trace scores about 0.75, not 0.95).
    """
    ph, pw = context_bright.shape
    padded = cv2.copyMakeBorder(
        background_bright.astype(np.uint8), ph, ph, pw, pw, cv2.BORDER_REFLECT_101
    ).astype(np.float32)
    weight = key.astype(np.float32)
    bright = weight * context_bright.astype(np.float32)
    dark = weight - bright
    n_bright, n_dark = float(bright.sum()), float(dark.sum())
    if n_bright == 0 and n_dark == 0:
        return np.zeros((padded.shape[0] - ph + 1, padded.shape[1] - pw + 1), np.float32)
    # mean(share of bright key pixels bright there, share of dark key pixels dark there) in
    # one correlation: (corr(bg, bright / nb - dark / nd) + 1) / 2, or one part alone.
    if n_bright and n_dark:
        template = bright / n_bright - dark / n_dark
        return (cv2.matchTemplate(padded, template, cv2.TM_CCORR) + 1) / 2
    if n_bright:
        return cv2.matchTemplate(padded, bright / n_bright, cv2.TM_CCORR)
    return 1 - cv2.matchTemplate(padded, dark / n_dark, cv2.TM_CCORR)


@dataclass
class PlacementMaps:
    """Score maps of one transformed patch on one background (computed once per paste)."""

    ncc: np.ndarray | None  # context_scores layout, or None
    footprint: np.ndarray | None  # footprint_scores layout, or None (not a binary layout)


def placement_maps(
    background_grey: np.ndarray,
    patch: TransformedPatch,
    background_split: tuple[float, float] | None = None,
    *,
    with_ncc: bool = True,
) -> PlacementMaps:
    """NCC of the clean context and, on near-binary layouts, the footprint agreement."""
    if patch.context is None:
        return PlacementMaps(None, None)
    ph, pw = patch.context.shape
    if ph >= background_grey.shape[0] or pw >= background_grey.shape[1]:
        return PlacementMaps(None, None)
    ncc = context_scores(background_grey, patch.context) if with_ncc else None
    level, eta = background_split or otsu_split(background_grey)
    context_level, context_eta = otsu_split(patch.context)
    footprint = None
    if eta >= BINARY_BACKGROUND_ETA and context_eta >= BINARY_CONTEXT_ETA and patch.defect.any():
        footprint = footprint_scores(
            background_grey > level, patch.context > context_level, footprint_key(patch.defect)
        )
    return PlacementMaps(ncc, footprint)


def _score_grids(background_grey, patch, valid, x_lo, y_lo, maps):
    """The NCC and footprint maps cut to the candidate grid (invalid positions -inf)."""
    ph, pw = patch.context.shape
    shape = (maps.ncc if maps.ncc is not None else maps.footprint).shape
    rows = np.clip(np.arange(valid.shape[0]) + y_lo + ph, 0, shape[0] - 1)
    cols = np.clip(np.arange(valid.shape[1]) + x_lo + pw, 0, shape[1] - 1)
    ncc = None if maps.ncc is None else np.where(valid, maps.ncc[np.ix_(rows, cols)], -np.inf)
    footprint = None
    if maps.footprint is not None:
        footprint = np.where(valid, maps.footprint[np.ix_(rows, cols)], -np.inf)
    return ncc, footprint


def best_footprint(
    background_grey: np.ndarray,
    patch: TransformedPatch,
    occupied_integral: np.ndarray,
    config: RenderConfig,
    maps: PlacementMaps,
) -> float | None:
    """The best footprint agreement among the free locations (None: not measured/no room)."""
    if maps.footprint is None:
        return None
    x_lo, y_lo, valid = candidate_grid(background_grey.shape, patch, occupied_integral, config)
    if not valid.any():
        return None
    _, footprint = _score_grids(background_grey, patch, valid, x_lo, y_lo, maps)
    return float(footprint.max())


def choose_location(
    background_grey: np.ndarray,
    patch: TransformedPatch,
    occupied_integral: np.ndarray,
    placement: str,
    rng: np.random.Generator,
    config: RenderConfig,
    maps: PlacementMaps | None = None,
) -> tuple[tuple[int, int] | None, str, float | None, float | None]:
    """Top-left ``(x, y)`` for the patch, the placement actually used, its NCC score and its
    footprint agreement (None when not measured)."""
    x_lo, y_lo, valid = candidate_grid(background_grey.shape, patch, occupied_integral, config)
    if not valid.any():
        return None, placement, None, None
    if placement == "context" and patch.context is not None:
        if maps is None:
            maps = placement_maps(background_grey, patch)
        if maps.ncc is not None:
            grid, footprint = _score_grids(background_grey, patch, valid, x_lo, y_lo, maps)
            if footprint is not None:
                # The footprint first (what the defect touches), then the NCC of the whole
                # context among the locations whose footprint is as good as the best.
                best_footprint = float(footprint.max())
                grid = np.where(footprint >= best_footprint - FOOTPRINT_BAND, grid, -np.inf)
            best = float(grid.max())
            if np.isfinite(best):
                # Even a weak best match beats a random spot: a pin-hole cut from copper
                # placed at random lands on bare board, invisible, and becomes a false label.
                good = np.flatnonzero(grid.ravel() >= best - CONTEXT_SCORE_BAND)
                pick = int(good[rng.integers(len(good))])
                y, x = divmod(pick, valid.shape[1])
                used = "context" if best >= MIN_CONTEXT_SCORE else "context-weak"
                agreement = None if footprint is None else round(float(footprint.ravel()[pick]), 4)
                score = round(float(grid.ravel()[pick]), 4)
                return (x + x_lo, y + y_lo), used, score, agreement
        placement_used = "random-fallback"
    else:
        placement_used = "random"
    flat = np.flatnonzero(valid.ravel())
    pick = int(flat[rng.integers(len(flat))])
    y, x = divmod(pick, valid.shape[1])
    return (x + x_lo, y + y_lo), placement_used, None, None


def orient_for_layout(
    background_grey: np.ndarray,
    patch: Patch,
    paste: PastePlan,
    like: np.ndarray,
    occupied: np.ndarray,
    config: RenderConfig,
    background_split: tuple[float, float],
) -> tuple[PastePlan, TransformedPatch, PlacementMaps]:
    """The planned orientation, or on a near-binary layout where it finds no spot whose
    footprint fits (:data:`FOOTPRINT_FIT`), the first of the class's other allowed
    orientations that does (else the best seen). Pure and deterministic."""
    transformed = transform_patch(patch, paste, like)
    maps = placement_maps(background_grey, transformed, background_split)
    if maps.footprint is None or not paste.alternatives:
        return paste, transformed, maps
    integral = cv2.integral(occupied)
    best = best_footprint(background_grey, transformed, integral, config, maps)
    chosen_score, chosen = (best if best is not None else -1.0), None
    for other in _layout_alternatives(paste):
        if chosen_score >= FOOTPRINT_FIT:
            break
        # Judged on an unjittered preview (cheap); only the one kept is fully transformed.
        preview = transform_patch(patch, other, like, with_jitter=False)
        preview_maps = placement_maps(background_grey, preview, background_split, with_ncc=False)
        score = best_footprint(background_grey, preview, integral, config, preview_maps)
        if score is not None and score > chosen_score:
            chosen_score, chosen = score, other
    if chosen is None:
        return paste, transformed, maps
    transformed = transform_patch(patch, chosen, like)
    return chosen, transformed, placement_maps(background_grey, transformed, background_split)


def _layout_alternatives(paste: PastePlan):
    """The class's other allowed orientations, at the planned scale. (Also trying the
    defect's real size raised DeepPCB shorts joining two traces only from 70 % to 73 % for
    about 1.5x the render time on the demo, and narrowed the size spread: not kept.)"""
    for flip_h, flip_v, turns in paste.alternatives:
        yield replace(paste, flip_h=flip_h, flip_v=flip_v, turns=turns)


def pad_box(box_xyxy, margin_xy, image_hw) -> tuple[int, int, int, int]:
    """The changed-pixel box grown by the label margin (rounded), clipped to the image."""
    height, width = image_hw
    mx, my = (round(v) for v in margin_xy)
    x0, y0, x1, y1 = box_xyxy
    return (max(0, x0 - mx), max(0, y0 - my), min(width, x1 + mx), min(height, y1 + my))


def place_mask(mask: np.ndarray, image_hw: tuple[int, int], top_left_xy) -> np.ndarray:
    """A patch-sized bool mask placed at ``top_left_xy`` on a full-size canvas (clipped)."""
    height, width = image_hw
    x, y = top_left_xy
    h, w = mask.shape
    canvas = np.zeros((height, width), bool)
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = mask[y0 - y : y1 - y, x0 - x : x1 - x]
    return canvas


def render_sample(
    plan: SamplePlan,
    background: np.ndarray,
    patches: dict[str, Patch],
    blenders: dict,
    config: RenderConfig,
    mask_library=None,
    keep_clear_xyxy: tuple[tuple[int, int, int, int], ...] = (),
) -> RenderedSample:
    """Paste every planned defect of ``plan`` onto ``background`` (pure, see module doc).

    ``mask_library``: the :class:`factory.synth.shapes.MaskLibrary` of drawn library masks.
    ``keep_clear_xyxy``: boxes already on the background (its real defects, with
    ``--backgrounds labelled``) that pastes must not cover, like earlier pastes.
    """
    hw = background.shape[:2]
    out = background.copy()
    grey = _grey(background)
    occupied = np.zeros(hw, np.uint8)
    for x0, y0, x1, y1 in keep_clear_xyxy:
        occupied[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = 1
    if keep_clear_xyxy:
        occupied = cv2.dilate(occupied, _disc(2))
    background_split = otsu_split(grey)
    result = RenderedSample(image=out)
    for j, paste in enumerate(plan.pastes):
        patch = patches[paste.patch_id]
        maps = None
        if paste.mask is not None:
            from factory.synth.shapes import drawn_patch

            # A drawn shape has no clean context to match: it is placed at random. Its size
            # was drawn in the plan (mask_size_px), so the patch scale does not apply.
            transformed = drawn_patch(patch, paste, mask_library, background)
            paste = replace(paste, scale=1.0)
        elif paste.placement == "context":
            paste, transformed, maps = orient_for_layout(
                grey, patch, paste, background, occupied, config, background_split
            )
        else:
            transformed = transform_patch(patch, paste, background)
        blender = blenders[paste.blend]
        defect_area = int(transformed.defect.sum())
        required = None
        if paste.mask is None and background_split[1] >= BINARY_BACKGROUND_ETA:
            # On a near-binary layout a paste of a class defined by its layout must do to it
            # what the real ones do (an open must still cut a trace, not bite its edge like a
            # mouse bite), else its label is wrong. (Drawn masks are new shapes: not checked.)
            required = dict(config.layout_signatures).get(paste.class_name)
        reason = "no free location (region full or patch too large)"
        # Where this paste may go: free of other defects and, after a try that showed another
        # class's layout, away from that spot (the best footprints cluster, and the next try
        # would land beside it and show the same).
        allowed_for_paste = occupied
        for attempt in range(config.max_tries):
            result.tries += 1
            rng = np.random.default_rng(derive_seed(plan.seed, "place", j, attempt))
            integral = cv2.integral(allowed_for_paste)
            top_left, placement, score, agreement = choose_location(
                grey, transformed, integral, paste.placement, rng, config, maps
            )
            if top_left is None:
                reason = "no free location (region full or patch too large)"
                break
            candidate = blender.blend(
                out,
                transformed.image,
                transformed.blend_mask,
                top_left,
                seed=derive_seed(plan.seed, "blend", j, attempt),
                class_name=paste.class_name,
                core=transformed.defect,
            )
            placed_blend = place_mask(transformed.blend_mask, hw, top_left)
            if config.tone_levels is not None:
                # Blending only writes inside its mask; snap exactly those pixels.
                candidate = snap_to_levels(candidate, placed_blend, config.tone_levels)
            # Boxes come from the pixels that changed on the defect (its mask, dilated by
            # BOX_DILATE_PX); Poisson's faint spill further out is not the defect.
            placed_core = place_mask(transformed.defect, hw, top_left)
            region = (
                cv2.dilate(placed_core.astype(np.uint8), _disc(BOX_DILATE_PX)) > 0
                if BOX_DILATE_PX
                else placed_core
            )
            changed = changed_pixels(candidate, out, region, config.box_tolerance)
            visible_defect = int(placed_core.sum())
            needed = max(4, int(config.min_changed_fraction * max(defect_area, visible_defect)))
            if int(changed.sum()) < needed:
                reason = (
                    f"changed too few pixels (< {config.min_changed_fraction:.0%} of the defect "
                    f"by more than {config.box_tolerance} grey levels)"
                )
                continue
            shown = None
            if required is not None:
                shown = change_signature(out, candidate, changed)
                if shown != required:
                    allowed_for_paste = allowed_for_paste | placed_core.astype(np.uint8)
                    reason = (
                        f"showed another layout than the class's real instances ({shown}, "
                        f"not {required}) in every try"
                    )
                    continue
            changed_box = mask_to_xyxy(changed)
            box = pad_box(changed_box, paste.box_margin_xy, hw)
            out = candidate
            occupied |= cv2.dilate(placed_blend.astype(np.uint8), _disc(2))
            result.class_ids.append(paste.class_id)
            result.boxes_xyxy.append(box)
            result.masks.append(changed)
            result.blend_masks.append(placed_blend)
            result.pastes.append(
                {
                    "index": j,
                    "top_left_xy": [int(top_left[0]), int(top_left[1])],
                    "placement": placement,
                    "context_score": score,
                    "footprint_score": agreement,
                    "orientation": [paste.flip_h, paste.flip_v, paste.turns],
                    "scale": paste.scale,
                    "box_margin_xy": list(paste.box_margin_xy),
                    "attempt": attempt + 1,
                    "changed_pixels": int(changed.sum()),
                    "changed_xyxy": list(changed_box),
                    "xyxy": list(box),
                    **({"layout_signature": shown} if shown is not None else {}),
                    **(
                        {"snapped_to_levels": list(config.tone_levels)}
                        if config.tone_levels is not None
                        else {}
                    ),
                }
            )
            break
        else:
            result.failures.append((paste.class_name, reason))
            continue
        if top_left is None:
            result.failures.append((paste.class_name, reason))
    result.image = out
    return result
