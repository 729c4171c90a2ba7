"""Import image + mask folders (magnetic-tile, Kolektor and the like).

Each defect is a connected component (8-connected) of the binary mask: its bounding box
becomes a label and its pixels an instance mask. An image whose mask is empty is defect-free
and goes to the ``clean/`` pool. A mask pairs with the image of the same stem, found as:

* ``masks/<stem>.*`` (or ``<stem>_mask.*``) beside an ``images/`` folder;
* ``<stem>_mask.*``, ``<stem>_label.*``, ``<stem>_gt.*`` next to the image;
* ``<stem>.png`` next to a non-PNG image (magnetic-tile's layout).

Classes: ``--class-name NAME`` puts every defect in one class; otherwise the class is the
first folder under the source (``SRC/<class>/...``) that holds images, skipping a split
folder (``SRC/train/<class>/...``). Folder names ``train``, ``val``, ``test`` give splits.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from factory.dataset.core import Annotation
from factory.dataset.formats.base import SourceItem, SourcePlan, image_size, unique_stem
from factory.dataset.formats.voc import split_from_name
from factory.errors import FactoryError
from factory.io import is_image_file, read_mask

MASK_DIR_NAMES = {"masks", "mask", "ground_truth", "groundtruth", "gt", "labels", "annotations"}
MASK_SUFFIXES = ("_mask", "_label", "_gt")
SPLIT_DIR_NAMES = {"train", "training", "val", "valid", "validation", "test", "testing"}


def binary_mask(mask: np.ndarray) -> np.ndarray:
    """Foreground of a stored mask: ``> 127`` for 8-bit 0/255 masks, ``> 0`` for 0/1 maps."""
    return mask > 127 if mask.max() > 1 else mask > 0


def components_xyxy(mask: np.ndarray) -> tuple[list[tuple[float, float, float, float]], np.ndarray]:
    """Boxes ``(x0, y0, x1, y1)`` of the 8-connected components and their label map."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    boxes = [
        (float(x), float(y), float(x + w), float(y + h))
        for x, y, w, h, _area in stats[1:count].tolist()
    ]
    return boxes, labels


def read_maskfolder_source(
    src: Path, *, limit: int | None = None, class_name: str | None = None
) -> SourcePlan:
    if not src.is_dir():
        raise FactoryError(f"{src}: a mask-folder source must be a folder")
    files = sorted(p for p in src.rglob("*") if p.is_file() and is_image_file(p))
    masks = {p for p in files if _is_mask(p, src)}
    images = [p for p in files if p not in masks]
    if not images:
        raise FactoryError(f"{src}: dataset is empty (no images found)")
    if limit is not None:
        images = images[:limit]
    pairs: list[tuple[Path, Path, str | None, str | None]] = []
    used_masks: set[Path] = set()
    masks_by_parent: dict[Path, list[Path]] = {}
    for mask in sorted(masks):
        masks_by_parent.setdefault(mask.parent, []).append(mask)
    for image in images:
        mask = _mask_for(image, masks_by_parent)
        if mask is None:
            raise FactoryError(
                f"{image}: no mask found for this image (expected masks/{image.stem}.*, "
                f"{image.stem}_mask.* or {image.stem}.png beside it; mismatched names?)"
            )
        used_masks.add(mask)
        split, folder_class = _split_and_class(image, src)
        pairs.append((image, mask, split, folder_class))
    if limit is None:
        orphans = sorted(masks - used_masks)
        if orphans:
            raise FactoryError(f"{orphans[0]}: mask has no matching image (mismatched names)")
    if class_name is None and any(c is None for _, _, _, c in pairs):
        raise FactoryError(
            f"{src}: images lie directly in the source (no class subfolders); pass "
            "--class-name NAME to name their defect class"
        )
    found: list[tuple[Path, Path, str | None, str, list]] = []
    clean: list[Path] = []
    for image, mask_path, split, folder_class in pairs:
        width, height = image_size(image)
        mask = read_mask(mask_path)
        if mask.shape[:2] != (height, width):
            raise FactoryError(
                f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]}, image {image.name} is "
                f"{width}x{height}"
            )
        boxes, _ = components_xyxy(binary_mask(mask))
        if not boxes:
            clean.append(image)
            continue
        found.append((image, mask_path, split, class_name or folder_class, boxes))
    class_names = sorted({c for *_, c, _ in found})
    if not class_names:
        raise FactoryError(f"{src}: every mask is empty: no defects to import")
    has_split = any(split for _, _, split, _, _ in found)
    items = []
    taken: dict[str, set[str]] = {}
    for image, mask_path, split, name, boxes in found:
        split = split or "train"
        class_id = class_names.index(name)
        items.append(
            SourceItem(
                split=split,
                stem=unique_stem(image.stem, taken.setdefault(split, set())),
                image=image,
                annotations=[Annotation(class_id, box) for box in boxes],
                label_path=mask_path,
                masks=_mask_loader(mask_path),
            )
        )
    notes = [f"{len(clean)} images with empty masks put in the clean pool"]
    if not has_split:
        notes.append("source defines no split: all images put in train")
    return SourcePlan(
        format="maskfolder",
        source=src,
        class_names=class_names,
        items=items,
        clean=clean,
        has_split=has_split,
        notes=notes,
    )


def _mask_loader(mask_path: Path):
    def load(width: int, height: int) -> list[np.ndarray | None]:
        _, labels = components_xyxy(binary_mask(read_mask(mask_path)))
        return [labels == k for k in range(1, int(labels.max()) + 1)]

    return load


def _is_mask(path: Path, src: Path) -> bool:
    relative_dirs = {p.lower() for p in path.relative_to(src).parts[:-1]}
    if relative_dirs & MASK_DIR_NAMES:
        return True
    stem = path.stem.lower()
    if stem.endswith(MASK_SUFFIXES):
        return True
    if path.suffix.lower() == ".png":
        return any(
            (path.with_suffix(s)).is_file() for s in (".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
        )
    return False


def _mask_for(image: Path, by_parent: dict[Path, list[Path]]) -> Path | None:
    folder, stem = image.parent, image.stem
    candidates = [folder / f"{stem}{suffix}" for suffix in MASK_SUFFIXES]
    mask_dirs = [folder.parent / name for name in ("masks", "mask", "ground_truth", "gt")]
    for mask_dir in mask_dirs:
        for mask in by_parent.get(mask_dir, []):
            if mask.stem in (stem, *(f"{stem}{s}" for s in MASK_SUFFIXES)):
                return mask
    for mask in by_parent.get(folder, []):
        if mask.with_suffix("") in candidates or (mask.stem == stem and mask != image):
            return mask
    return None


def _split_and_class(image: Path, src: Path) -> tuple[str | None, str | None]:
    parts = list(image.relative_to(src).parts[:-1])
    split = None
    if parts and parts[0].lower() in SPLIT_DIR_NAMES:
        split = split_from_name(parts.pop(0))
    parts = [p for p in parts if p.lower() not in {"images", "imgs", "image"}]
    return split, (parts[0] if parts else None)
