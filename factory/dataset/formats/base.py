"""What every importer produces (a :class:`SourcePlan`) and the one writer that publishes it.

An importer only *reads* its source and describes it: class names, and per image the split,
a stem, the source image file, boxes in ``xyxy`` pixels, optionally a lazy loader of instance
masks and a paired clean reference. :func:`write_plan` then checks every image, writes the
canonical dataset with :class:`~factory.dataset.writer.DatasetWriter` (files are copied byte
for byte, the source is never written to) and locks the test split when the source had one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from factory.dataset.core import SPLITS, Annotation
from factory.dataset.writer import DatasetWriter
from factory.errors import FactoryError
from factory.io import read_image
from factory.progress import track

# A source box may poke this many pixels outside its image (rounding, 1-based VOC
# coordinates); it is clipped. Further out is an error naming the label file.
BOX_TOLERANCE_PX = 1.0

MaskLoader = Callable[[int, int], list[np.ndarray | None]]


@dataclass
class SourceItem:
    """One source image and its labels, as the importer found them."""

    split: str
    stem: str
    image: Path
    annotations: list[Annotation]
    label_path: Path | None = None
    masks: MaskLoader | None = None  # (width, height) -> one bool mask (or None) per box
    reference: Path | None = None


@dataclass
class SourcePlan:
    """Everything an importer read from its source, ready to be written."""

    format: str
    source: Path
    class_names: list[str]
    items: list[SourceItem]
    clean: list[Path] = field(default_factory=list)
    has_split: bool = True  # False: the source defines no split; everything goes to train
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportReport:
    """What ``factory import`` wrote."""

    out: Path
    format: str
    class_names: list[str]
    images: dict[str, int]
    instances: dict[str, dict[str, int]]
    clean: int
    locked: bool
    split_state: str  # "source" (kept the source's split) or "unsplit" (all in train)
    notes: list[str]


def unique_stem(stem: str, taken: set[str]) -> str:
    """``stem``, or ``stem_2``, ``stem_3``... when a flattened source repeats a file name."""
    candidate, n = stem, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}_{n}"
    taken.add(candidate)
    return candidate


def checked_box(
    xyxy: tuple[float, float, float, float], width: int, height: int, where: str
) -> tuple[float, float, float, float]:
    """Clip a pixel box that pokes out by rounding; reject one that is really outside or empty."""
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    tol = BOX_TOLERANCE_PX
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise FactoryError(f"{where}: box {xyxy} has non-finite coordinates")
    if x0 < -tol or y0 < -tol or x1 > width + tol or y1 > height + tol:
        raise FactoryError(
            f"{where}: box (x0={x0:g}, y0={y0:g}, x1={x1:g}, y1={y1:g}) reaches outside the "
            f"{width}x{height} image"
        )
    x0, y0 = max(0.0, x0), max(0.0, y0)
    x1, y1 = min(float(width), x1), min(float(height), y1)
    if x1 <= x0 or y1 <= y0:
        raise FactoryError(
            f"{where}: box (x0={x0:g}, y0={y0:g}, x1={x1:g}, y1={y1:g}) has zero area"
        )
    return (x0, y0, x1, y1)


def check_class_id(class_id: int, num_classes: int, where: str) -> int:
    if not 0 <= class_id < num_classes:
        raise FactoryError(
            f"{where}: class id {class_id} is out of range (the source has {num_classes} "
            f"classes, ids 0..{num_classes - 1})"
        )
    return class_id


def check_source(src: Path, out: Path) -> None:
    """The source must exist and the output must not live inside it (inputs stay untouched)."""
    if not src.exists():
        raise FactoryError(f"{src}: source not found")
    src_dir = (src if src.is_dir() else src.parent).resolve()
    out_resolved = out.resolve()
    if out_resolved == src_dir or src_dir in out_resolved.parents:
        raise FactoryError(f"{out}: output folder lies inside the source {src_dir}; choose another")


def write_plan(
    plan: SourcePlan, out: Path, *, overwrite: bool = False, lock_test: bool = True
) -> ImportReport:
    """Check every image, then write ``plan`` as a canonical dataset at ``out``."""
    if not plan.items:
        raise FactoryError(f"{plan.source}: dataset is empty (no labelled images found)")
    with DatasetWriter(out, plan.class_names, overwrite=overwrite) as writer:
        for item in track(plan.items, f"Importing {plan.format}"):
            split = item.split if plan.has_split else "train"
            if split not in SPLITS:
                raise FactoryError(f"{item.image}: unknown split {split!r}")
            # Decode fully: a truncated file can have a valid header.
            image = read_image(item.image)
            height, width = image.shape[:2]
            where = str(item.label_path or item.image)
            annotations = [
                Annotation(
                    check_class_id(a.class_id, len(plan.class_names), where),
                    checked_box(a.xyxy, width, height, where),
                )
                for a in item.annotations
            ]
            masks = item.masks(width, height) if item.masks is not None else None
            reference = item.reference
            if reference is not None:
                ref_shape = read_image(reference).shape[:2]
                if ref_shape != (height, width):
                    raise FactoryError(
                        f"{reference}: reference is {ref_shape[1]}x{ref_shape[0]}, "
                        f"image {item.image.name} is {width}x{height}"
                    )
            writer.add_image(
                split, item.stem, item.image, annotations, instance_masks=masks, reference=reference
            )
        taken: set[str] = set()
        for path in plan.clean:
            read_image(path)
            writer.add_clean(unique_stem(path.stem, taken), path)
        has_test = plan.has_split and any(item.split == "test" for item in plan.items)
        locked = bool(lock_test and has_test)
        split_state = "source" if plan.has_split else "unsplit"
        metadata = {
            "source": {"format": plan.format, "path": str(plan.source)},
            "split": {"state": split_state, "test_locked": locked},
            "notes": list(plan.notes),
        }
        writer.publish(metadata=metadata, lock_test=locked)
    images = dict.fromkeys(SPLITS, 0)
    instances = {split: dict.fromkeys(plan.class_names, 0) for split in SPLITS}
    for item in plan.items:
        split = item.split if plan.has_split else "train"
        images[split] += 1
        for a in item.annotations:
            instances[split][plan.class_names[a.class_id]] += 1
    return ImportReport(
        out=out,
        format=plan.format,
        class_names=plan.class_names,
        images=images,
        instances=instances,
        clean=len(plan.clean),
        locked=locked,
        split_state=split_state,
        notes=list(plan.notes),
    )


def polygon_mask(points_xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boolean ``(H, W)`` mask of a polygon given as ``(N, 2)`` pixel ``(x, y)`` vertices."""
    import cv2

    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [np.round(points_xy).astype(np.int32).reshape(-1, 1, 2)], 1)
    return mask.astype(bool)


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the file header; a file that cannot be opened is an error."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise FactoryError(f"{path}: image file not found")
    try:
        with Image.open(path) as image:
            return image.size
    # ImportError: once ultralytics is imported, its Image.open patch tries pi-heif on junk.
    except (UnidentifiedImageError, OSError, ValueError, ImportError):
        raise FactoryError(f"{path}: cannot read image (corrupt or unsupported format)") from None
