"""Training crops for the inpainter: square windows around the defects of the TRAIN split only.

Each labelled defect gives ``variants`` crops (jittered scale and position, drawn from the
seed) resized to the model's ``image_size``, with a defect mask. Mask sources, best first:

1. the dataset's instance mask (``masks/train/<stem>.png``);
2. ``|image - reference|`` inside the box when a paired clean reference exists (DeepPCB),
   thresholded and cleaned morphologically;
3. the box itself.

This is a minimal loader of its own: the synth defect bank (factory/synth/bank.py) was not
available when it was written; it follows the same mask priority.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np

from factory.dataset.core import Annotation, Dataset, ImageRecord
from factory.errors import FactoryError
from factory.seeding import rng_for

DIFF_THRESHOLD = 25  # grey levels: |image - reference| above this is a defect pixel
MIN_MASK_PIXELS = 4


@dataclass
class CropSet:
    """``images`` uint8 ``(N, S, S, C)``, ``masks`` bool ``(N, S, S)``, ``class_ids`` ``(N,)``."""

    images: np.ndarray
    masks: np.ndarray
    class_ids: np.ndarray
    sources: list[str] = field(default_factory=list)
    mask_methods: Counter = field(default_factory=Counter)
    # Same windows cut from the paired clean reference (None where there is none).
    references: list[np.ndarray | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.class_ids)


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """``(H, W, channels)`` uint8 from a grey ``(H, W)`` or BGR ``(H, W, 3)`` image."""
    if image.ndim == 2:
        return image[:, :, None] if channels == 1 else np.repeat(image[:, :, None], 3, axis=2)
    if channels == 3:
        return image
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[:, :, None]


def from_channels(image_hwc: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Back to the layout of ``like`` (grey ``(H, W)`` or BGR ``(H, W, 3)``)."""
    if like.ndim == 2:
        if image_hwc.shape[2] == 1:
            return image_hwc[:, :, 0]
        return cv2.cvtColor(image_hwc, cv2.COLOR_BGR2GRAY)
    if image_hwc.shape[2] == 3:
        return image_hwc
    return np.repeat(image_hwc, 3, axis=2)


def detect_channels(records: list[ImageRecord], sample: int = 8) -> int:
    """3 when any of the first ``sample`` images is colour, else 1."""
    for record in records[:sample]:
        if record.read().ndim == 3:
            return 3
    return 1


def defect_mask(
    image: np.ndarray,
    annotation: Annotation,
    instance_mask: np.ndarray | None,
    reference: np.ndarray | None,
) -> tuple[np.ndarray, str]:
    """A bool ``(H, W)`` mask of one defect and how it was obtained."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = annotation.xyxy_int()
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if instance_mask is not None and instance_mask.sum() >= MIN_MASK_PIXELS:
        return instance_mask, "instance"
    if reference is not None and reference.shape[:2] == (h, w):
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        ref = reference if reference.ndim == 2 else cv2.cvtColor(reference, cv2.COLOR_BGR2GRAY)
        diff = cv2.absdiff(grey, ref)
        mask = np.zeros((h, w), bool)
        mask[y0:y1, x0:x1] = diff[y0:y1, x0:x1] > DIFF_THRESHOLD
        kernel = np.ones((3, 3), np.uint8)
        mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, kernel) > 0
        if mask.sum() >= MIN_MASK_PIXELS:
            return mask, "reference-diff"
    mask = np.zeros((h, w), bool)
    mask[y0:y1, x0:x1] = True
    return mask, "box"


def crop_window_xyxy(
    box_xyxy: tuple[int, int, int, int],
    shape_hw: tuple[int, int],
    *,
    context_factor: float,
    min_crop: int,
    scale: float = 1.0,
    shift_xy: tuple[float, float] = (0.0, 0.0),
) -> tuple[int, int, int, int]:
    """A square window around a box, ``scale * context_factor`` times its longer side, inside
    the image (shifted, not clipped, so it stays square unless the image is smaller)."""
    h, w = shape_hw
    x0, y0, x1, y1 = box_xyxy
    side = max(min_crop, context_factor * max(x1 - x0, y1 - y0)) * scale
    side = round(min(side, h, w))
    cx = (x0 + x1) / 2 + shift_xy[0] * side
    cy = (y0 + y1) / 2 + shift_xy[1] * side
    left = round(min(max(cx - side / 2, 0), w - side))
    top = round(min(max(cy - side / 2, 0), h - side))
    return left, top, left + side, top + side


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    interpolation = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize that keeps thin defects: area-average, then any coverage."""
    coverage = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return coverage > 0.2


def load_crops(
    dataset: Dataset,
    *,
    image_size: int,
    channels: int,
    context_factor: float,
    min_crop: int,
    variants: int = 4,
    seed: int = 0,
    dilate_px: int = 1,
) -> CropSet:
    """Crops around every train defect (never val or test)."""
    records = [r for r in dataset.split("train") if r.annotations]
    if not records:
        raise FactoryError(f"{dataset.root}: the train split has no labelled defect to learn from")
    images, masks, class_ids, sources, references = [], [], [], [], []
    methods: Counter = Counter()
    kernel = np.ones((2 * dilate_px + 1,) * 2, np.uint8) if dilate_px else None
    for record in records:
        image = record.read()
        reference = record.read_reference()
        instance_masks = record.read_instance_masks()
        for index, annotation in enumerate(record.annotations):
            mask, method = defect_mask(image, annotation, instance_masks[index], reference)
            methods[method] += 1
            box = annotation.xyxy_int()
            for variant in range(variants):
                rng = rng_for(seed, "inpainter-crop", record.key, index, variant)
                scale = 1.0 if variant == 0 else float(rng.uniform(0.8, 1.3))
                shift = (0.0, 0.0) if variant == 0 else tuple(rng.uniform(-0.15, 0.15, 2))
                x0, y0, x1, y1 = crop_window_xyxy(
                    box,
                    image.shape[:2],
                    context_factor=context_factor,
                    min_crop=min_crop,
                    scale=scale,
                    shift_xy=shift,
                )
                crop_mask = resize_mask(mask[y0:y1, x0:x1], image_size)
                if kernel is not None:
                    crop_mask = cv2.dilate(crop_mask.astype(np.uint8), kernel) > 0
                if not crop_mask.any():
                    continue
                crop = resize_square(image[y0:y1, x0:x1], image_size)
                images.append(to_channels(crop, channels))
                masks.append(crop_mask)
                class_ids.append(annotation.class_id)
                sources.append(f"{record.key}#{index}")
                if reference is not None and reference.shape[:2] == image.shape[:2]:
                    ref_crop = resize_square(reference[y0:y1, x0:x1], image_size)
                    references.append(to_channels(ref_crop, channels))
                else:
                    references.append(None)
    return CropSet(
        images=np.stack(images),
        masks=np.stack(masks),
        class_ids=np.asarray(class_ids, np.int64),
        sources=sources,
        mask_methods=methods,
        references=references,
    )
