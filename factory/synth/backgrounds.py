"""Clean backgrounds: images without defects to paste onto.

Sources, in this order, all from the train side only: the dataset's ``clean/`` pool, the
paired clean references of train images (DeepPCB templates), and train images with no
labels. When a dataset has none of these (NEU-DET), backgrounds are made by inpainting every
labelled defect away from train images whose defects cover a small enough part of the image;
the summary says so. ``labelled`` mode instead pastes onto the real train images themselves,
keeping their labels (copy-paste augmentation): every synthetic image then still carries the
real defects of its background, so a synthetic view is not a real view lost. Every
background passes the :class:`TestGuard`: a test image or a near duplicate of one (for
example the template of a test image) is skipped and counted.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from factory.dataset.core import Dataset
from factory.errors import FactoryError
from factory.io import read_image, sha256_file, write_image

# Train images whose defects (dilated) cover more than this are not inpainted: too little
# real background would be left and the result would be mostly invented.
MAX_INPAINT_FRACTION = 0.35
INPAINT_DILATE_PX = 4
# Texture fill: ring of real pixels matched around each hole, and how far past the hole the
# Poisson blend reaches (OpenCV ignores source gradients a few pixels from the mask edge).
FILL_TILE_PX = 24
FILL_MARGIN_PX = 8
FILL_BLEND_PX = 6


@dataclass(frozen=True)
class BackgroundInfo:
    background_id: str
    kind: str  # "clean" | "reference" | "unlabelled-train" | "inpainted"
    source: str  # relative to the dataset root
    path: Path  # where the pixels are read from (the source file or a cached inpainted PNG)
    width: int
    height: int
    # ``labelled`` mode: the background's own real labels, kept in the output as they are and
    # kept clear of pastes, as (class_id, x0, y0, x1, y1) in pixels (floats, as labelled).
    kept_labels: tuple[tuple[int, float, float, float, float], ...] = ()


@dataclass
class BackgroundPool:
    backgrounds: list[BackgroundInfo]
    skipped: dict[str, int]
    inpainted: bool

    def by_id(self) -> dict[str, BackgroundInfo]:
        return {b.background_id: b for b in self.backgrounds}


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def defect_region(shape: tuple[int, int], boxes_xyxy, masks, dilate_px: int) -> np.ndarray:
    """Union of the defects (instance masks where given, else boxes), dilated (bool)."""
    region = np.zeros(shape, np.uint8)
    for box, mask in zip(boxes_xyxy, masks, strict=True):
        if mask is not None and mask.any():
            region |= mask.astype(np.uint8)
        else:
            x0, y0, x1, y1 = box
            region[y0:y1, x0:x1] = 1
    if dilate_px > 0:
        size = 2 * dilate_px + 1
        region = cv2.dilate(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    return region > 0


def remove_defects(image: np.ndarray, region: np.ndarray, radius: int = 7) -> np.ndarray:
    """``image`` with ``region`` (bool) replaced by defect-free texture, pure.

    The region is filled tile by tile (``FILL_TILE_PX``, raster order): each tile takes the
    window of the same image (mirrored at the edges) whose ring of known pixels best matches
    the ring around the tile (masked sum of squared differences; windows touching the
    defects are excluded), blended in by Poisson so the levels meet. Tiles filled earlier
    count as known for later ones. Telea inpainting is the start and the fallback where no
    window fits; it is smooth, so on texture it shows, which is why it is only the fallback.
    """
    m = FILL_MARGIN_PX + FILL_TILE_PX
    base = cv2.inpaint(image, region.astype(np.uint8) * 255, radius, cv2.INPAINT_TELEA)
    out = cv2.copyMakeBorder(base, m, m, m, m, cv2.BORDER_REFLECT_101)
    original = cv2.copyMakeBorder(image, m, m, m, m, cv2.BORDER_REFLECT_101)
    defects = cv2.copyMakeBorder(region.astype(np.uint8), m, m, m, m, cv2.BORDER_REFLECT_101) > 0
    forbidden = cv2.integral(defects.astype(np.uint8))
    unknown = defects.copy()
    ys, xs = np.nonzero(region)
    if ys.size == 0:
        return image.copy()
    t, g = FILL_TILE_PX, FILL_MARGIN_PX
    for ty in range(ys.min() + m, ys.max() + m + 1, t):
        for tx in range(xs.min() + m, xs.max() + m + 1, t):
            hole = np.zeros(defects.shape, bool)
            hole[ty : ty + t, tx : tx + t] = unknown[ty : ty + t, tx : tx + t]
            if not hole.any():
                continue
            y0, x0, size_h, size_w = ty - g, tx - g, t + 2 * g, t + 2 * g
            ring = ~unknown[y0 : y0 + size_h, x0 : x0 + size_w]
            if ring.sum() < 16:
                continue
            grey = out if out.ndim == 2 else cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
            source = original if original.ndim == 2 else cv2.cvtColor(original, cv2.COLOR_BGR2GRAY)
            template = grey[y0 : y0 + size_h, x0 : x0 + size_w].astype(np.float32)
            ssd = cv2.matchTemplate(
                source.astype(np.float32), template, cv2.TM_SQDIFF, mask=ring.astype(np.float32)
            )
            sy, sx = np.mgrid[0 : ssd.shape[0], 0 : ssd.shape[1]]
            touched = (
                forbidden[sy + size_h, sx + size_w]
                - forbidden[sy, sx + size_w]
                - forbidden[sy + size_h, sx]
                + forbidden[sy, sx]
            )
            ssd = np.where((touched == 0) & np.isfinite(ssd), ssd, np.inf)
            if not np.isfinite(ssd).any():
                continue
            by, bx = np.unravel_index(int(np.argmin(ssd)), ssd.shape)
            window = original[by : by + size_h, bx : bx + size_w]
            local = hole[y0 : y0 + size_h, x0 : x0 + size_w].astype(np.uint8)
            mask = cv2.dilate(local, _disc(FILL_BLEND_PX)) > 0
            mask[:1] = mask[-1:] = False
            mask[:, :1] = mask[:, -1:] = False
            from factory.blend.poisson import poisson_blend

            out = poisson_blend(out, window, mask, (int(x0), int(y0)), core=local > 0)
            unknown &= ~hole
    return out[m : m + image.shape[0], m : m + image.shape[1]].copy()


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def collect_backgrounds(
    dataset: Dataset, cache_root: Path, *, guard, mode: str = "auto"
) -> BackgroundPool:
    """Gather backgrounds (``mode``: ``auto``; ``inpaint`` to force inpainting; ``labelled``
    for the labelled train images themselves, their labels kept)."""
    skipped: dict[str, int] = {}

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    def admit(path: Path, role: str) -> tuple[int, int] | None:
        try:
            guard.check_file(path, role)
        except FactoryError:
            skip(f"{role} is a test image or near duplicate")
            return None
        image = read_image(path)
        return image.shape[1], image.shape[0]

    found: list[BackgroundInfo] = []
    root = dataset.root

    def add(path: Path, kind: str, id_prefix: str, stem: str, role: str) -> None:
        size = admit(path, role)
        if size:
            rel = str(path.relative_to(root))
            found.append(BackgroundInfo(f"{id_prefix}-{_safe(stem)}", kind, rel, path, *size))

    if mode == "auto":
        for path in dataset.clean_images:
            add(path, "clean", "clean", path.stem, "clean image")
        for record in dataset.split("train"):
            if record.reference_path is not None:
                add(record.reference_path, "reference", "reference", record.stem, "reference")
            if not record.annotations:
                add(
                    record.image_path,
                    "unlabelled-train",
                    "unlabelled",
                    record.stem,
                    "unlabelled train image",
                )
        # References of val/test images are never used; count them so nobody wonders.
        for split in ("val", "test"):
            refs = sum(1 for r in dataset.split(split) if r.reference_path is not None)
            if refs:
                skipped[f"references of {split} images (not train)"] = refs
        if found:
            return BackgroundPool(found, skipped, inpainted=False)
    elif mode == "labelled":
        for record in dataset.split("train"):
            size = admit(record.image_path, "train image")
            if size:
                kept = tuple((a.class_id, *_clip_xyxy(a.xyxy, size)) for a in record.annotations)
                found.append(
                    BackgroundInfo(
                        f"labelled-{_safe(record.stem)}",
                        "labelled-train",
                        str(record.image_path.relative_to(root)),
                        record.image_path,
                        *size,
                        kept_labels=kept,
                    )
                )
        if not found:
            raise FactoryError(f"{root}: --backgrounds labelled: the train split has no images")
        return BackgroundPool(found, skipped, inpainted=False)
    elif mode != "inpaint":
        raise FactoryError(f"backgrounds must be 'auto', 'inpaint' or 'labelled', got {mode!r}")
    found = _inpainted(dataset, cache_root, guard, skip)
    if not found:
        raise FactoryError(
            f"{root}: no clean backgrounds: no clean/ images, no references of train images, "
            "no unlabelled train images, and no train image whose defects cover less than "
            f"{MAX_INPAINT_FRACTION:.0%} of it (so inpainting them away would invent most of it)"
        )
    return BackgroundPool(found, skipped, inpainted=True)


def _clip_xyxy(xyxy, size_wh) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    width, height = size_wh
    return (max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))


def _inpainted(dataset: Dataset, cache_root: Path, guard, skip) -> list[BackgroundInfo]:
    found = []
    folder = cache_root / "backgrounds"
    for record in dataset.split("train"):
        if not record.annotations:
            continue
        boxes = []
        for a in record.annotations:
            x0, y0, x1, y1 = a.xyxy_int()
            boxes.append((max(0, x0), max(0, y0), min(record.width, x1), min(record.height, y1)))
        try:
            guard.check_file(record.image_path, "train image to inpaint")
        except FactoryError:
            skip("train image to inpaint is a test image or near duplicate")
            continue
        masks = record.read_instance_masks()
        region = defect_region((record.height, record.width), boxes, masks, INPAINT_DILATE_PX)
        if region.mean() > MAX_INPAINT_FRACTION:
            skip(f"train image whose defects cover more than {MAX_INPAINT_FRACTION:.0%}")
            continue
        key = hashlib.sha256(
            f"{sha256_file(record.image_path)}|{boxes}|{INPAINT_DILATE_PX}|fill-v3".encode()
        ).hexdigest()[:16]
        path = folder / f"{_safe(record.stem)}-{key}.png"
        if not path.is_file():
            image = remove_defects(record.read(), region)
            try:
                guard.check_image(image, f"inpainted {record.image_path}", "background")
            except FactoryError:
                skip("inpainted train image is a near duplicate of a test image")
                continue
            tmp = path.with_name(f".{path.name}.tmp.png")
            write_image(tmp, image)
            tmp.replace(path)
        rel = str(record.image_path.relative_to(dataset.root))
        found.append(
            BackgroundInfo(
                f"inpainted-{_safe(record.stem)}",
                "inpainted",
                rel,
                path,
                record.width,
                record.height,
            )
        )
    return found
