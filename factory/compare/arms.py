"""Arms and settings: which images each training sees, as folders of symlinks.

Nothing is copied or modified: every arm is a small folder under the run directory with
``images/train`` and ``labels/train`` symlinks to the real and synthetic files, a
``train.txt`` list of exactly ``epoch_size`` entries (see :mod:`factory.compare.budget`)
and a ``data.yaml`` whose ``val`` is the real val split (also symlinked, so ultralytics'
label cache lands in the run folder, never in an input dataset). The test split is not
given to ultralytics at all; only :mod:`factory.compare.evaluate` reads it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from factory.compare.budget import Budget, epoch_list
from factory.dataset import Dataset, ImageRecord, load_dataset
from factory.errors import FactoryError
from factory.io import sha256_file
from factory.seeding import rng_for

REAL_ARM = "real"
SYNTHETIC_ONLY_ARM = "synthetic-only"


@dataclass(frozen=True)
class SyntheticSet:
    """The synthetic images (``syn_*``) of one synth output folder."""

    name: str
    root: Path
    images: tuple[Path, ...]
    labels: tuple[Path | None, ...]
    summary: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)


def load_synthetic_set(name: str, root: Path, real: Dataset) -> SyntheticSet:
    """Read a ``factory synth`` output and check it shares the real dataset's test lock."""
    synth = load_dataset(root)
    real_files = (real.test_lock or {}).get("files")
    synth_files = (synth.test_lock or {}).get("files")
    if synth_files != real_files:
        raise FactoryError(
            f"{root}: synthetic set does not carry the test lock of {real.root} "
            "(was it made from another dataset or split?)"
        )
    records = [r for r in synth.split("train") if r.stem.startswith("syn_")]
    if not records:
        raise FactoryError(f"{root}: no synthetic images (images/train/syn_*) in this folder")
    summary_path = root / "summary.json"
    summary = {}
    if summary_path.is_file():
        import json

        try:
            summary = json.loads(summary_path.read_text())
        except json.JSONDecodeError:
            summary = {}
    return SyntheticSet(
        name=name,
        root=root,
        images=tuple(r.image_path for r in records),
        labels=tuple(r.label_path for r in records),
        summary=summary,
    )


@dataclass(frozen=True)
class Setting:
    """One point of the sweep: real-data size, synthetic ratio, image size, and the budget
    when that is swept (``None`` otherwise, so unswept runs keep their keys)."""

    real_count: float | None  # None: all; < 1: fraction; else a count
    synthetic_ratio: float | None  # None: every synthetic image of the set
    imgsz: int
    images_seen: int | None = None

    @property
    def key(self) -> str:
        real = "all" if self.real_count is None else f"{self.real_count:g}"
        ratio = "all" if self.synthetic_ratio is None else f"{self.synthetic_ratio:g}"
        key = f"real-{real}_ratio-{ratio}_img-{self.imgsz}"
        return key if self.images_seen is None else f"{key}_seen-{self.images_seen}"

    @property
    def real_arm_setting(self) -> Setting:
        """Where the real arm of this setting is trained: the real arm does not depend on the
        synthetic ratio, so every ratio of a sweep shares the one trained at ratio ``all``."""
        return dataclasses.replace(self, synthetic_ratio=None)

    def as_dict(self) -> dict:
        out = {
            "key": self.key,
            "real_count": self.real_count,
            "synthetic_ratio": self.synthetic_ratio,
            "imgsz": self.imgsz,
        }
        if self.images_seen is not None:
            out["images_seen"] = self.images_seen
        return out


def real_subset(train: list[ImageRecord], count: float | None, seed: int) -> list[ImageRecord]:
    """A deterministic subset of the real train split; smaller subsets nest in larger ones."""
    if count is None:
        return list(train)
    size = round(len(train) * count) if count < 1 else int(count)
    if count <= 0 or size < 1:
        raise FactoryError(f"--real-count: {count:g} selects no image (train has {len(train)})")
    if size > len(train):
        raise FactoryError(
            f"--real-count: {size} real images asked, the train split has only {len(train)}"
        )
    ordered = sorted(train, key=lambda r: r.key)
    order = rng_for(seed, "real-subset").permutation(len(ordered))
    return sorted((ordered[i] for i in order[:size]), key=lambda r: r.key)


def synthetic_subset(
    synthetic: SyntheticSet, ratio: float | None, num_real: int, seed: int
) -> list[int]:
    """Indices of the synthetic images used: ``round(ratio * num_real)`` of them (nested)."""
    if ratio is None:
        return list(range(len(synthetic)))
    if ratio < 0:
        raise FactoryError(f"--synthetic-ratio must be positive, got {ratio:g}")
    size = min(len(synthetic), round(ratio * num_real))
    order = rng_for(seed, "synthetic-subset", synthetic.name).permutation(len(synthetic))
    return sorted(int(i) for i in order[:size])


@dataclass(frozen=True)
class Arm:
    """The training images of one arm (image path, label path or None)."""

    name: str
    real: tuple[tuple[Path, Path | None], ...]
    synthetic: tuple[tuple[Path, Path | None], ...]
    synthetic_set: str | None = None

    @property
    def size(self) -> int:
        return len(self.real) + len(self.synthetic)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "real_images": len(self.real),
            "synthetic_images": len(self.synthetic),
            "synthetic_set": self.synthetic_set,
        }


def make_arms(
    real_records: list[ImageRecord],
    synthetic_sets: list[SyntheticSet],
    ratio: float | None,
    seed: int,
    *,
    synthetic_only: bool,
) -> list[Arm]:
    real = tuple((r.image_path, r.label_path) for r in real_records)
    arms = [Arm(REAL_ARM, real, ())]
    for synthetic in synthetic_sets:
        chosen = synthetic_subset(synthetic, ratio, len(real), seed)
        pairs = tuple((synthetic.images[i], synthetic.labels[i]) for i in chosen)
        arms.append(Arm(f"real+{synthetic.name}", real, pairs, synthetic.name))
    if synthetic_only and synthetic_sets:
        first = synthetic_sets[0]
        chosen = synthetic_subset(first, ratio, len(real), seed)
        pairs = tuple((first.images[i], first.labels[i]) for i in chosen)
        arms.append(Arm(SYNTHETIC_ONLY_ARM, (), pairs, first.name))
    return arms


def check_no_test_files(arm: Arm, dataset: Dataset) -> None:
    """Refuse an arm that trains on a locked test image (byte-identical file)."""
    digests = {d for rel, d in dataset.test_lock["files"].items() if rel.startswith("images/")}
    for image, _ in (*arm.real, *arm.synthetic):
        if sha256_file(image) in digests:
            raise FactoryError(f"{image}: arm {arm.name} would train on a locked test image")


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(Path(target).resolve(), link)


def link_split(records: list[ImageRecord], folder: Path, split: str) -> Path:
    """Symlink ``records`` (images and labels) as ``folder/images/split``; return that folder."""
    for record in records:
        _link(record.image_path, folder / "images" / split / record.image_path.name)
        if record.label_path is not None:
            _link(record.label_path, folder / "labels" / split / f"{record.stem}.txt")
    return folder / "images" / split


def build_arm_dir(
    arm: Arm,
    folder: Path,
    *,
    budget: Budget,
    val_images: Path,
    class_names: list[str],
    seed: int,
    setting_key: str,
) -> Path:
    """Write the arm's symlinks, its ``train.txt`` of ``budget.epoch_size`` lines and its
    ``data.yaml``; return the yaml path."""
    folder = folder.resolve()
    entries = []
    for prefix, pairs in (("r_", arm.real), ("s_", arm.synthetic)):
        for image, label in pairs:
            name = f"{prefix}{image.stem}"
            link = folder / "images" / "train" / f"{name}{image.suffix}"
            _link(image, link)
            if label is not None:
                _link(label, folder / "labels" / "train" / f"{name}.txt")
            entries.append(str(link))
    entries.sort()
    rng = rng_for(seed, "epoch-list", setting_key, arm.name)
    lines = epoch_list(entries, budget.epoch_size, rng)
    (folder / "train.txt").write_text("\n".join(lines) + "\n")
    data = {
        "path": str(folder),
        "train": str(folder / "train.txt"),
        "val": str(Path(val_images).resolve()),
        "names": dict(enumerate(class_names)),
    }
    yaml_path = folder / "data.yaml"
    yaml_path.write_text(yaml.safe_dump(data, sort_keys=False))
    return yaml_path
