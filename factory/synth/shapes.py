"""Drawn masks for diffusion pastes: ``--diffusion-mask library|procedural``.

A diffusion paste normally inpaints inside the planned real patch's mask (transformed). With
drawn masks its shape comes instead from the mask library (a folder of binary PNGs, the
repository's ``masks/`` by default) or from the procedural generator of
:mod:`factory.inpainter.masks` (strokes for scratch-like classes, blobs otherwise). The plan
picks the shape and its size (:class:`factory.synth.plan.MaskPlan`); the functions here turn
that into pixels, purely.

Library masks are matched to classes by file name, most specific first: ``<class>_*.png``
(or ``<class>.png``), then the kind of the class (``stroke_*`` for scratch-like class names,
``blob_*`` for the others, see :func:`factory.inpainter.masks.mask_kind_for_class`), else
every mask of the library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from factory.errors import FactoryError
from factory.synth.bank import Patch
from factory.synth.plan import MaskPlan, PastePlan

# Procedural masks are drawn on a canvas of this side, then cut to their box and resized.
PROCEDURAL_CANVAS = 64
# Drawn shapes at least this elongated are turned to the replaced real patch's long axis.
ALIGN_MIN_ELONGATION = 1.5


@dataclass(frozen=True)
class MaskLibrary:
    folder: Path
    masks: dict[str, np.ndarray]  # name (file stem) -> bool mask, cut to its box


def load_library(folder: Path | str) -> MaskLibrary:
    """Read a mask library folder (clear errors for a missing, empty or ambiguous one)."""
    from factory.inpainter.masks import load_mask_library

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FactoryError(f"{folder}: mask library is not a folder")
    masks: dict[str, np.ndarray] = {}
    for name, mask in load_mask_library(folder):
        if name in masks:
            raise FactoryError(f"{folder}: two masks are named {name!r} (one file per name)")
        masks[name] = crop_to_box(mask)
    return MaskLibrary(folder, masks)


def library_shapes_for(class_name: str, names: list[str]) -> list[str]:
    """The library masks a class may use (see the module doc), sorted."""
    from factory.inpainter.masks import mask_kind_for_class

    names = sorted(names)
    own = [n for n in names if n.lower() == class_name.lower()]
    own += [n for n in names if n.lower().startswith(class_name.lower() + "_")]
    if own:
        return own
    kind = mask_kind_for_class(class_name)
    of_kind = [n for n in names if n.lower().startswith(kind)]
    return of_kind or names


def crop_to_box(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.ascontiguousarray(mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


def resize_to_size(mask: np.ndarray, size_px: float) -> np.ndarray:
    """Resize a box-cut bool mask so that sqrt(box area) is ``size_px`` (aspect kept; pure).

    Pixels are kept where their coverage is at least half the largest coverage (at most
    0.5), so a thin stroke shrunk below a pixel's width stays a connected line.
    """
    h, w = mask.shape
    factor = size_px / math.sqrt(h * w)
    out_w, out_h = max(1, round(w * factor)), max(1, round(h * factor))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    coverage = cv2.resize(mask.astype(np.float32), (out_w, out_h), interpolation=interpolation)
    out = coverage >= min(0.5, 0.5 * float(coverage.max()))
    if not out.any():
        out[np.unravel_index(int(np.argmax(coverage)), coverage.shape)] = True
    return out


def draw_mask(plan: MaskPlan, library: MaskLibrary | None) -> np.ndarray:
    """The drawn mask of a paste at its planned size, before orientation (bool, box-cut)."""
    if plan.source == "library":
        if library is None or plan.shape not in library.masks:
            raise FactoryError(f"mask library has no mask named {plan.shape!r}")
        base = library.masks[plan.shape]
    elif plan.source == "procedural":
        from factory.inpainter.masks import procedural_mask

        rng = np.random.default_rng(plan.seed)
        base = crop_to_box(procedural_mask(plan.shape, (PROCEDURAL_CANVAS, PROCEDURAL_CANVAS), rng))
    else:
        raise FactoryError(f"unknown mask source {plan.source!r}")
    if plan.align_deg is not None:
        base = align_mask(base, plan.align_deg)
    return resize_to_size(base, plan.size_px)


def align_mask(mask: np.ndarray, target_deg: float) -> np.ndarray:
    """Turn an elongated box-cut mask so that its long axis lies at ``target_deg`` (the
    convention of :func:`factory.synth.bank.orientation`); a roundish one is returned as is."""
    from factory.synth.bank import orientation

    angle, elongation = orientation(mask)
    if angle is None or elongation < ALIGN_MIN_ELONGATION:
        return mask
    h, w = mask.shape
    side = math.ceil(math.hypot(h, w)) + 2
    top, left = (side - h) // 2, (side - w) // 2
    canvas = np.zeros((side, side), np.float32)
    canvas[top : top + h, left : left + w] = mask
    # orientation() measures angles with y down; OpenCV's positive angle turns the other way.
    matrix = cv2.getRotationMatrix2D((side / 2, side / 2), angle - target_deg, 1.0)
    turned = cv2.warpAffine(canvas, matrix, (side, side), flags=cv2.INTER_LINEAR) >= 0.3
    return crop_to_box(turned) if turned.any() else mask


def drawn_patch(patch: Patch, paste: PastePlan, library: MaskLibrary | None, like: np.ndarray):
    """The paste as :func:`factory.synth.render.transform_patch` would give it, with the drawn
    mask as its defect: flipped, turned and rotated like a real patch of the class (at scale
    1: the size was drawn already), no jitter, no clean context (it is placed at random)."""
    from factory.synth.render import BLEND_MARGIN_PX, transform_patch

    mask = draw_mask(paste.mask, library)
    pad = BLEND_MARGIN_PX + 2  # so the blend margin around the shape is valid canvas
    mask = np.pad(mask, pad)
    channels = like.shape[2:]  # the diffusion blender does not use the patch's pixels
    image = np.zeros(mask.shape + channels, np.uint8)
    source = Patch(patch.info, image, mask, None)
    return transform_patch(source, replace(paste, scale=1.0, jitter_seed=None), like)
