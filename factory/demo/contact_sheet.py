"""A contact sheet of dataset images with their boxes drawn, to judge data by eye."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from factory.dataset import ImageRecord
from factory.io import write_image

# BGR colours per class id (cycled).
COLOURS = ((60, 60, 255), (60, 220, 60), (255, 140, 40), (0, 220, 255), (230, 60, 230))


def draw_boxes(image: np.ndarray, record: ImageRecord, class_names: list[str]) -> np.ndarray:
    """BGR copy of ``image`` with every annotation's box and class name drawn."""
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    for annotation in record.annotations:
        colour = COLOURS[annotation.class_id % len(COLOURS)]
        x0, y0, x1, y1 = annotation.xyxy_int()
        cv2.rectangle(canvas, (x0 - 1, y0 - 1), (x1, y1), colour, 1)
        cv2.putText(
            canvas,
            class_names[annotation.class_id],
            (x0, max(9, y0 - 3)),
            cv2.FONT_HERSHEY_PLAIN,
            0.8,
            colour,
            1,
            cv2.LINE_AA,
        )
    return canvas


def contact_sheet(
    records: list[ImageRecord],
    class_names: list[str],
    out: Path,
    *,
    columns: int = 4,
    scale: int = 2,
    with_reference: bool = False,
) -> Path:
    """Write a grid of images (boxes drawn, optionally beside their clean reference)."""
    tiles = []
    for record in records:
        tile = draw_boxes(record.read(), record, class_names)
        if with_reference and record.reference_path is not None:
            reference = cv2.cvtColor(record.read_reference(), cv2.COLOR_GRAY2BGR)
            tile = np.hstack([reference, np.full((tile.shape[0], 4, 3), 255, np.uint8), tile])
        tile = cv2.resize(tile, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        tiles.append(np.pad(tile, ((4, 4), (4, 4), (0, 0)), constant_values=255))
    while len(tiles) % columns:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    write_image(out, np.vstack(rows))
    return out


def showcase(records: list[ImageRecord], num_classes: int, count: int = 8) -> list[ImageRecord]:
    """Up to ``count`` records, first one holding each class, then the next ones in order."""
    chosen: list[ImageRecord] = []
    for class_id in range(num_classes):
        for record in records:
            if record not in chosen and any(a.class_id == class_id for a in record.annotations):
                chosen.append(record)
                break
    chosen += [r for r in records if r not in chosen][: max(0, count - len(chosen))]
    return chosen[:count]


def defect_crops(
    records: list[ImageRecord],
    num_classes: int,
    out: Path,
    *,
    per_class: int = 3,
    crop: int = 80,
    scale: int = 2,
) -> Path:
    """One row per class: ``reference | image | mask`` crops around its first instances."""
    rows = []
    for class_id in range(num_classes):
        tiles = []
        for record in records:
            masks = record.read_instance_masks()
            for annotation, mask in zip(record.annotations, masks, strict=True):
                if annotation.class_id != class_id or len(tiles) >= per_class:
                    continue
                image, reference = record.read(), record.read_reference()
                if reference is None or mask is None:
                    continue
                x0, y0, x1, y1 = annotation.xyxy_int()
                left = min(max((x0 + x1) // 2 - crop // 2, 0), record.width - crop)
                top = min(max((y0 + y1) // 2 - crop // 2, 0), record.height - crop)
                window = (slice(top, top + crop), slice(left, left + crop))
                strip = [reference[window], image[window], mask[window].astype(np.uint8) * 255]
                tiles.append(np.pad(np.hstack(strip), 2, constant_values=255))
        if tiles:
            while len(tiles) < per_class:
                tiles.append(np.full_like(tiles[0], 255))
            rows.append(np.hstack(tiles))
    sheet = np.vstack(rows)
    write_image(out, cv2.resize(sheet, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST))
    return out
