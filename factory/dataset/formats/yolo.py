"""Import a YOLO dataset: ``data.yaml`` + image folders (or image lists) + label txt files.

Label lines are ``class cx cy w h`` (detection) or ``class x1 y1 x2 y2 ...`` (segmentation
polygon, normalised); a polygon becomes its bounding box plus an instance mask. The
``train``/``val``/``test`` entries of ``data.yaml`` are kept as splits. An image without a
label file is a background image (no boxes), as in ultralytics; a label file without an
image is an error (mismatched names).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from factory.dataset.core import (
    COORD_TOLERANCE,
    Annotation,
    parse_class_names,
    read_data_yaml,
)
from factory.dataset.formats.base import (
    SourceItem,
    SourcePlan,
    check_class_id,
    image_size,
    polygon_mask,
    unique_stem,
)
from factory.errors import FactoryError
from factory.io import is_image_file, list_images

SPLIT_KEYS = {"train": "train", "val": "val", "test": "test"}


def find_data_yaml(src: Path) -> Path:
    if src.is_file():
        return src
    for name in ("data.yaml", "data.yml", "dataset.yaml"):
        if (src / name).is_file():
            return src / name
    raise FactoryError(
        f"{src / 'data.yaml'}: missing data.yaml (a YOLO source needs one with 'names' and "
        "'train'/'val'/'test' entries; pass the yaml itself if it has another name)"
    )


def read_yolo_source(src: Path, *, limit: int | None = None) -> SourcePlan:
    data_yaml = find_data_yaml(src)
    data = read_data_yaml(data_yaml)
    class_names = parse_class_names(data["names"], data_yaml)
    base = data_yaml.parent
    if data.get("path"):
        root = Path(str(data["path"]))
        base = root if root.is_absolute() else (data_yaml.parent / root)
    image_lists: dict[str, list[Path]] = {}
    seen_dirs: dict[tuple[str, ...], str] = {}
    for split in ("train", "val", "test"):
        entry = data.get(split)
        if not entry:
            continue
        entries = entry if isinstance(entry, list) else [entry]
        key = tuple(sorted(str(e) for e in entries))
        if key in seen_dirs:
            # A common shortcut: val points at the train images. Not a real split.
            continue
        seen_dirs[key] = split
        image_lists[split] = _images_of(entries, base, data_yaml)
    if not image_lists:
        raise FactoryError(f"{data_yaml}: no 'train', 'val' or 'test' image folders listed")
    has_split = len(image_lists) > 1
    items: list[SourceItem] = []
    for split, paths in image_lists.items():
        if limit is not None:
            paths = paths[:limit]
        taken: set[str] = set()
        label_dirs: set[Path] = set()
        stems_by_dir: dict[Path, set[str]] = {}
        for image_path in paths:
            label_path = _label_path_for(image_path)
            label_dirs.add(label_path.parent)
            stems_by_dir.setdefault(label_path.parent, set()).add(image_path.stem)
            width, height = image_size(image_path)
            annotations, polygons = (
                _read_label_file(label_path, len(class_names), width, height)
                if label_path.is_file()
                else ([], [])
            )
            items.append(
                SourceItem(
                    split=split,
                    stem=unique_stem(image_path.stem, taken),
                    image=image_path,
                    annotations=annotations,
                    label_path=label_path if label_path.is_file() else None,
                    masks=_mask_loader(polygons) if any(p is not None for p in polygons) else None,
                )
            )
        if limit is None:
            for label_dir in sorted(label_dirs):
                for label_path in sorted(label_dir.glob("*.txt")):
                    if label_path.stem not in stems_by_dir[label_dir]:
                        raise FactoryError(
                            f"{label_path}: label file has no matching image "
                            "(mismatched image/label names)"
                        )
    return SourcePlan(
        format="yolo",
        source=src,
        class_names=class_names,
        items=items,
        has_split=has_split,
        notes=[] if has_split else ["source defines one image set: all images put in train"],
    )


def _images_of(entries: list, base: Path, data_yaml: Path) -> list[Path]:
    paths: list[Path] = []
    for entry in entries:
        path = Path(str(entry))
        path = path if path.is_absolute() else base / path
        if path.is_dir():
            found = list_images(path)
            if not found and (path / "images").is_dir():
                found = list_images(path / "images")
            paths += found
        elif path.is_file() and path.suffix == ".txt":
            for line in path.read_text().splitlines():
                line = line.strip()
                if line:
                    image = Path(line)
                    paths.append(image if image.is_absolute() else (path.parent / image))
        elif path.is_file() and is_image_file(path):
            paths.append(path)
        else:
            raise FactoryError(f"{data_yaml}: image folder {path} not found")
    return paths


def _label_path_for(image_path: Path) -> Path:
    """ultralytics' rule: the last ``images`` folder of the path becomes ``labels``."""
    parts = list(image_path.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image_path.with_suffix(".txt")


def _read_label_file(label_path: Path, num_classes: int, width: int, height: int):
    annotations: list[Annotation] = []
    polygons: list[np.ndarray | None] = []
    try:
        lines = label_path.read_text().splitlines()
    except UnicodeDecodeError:
        raise FactoryError(f"{label_path}: label file is not text") from None
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{label_path} line {number}"
        try:
            class_id = int(fields[0])
            values = [float(v) for v in fields[1:]]
        except ValueError:
            raise FactoryError(f"{where}: not numbers: {line.strip()!r}") from None
        check_class_id(class_id, num_classes, where)
        if not all(np.isfinite(values)):
            raise FactoryError(f"{where}: non-finite coordinates: {line.strip()!r}")
        if len(values) == 4:
            cx, cy, w, h = values
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            polygon = None
        elif len(values) >= 6 and len(values) % 2 == 0:
            polygon = np.array(values, np.float64).reshape(-1, 2)
            box = (*polygon.min(axis=0), *polygon.max(axis=0))
        else:
            raise FactoryError(
                f"{where}: expected 'class cx cy w h' or 'class x1 y1 x2 y2 x3 y3 ...', "
                f"got {len(fields)} fields"
            )
        low, high = -COORD_TOLERANCE, 1 + COORD_TOLERANCE
        if min(box) < low or max(box) > high:
            raise FactoryError(
                f"{where}: coordinates {' '.join(fields[1:5])}... reach outside the image "
                "(normalised values must lie in [0, 1])"
            )
        if box[2] <= box[0] or box[3] <= box[1]:
            raise FactoryError(f"{where}: box has zero area")
        x0, y0, x1, y1 = (float(v) for v in box)
        annotations.append(Annotation(class_id, (x0 * width, y0 * height, x1 * width, y1 * height)))
        polygons.append(polygon)
    return annotations, polygons


def _mask_loader(polygons: list[np.ndarray | None]):
    def load(width: int, height: int) -> list[np.ndarray | None]:
        scale = np.array([width, height], np.float64)
        return [None if p is None else polygon_mask(p * scale, width, height) for p in polygons]

    return load
