"""Reading a ``factory synth`` output folder: manifest, summary, real references, quality.

Everything here only reads. The synth output contract (see the team brief) is::

    SYNTH_DIR/ data.yaml, images/, labels/, masks/train/syn_*.png, factory.json,
               manifest.jsonl, sources/{backgrounds,patches}/, summary.json
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from factory.dataset import Dataset, load_dataset
from factory.errors import FactoryError
from factory.io import read_image, read_mask
from factory.quality import class_contrast_stats, contrast_zscore, instance_contrast, score_sample
from factory.seeding import rng_for

MANIFEST = "manifest.jsonl"
SUMMARY = "summary.json"
PRUNED = "pruned.jsonl"
SYNTHETIC_PREFIX = "syn_"
# Pixels added around a paste's instance mask to approximate its blended region when the
# manifest has no scores and the gallery or prune must compute them.
BLEND_MARGIN = 4


@dataclass
class SynthDir:
    """A synth output folder, its manifest records (in file order) and its summary."""

    root: Path
    dataset: Dataset
    records: list[dict]
    summary: dict = field(default_factory=dict)

    @property
    def class_names(self) -> list[str]:
        return self.dataset.class_names

    def path(self, relative: str) -> Path:
        return self.root / relative

    def by_id(self) -> dict[str, dict]:
        return {r["id"]: r for r in self.records}

    def source_dataset(self) -> Dataset | None:
        """The source dataset, loaded once (read only); ``None`` when it cannot be found."""
        if not hasattr(self, "_source"):
            source = self.source_root()
            self._source = None
            if source is not None and (source / "data.yaml").is_file():
                try:
                    self._source = load_dataset(source, strict=False, verify_lock=False)
                except FactoryError:
                    self._source = None
        return self._source

    def source_root(self) -> Path | None:
        """The source dataset the synthetic set was made from, when the summary names one."""
        root = _summary_dataset_root(self.summary)
        if root is None:
            return None
        path = Path(root)
        if not path.is_absolute():
            path = (self.root / path).resolve()
        return path


def _summary_dataset_root(summary: dict) -> str | None:
    # The contract says "dataset root" without fixing a key; accept the likely spellings.
    for key in ("dataset_root", "dataset", "source_dataset", "source_root", "source"):
        value = summary.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict):
            for inner in ("root", "path", "dataset_root"):
                if isinstance(value.get(inner), str):
                    return value[inner]
    options = summary.get("options")
    if isinstance(options, dict):
        for key in ("dataset_root", "dataset"):
            if isinstance(options.get(key), str):
                return options[key]
    return None


def load_synth_dir(root: Path | str) -> SynthDir:
    """Read a synth output folder; bad manifest lines raise :class:`FactoryError`."""
    root = Path(root)
    if not root.is_dir():
        raise FactoryError(f"{root}: synth output folder not found")
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise FactoryError(f"{manifest}: no manifest (is {root} the output of `factory synth`?)")
    dataset = load_dataset(root, strict=False, verify_lock=False)
    records = read_manifest(manifest, len(dataset.class_names))
    summary: dict = {}
    summary_path = root / SUMMARY
    if summary_path.is_file():
        try:
            summary = json.loads(summary_path.read_text())
        except json.JSONDecodeError as error:
            raise FactoryError(f"{summary_path}: not valid JSON ({error.msg})") from None
        if not isinstance(summary, dict):
            raise FactoryError(f"{summary_path}: expected a JSON object")
    return SynthDir(root=root, dataset=dataset, records=records, summary=summary)


def read_manifest(path: Path, num_classes: int) -> list[dict]:
    records, seen = [], set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise FactoryError(f"{where}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise FactoryError(f"{where}: expected an object with a string 'id'")
        if not isinstance(record.get("image"), str):
            raise FactoryError(f"{where}: record {record['id']!r} has no 'image' path")
        pastes = record.get("pastes")
        if not isinstance(pastes, list):
            raise FactoryError(f"{where}: record {record['id']!r} has no 'pastes' list")
        for paste in pastes:
            class_id = paste.get("class_id") if isinstance(paste, dict) else None
            if not isinstance(class_id, int) or not 0 <= class_id < num_classes:
                raise FactoryError(
                    f"{where}: paste class_id {class_id!r} is out of range "
                    f"(dataset has {num_classes} classes)"
                )
            xyxy = paste.get("xyxy")
            if not (isinstance(xyxy, list) and len(xyxy) == 4):
                raise FactoryError(f"{where}: paste xyxy must be 4 numbers, got {xyxy!r}")
        if record["id"] in seen:
            raise FactoryError(f"{where}: duplicate id {record['id']!r}")
        seen.add(record["id"])
        records.append(record)
    return records


@dataclass
class RealInstances:
    """Real defects of one split, grouped by class id: (image path, xyxy, mask or None)."""

    source: str  # where they came from, for the page
    by_class: dict[int, list[tuple[Path, tuple, int]]]
    dataset: Dataset | None

    def sample(self, class_id: int, limit: int, seed: int, split: str) -> list[tuple]:
        items = self.by_class.get(class_id, [])
        if len(items) <= limit:
            return list(items)
        rng = rng_for(seed, "gallery-real", split, class_id)
        keep = sorted(rng.choice(len(items), limit, replace=False).tolist())
        return [items[i] for i in keep]


def real_instances(synth: SynthDir, split: str) -> RealInstances:
    """Real defects of ``split``: from the source dataset when it is there, else from the
    real images the synth folder carries (its train split's non-synthetic images, and its
    val/test copies). Only reads.
    """
    dataset = synth.source_dataset()
    label = str(synth.source_root()) if dataset is not None else ""
    if dataset is None or (
        split == "test" and not dataset.split("test") and synth.dataset.split("test")
    ):
        dataset = synth.dataset
        label = f"{synth.root} (copies inside the synthetic set)"
    by_class: dict[int, list] = defaultdict(list)
    names = synth.class_names
    for record in dataset.split(split):
        if dataset is synth.dataset and record.stem.startswith(SYNTHETIC_PREFIX):
            continue
        for k, annotation in enumerate(record.annotations):
            # Match classes by id; the synth set keeps the source's class list.
            if annotation.class_id < len(names):
                by_class[annotation.class_id].append((record, annotation.xyxy, k))
    return RealInstances(source=label, by_class=dict(by_class), dataset=dataset)


def read_real_crops(
    items: list[tuple], with_contrast: bool = True
) -> tuple[list[np.ndarray], list[float]]:
    """Crops (box + context) and contrasts of real instances, reading each image once."""
    from factory.gallery.features import crop_xyxy

    crops, contrasts = [], []
    cache_key, image, masks = None, None, None
    for record, xyxy, k in items:
        if record.image_path != cache_key:
            cache_key = record.image_path
            image = record.read()
            masks = record.read_instance_masks() if with_contrast else None
        crops.append(crop_xyxy(image, xyxy))
        if with_contrast:
            contrasts.append(instance_contrast(image, xyxy, masks[k] if masks else None))
    return crops, contrasts


def class_stats_from_real(
    real: RealInstances, num_classes: int, *, limit: int = 200, seed: int = 0
) -> dict[int, dict]:
    """Contrast reference statistics per class from (a sample of) the real instances."""
    stats = {}
    for class_id in range(num_classes):
        items = real.sample(class_id, limit, seed, "train")
        _, contrasts = read_real_crops(items)
        stats[class_id] = class_contrast_stats(contrasts)
    return stats


def record_quality(record: dict) -> float | None:
    """The sample's overall quality score from its manifest record, when the engine wrote one."""
    quality = record.get("quality")
    if isinstance(quality, dict) and isinstance(quality.get("score"), int | float):
        return float(quality["score"])
    return None


def compute_quality(
    synth: SynthDir, record: dict, class_stats: dict[int, dict] | None = None
) -> dict:
    """Score a sample from its files: output image, background copy and instance map."""
    output = read_image(synth.path(record["image"]))
    background_rel = (record.get("background") or {}).get("path")
    if not background_rel or not synth.path(background_rel).is_file():
        raise FactoryError(
            f"{synth.root / MANIFEST}: {record['id']}: background copy "
            f"{background_rel!r} not found, cannot score the sample"
        )
    background = read_image(synth.path(background_rel))
    if background.shape != output.shape:
        raise FactoryError(
            f"{synth.path(background_rel)}: background is {background.shape}, "
            f"image is {output.shape}"
        )
    stem = Path(record["image"]).stem
    mask_path = synth.root / "masks" / "train" / f"{stem}.png"
    pastes = record["pastes"]
    if mask_path.is_file():
        instance_map = read_mask(mask_path)
        # The instance map holds the defect pixels; the blended region reaches beyond them,
        # and its boundary is where a seam would be: approximate it by a dilation.
        kernel = cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * BLEND_MARGIN + 1, 2 * BLEND_MARGIN + 1)
        )
        masks = [
            cv2.dilate((instance_map == k + 1).astype(np.uint8), kernel) > 0
            for k in range(len(pastes))
        ]
    else:
        # No instance map: fall back to the final boxes as paste regions.
        masks = []
        for paste in pastes:
            m = np.zeros(output.shape[:2], bool)
            x0, y0, x1, y1 = (round(v) for v in paste["xyxy"])
            m[y0:y1, x0:x1] = True
            masks.append(m)
    stats = [class_stats.get(p["class_id"]) for p in pastes] if class_stats else None
    return score_sample(output, background, masks, class_stats=stats)


def paste_contrast_z(paste: dict, class_stats: dict[int, dict] | None) -> float | None:
    """The paste's contrast z-score: from the manifest, or from its contrast and class stats."""
    quality = paste.get("quality") or {}
    if isinstance(quality.get("contrast_z"), int | float):
        return float(quality["contrast_z"])
    if class_stats and isinstance(quality.get("contrast"), int | float):
        return contrast_zscore(float(quality["contrast"]), class_stats.get(paste["class_id"]))
    return None
