"""COCO JSON import and export (boxes, and instance masks from polygons or RLE).

Import: ``SRC`` is one JSON file or a folder; every ``*.json`` with ``images``,
``annotations`` and ``categories`` found in it (or in ``annotations/``) is read. A file name
containing ``train``/``val``/``test`` (``instances_val2017.json``) gives its split; a single
file without such a name is unsplit. Image ``file_name`` is looked up next to the JSON, in
``images/``, ``images/<split>/``, ``<split>/`` and the parent folder. Categories, whatever
their ids, become class ids 0..N-1 in ascending id order. ``iscrowd`` annotations are skipped
(they are not instances). Polygons and RLE (compressed or not) become instance masks.

Export: one JSON per split, ``bbox`` as ``[x, y, w, h]`` pixels, masks as uncompressed RLE
(exact; ``pycocotools`` and this importer read it).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from factory.dataset.core import SPLITS, Annotation, Dataset
from factory.dataset.formats.base import SourceItem, SourcePlan, polygon_mask, unique_stem
from factory.dataset.formats.voc import split_from_name
from factory.errors import FactoryError
from factory.io import atomic_output_dir, check_output_dir


def read_coco_source(src: Path, *, limit: int | None = None) -> SourcePlan:
    json_paths = _json_files(src)
    loaded = [(path, _load_json(path)) for path in json_paths]
    categories: dict[int, str] = {}
    for path, data in loaded:
        for category in data["categories"]:
            cid, name = int(category["id"]), str(category["name"])
            if categories.get(cid, name) != name:
                raise FactoryError(
                    f"{path}: category id {cid} is {name!r} here but {categories[cid]!r} elsewhere"
                )
            categories[cid] = name
    if not categories:
        raise FactoryError(f"{json_paths[0]}: no categories")
    ids_sorted = sorted(categories)
    class_of = {cid: k for k, cid in enumerate(ids_sorted)}
    class_names = [categories[cid] for cid in ids_sorted]
    if len(set(class_names)) != len(class_names):
        raise FactoryError(f"{json_paths[0]}: category names are not unique: {class_names}")
    splits = [split_from_name(path.stem) for path in json_paths]
    has_split = any(splits) and not (len(json_paths) == 1 and splits[0] == "train")
    items: list[SourceItem] = []
    for (path, data), split in zip(loaded, splits, strict=True):
        split = split or "train"
        by_image: dict[int, list[dict]] = {}
        for ann in data["annotations"]:
            by_image.setdefault(ann.get("image_id"), []).append(ann)
        known_ids = {image.get("id") for image in data["images"]}
        for image_id in by_image:
            if image_id not in known_ids:
                raise FactoryError(f"{path}: annotation refers to unknown image id {image_id}")
        images = data["images"][:limit] if limit is not None else data["images"]
        taken: set[str] = set()
        for image in images:
            image_path = _find_image(path, str(image.get("file_name", "")), split, src)
            annotations, segmentations = [], []
            for ann in by_image.get(image.get("id"), []):
                if ann.get("iscrowd"):
                    continue
                cid = ann.get("category_id")
                if cid not in class_of:
                    raise FactoryError(
                        f"{path}: annotation {ann.get('id')} of {image.get('file_name')} has "
                        f"unknown category id {cid} (known: {ids_sorted})"
                    )
                try:
                    x, y, w, h = (float(v) for v in ann["bbox"])
                except (KeyError, TypeError, ValueError):
                    raise FactoryError(
                        f"{path}: annotation {ann.get('id')} has no valid 'bbox' [x, y, w, h]"
                    ) from None
                annotations.append(Annotation(class_of[cid], (x, y, x + w, y + h)))
                segmentations.append(ann.get("segmentation") or None)
            items.append(
                SourceItem(
                    split=split,
                    stem=unique_stem(image_path.stem, taken),
                    image=image_path,
                    annotations=annotations,
                    label_path=path,
                    masks=_mask_loader(segmentations, path) if any(segmentations) else None,
                )
            )
    return SourcePlan(
        format="coco",
        source=src,
        class_names=class_names,
        items=items,
        has_split=has_split,
        notes=[] if has_split else ["source defines no split: all images put in train"],
    )


def _json_files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    candidates = sorted(src.glob("*.json")) + sorted(src.glob("annotations/*.json"))
    found = [p for p in candidates if _looks_like_coco(p)]
    if not found:
        raise FactoryError(f"{src}: no COCO JSON file (with images, annotations, categories)")
    return found


def _looks_like_coco(path: Path) -> bool:
    try:
        head = path.read_text()[:1_000_000]
    except (OSError, UnicodeDecodeError):
        return False
    return '"categories"' in head and '"images"' in head


def _load_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FactoryError(f"{path}: not valid JSON ({error})") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise FactoryError(f"{path}: not a COCO file (no '{key}' list)")
    return data


def _find_image(json_path: Path, file_name: str, split: str, src: Path) -> Path:
    if not file_name:
        raise FactoryError(f"{json_path}: an image entry has no 'file_name'")
    base = json_path.parent
    roots = [base, base / "images", base / "images" / split, base / split, base.parent]
    roots += [base.parent / "images", base.parent / "images" / split, base.parent / split]
    if src.is_dir():
        roots += [src, src / "images", src / "images" / split]
    for root in roots:
        candidate = root / file_name
        if candidate.is_file():
            return candidate
    raise FactoryError(
        f"{json_path}: image {file_name!r} not found next to the JSON or in images/ "
        "(mismatched image/label names)"
    )


def _mask_loader(segmentations: list, json_path: Path):
    def load(width: int, height: int) -> list[np.ndarray | None]:
        return [
            None if seg is None else segmentation_mask(seg, width, height, json_path)
            for seg in segmentations
        ]

    return load


def segmentation_mask(segmentation, width: int, height: int, where: Path) -> np.ndarray:
    """Boolean ``(H, W)`` mask of a COCO polygon list or RLE dict."""
    if isinstance(segmentation, list):
        mask = np.zeros((height, width), bool)
        for polygon in segmentation:
            points = np.asarray(polygon, np.float64).reshape(-1, 2)
            mask |= polygon_mask(points, width, height)
        return mask
    if isinstance(segmentation, dict) and "counts" in segmentation:
        h, w = segmentation.get("size", [height, width])
        if (h, w) != (height, width):
            raise FactoryError(f"{where}: RLE size {w}x{h} differs from the image {width}x{height}")
        counts = segmentation["counts"]
        if isinstance(counts, str):
            counts = rle_counts_from_string(counts)
        return rle_decode(counts, width, height)
    raise FactoryError(f"{where}: unsupported segmentation {str(segmentation)[:60]!r}")


def rle_decode(counts: list[int], width: int, height: int) -> np.ndarray:
    """COCO RLE (column-major runs, starting with background) to a bool ``(H, W)`` mask."""
    flat = np.zeros(width * height, bool)
    position, value = 0, False
    for run in counts:
        if value:
            flat[position : position + run] = True
        position += run
        value = not value
    if position != width * height:
        raise FactoryError(f"RLE covers {position} pixels, image has {width * height}")
    return flat.reshape(width, height).T


def rle_encode(mask: np.ndarray) -> list[int]:
    """Bool ``(H, W)`` mask to uncompressed COCO RLE counts (column-major, background first)."""
    flat = np.asarray(mask, bool).T.reshape(-1)
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    edges = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(edges).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return [int(c) for c in counts]


def rle_counts_from_string(text: str) -> list[int]:
    """Decode pycocotools' compressed RLE string (LEB128-like, 6 bits per character)."""
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            c = ord(text[position]) - 48
            value |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            position += 1
            shift += 1
            if not more and c & 0x10:
                value |= -1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def coco_dict(dataset: Dataset, split: str | None, image_root: Path | None) -> dict:
    """The COCO structure of one split (all splits when ``split`` is None).

    ``file_name`` is relative to ``image_root`` when given, else the image's own file name.
    """
    categories = [
        {"id": k, "name": n, "supercategory": "defect"} for k, n in enumerate(dataset.class_names)
    ]
    images, annotations = [], []
    records = dataset.images if split is None else dataset.split(split)
    for image_id, record in enumerate(records, start=1):
        file_name = (
            os.path.relpath(record.image_path.resolve(), image_root)
            if image_root
            else record.image_path.name
        )
        images.append(
            {"id": image_id, "file_name": file_name, "width": record.width, "height": record.height}
        )
        masks = record.read_instance_masks()
        for annotation, mask in zip(record.annotations, masks, strict=True):
            x0, y0, x1, y1 = annotation.xyxy
            entry = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": annotation.class_id,
                "bbox": [round(x0, 3), round(y0, 3), round(x1 - x0, 3), round(y1 - y0, 3)],
                "area": round((x1 - x0) * (y1 - y0), 3),
                "iscrowd": 0,
            }
            if mask is not None and mask.any():
                entry["segmentation"] = {
                    "size": [record.height, record.width],
                    "counts": rle_encode(mask),
                }
                entry["area"] = int(mask.sum())
            annotations.append(entry)
    return {
        "info": {"description": f"exported by factory from {dataset.name}"},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


def export_coco(
    dataset: Dataset, out: Path, *, split: str | None = None, overwrite: bool = False
) -> list[Path]:
    """Write COCO JSON.

    ``out`` ending in ``.json``: one file (``split``, or every split together) whose
    ``file_name`` entries point at the dataset's images relative to the file. Otherwise a
    folder ``out/annotations/instances_{split}.json`` + ``out/images/{split}/`` (copies), one
    JSON per non-empty split, self-contained and readable by ``factory import coco out``.
    """
    if split is not None and split not in SPLITS:
        raise FactoryError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if out.suffix.lower() == ".json":
        if out.exists() and not overwrite:
            raise FactoryError(f"{out}: output file exists (pass --overwrite to replace it)")
        check_output_dir(out.parent, overwrite=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        data = coco_dict(dataset, split, out.parent.resolve())
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(json.dumps(data) + "\n")
        tmp.replace(out)
        return [out]
    written = []
    splits = [split] if split else [s for s in SPLITS if dataset.split(s)]
    with atomic_output_dir(out, overwrite=overwrite) as staging:
        for name in splits:
            image_dir = staging / "images" / name
            image_dir.mkdir(parents=True, exist_ok=True)
            for record in dataset.split(name):
                shutil.copyfile(record.image_path, image_dir / record.image_path.name)
            data = coco_dict(dataset, name, None)
            path = staging / "annotations" / f"instances_{name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data) + "\n")
            written.append(out / "annotations" / path.name)
    return written
