"""Plan, render and publish the demo die-inspection dataset.

The plan (which classes go on which image of which split) is decided first from the seed;
each image is then rendered from its own generators ``rng_for(seed, "demo", split, index, ...)``,
so every image depends only on the seed and its own name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from factory.dataset import Annotation, DatasetWriter
from factory.dataset.hashing import NEAR_DUPLICATE_BITS, hamming, phash
from factory.demo.functional import (
    capture,
    changed_mask,
    defect_footprint,
    mask_to_xyxy,
    orient,
    paint_defect,
    render_die,
)
from factory.demo.params import CLASS_NAMES, DieLayout
from factory.demo.sampling import SAMPLERS, sample_capture, sample_layout
from factory.errors import FactoryError
from factory.progress import track
from factory.seeding import rng_for

# Painting order inside one image: large or context-bound defects first, while there is room.
PAINT_ORDER = ("stain", "bridge", "open", "scratch", "particle")
MAX_LAYOUT_ATTEMPTS = 30
MAX_PLACEMENT_TRIES = 40
_CLOSE_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and class mix of the demo dataset (defaults documented in the README)."""

    image_size: int = 256
    train_images: int = 144
    val_images: int = 40
    test_images: int = 50
    clean_images: int = 80
    # Train instances per class: deliberately unbalanced (particle common, open rare).
    train_class_counts: dict[str, int] = field(
        default_factory=lambda: {
            "particle": 130,
            "scratch": 72,
            "bridge": 29,
            "open": 23,
            "stain": 34,
        }
    )
    val_per_class: int = 12
    test_per_class: int = 20
    max_defects_per_image: int = 3
    # A pixel belongs to a defect's mask when the defect changed it by this many grey levels.
    change_tolerance: int = 4
    min_mask_pixels: int = 20
    min_box_side: int = 4
    # Images of different splits must differ in more hash bits than this (audit near-dups).
    min_hash_bits: int = NEAR_DUPLICATE_BITS + 4

    def __post_init__(self) -> None:
        if set(self.train_class_counts) != set(CLASS_NAMES):
            raise FactoryError(
                f"demo config: train_class_counts must name {', '.join(CLASS_NAMES)}, "
                f"got {', '.join(self.train_class_counts)}"
            )
        for split, images, instances in self._split_totals():
            if not images <= instances <= images * self.max_defects_per_image:
                raise FactoryError(
                    f"demo config: {split} has {images} images for {instances} defects "
                    f"(need 1 to {self.max_defects_per_image} per image)"
                )

    def _split_totals(self) -> list[tuple[str, int, int]]:
        n = len(CLASS_NAMES)
        return [
            ("train", self.train_images, sum(self.train_class_counts.values())),
            ("val", self.val_images, self.val_per_class * n),
            ("test", self.test_images, self.test_per_class * n),
        ]

    def class_counts(self, split: str) -> dict[str, int]:
        if split == "train":
            return {name: self.train_class_counts[name] for name in CLASS_NAMES}
        per_class = self.val_per_class if split == "val" else self.test_per_class
        return dict.fromkeys(CLASS_NAMES, per_class)

    def images(self, split: str) -> int:
        return {"train": self.train_images, "val": self.val_images, "test": self.test_images}[split]


@dataclass
class DemoSample:
    """One rendered die: the photograph, its clean reference, boxes and exact masks."""

    image: np.ndarray
    reference: np.ndarray
    annotations: list[Annotation]
    masks: list[np.ndarray]
    layout: DieLayout


def plan_split(seed: int, split: str, config: DemoConfig) -> list[list[str]]:
    """Class names of the defects on each image of a split (exact per-class counts)."""
    counts = config.class_counts(split)
    n_images = config.images(split)
    rng = rng_for(seed, "demo", "plan", split)
    labels = [name for name in CLASS_NAMES for _ in range(counts[name])]
    labels = [labels[i] for i in rng.permutation(len(labels))]
    per_image = np.ones(n_images, int)
    for _ in range(len(labels) - n_images):
        open_slots = np.flatnonzero(per_image < config.max_defects_per_image)
        per_image[open_slots[int(rng.integers(len(open_slots)))]] += 1
    plan, start = [], 0
    for count in per_image:
        chosen = labels[start : start + count]
        plan.append(sorted(chosen, key=PAINT_ORDER.index))
        start += count
    return plan


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def _render_clean(rng: np.random.Generator, size: int):
    layout = sample_layout(rng, (size, size))
    illumination, sensor = sample_capture(rng, (size, size))
    reflectance, under = render_die(layout)

    def shoot(values: np.ndarray) -> np.ndarray:
        return capture(orient(values, layout.transpose), illumination, sensor)

    return layout, reflectance, under, shoot


def render_sample(
    seed: int, key: tuple, classes: list[str], config: DemoConfig, attempt: int
) -> DemoSample | None:
    """Render one die with the given defects; ``None`` when its layout cannot host them."""
    size = config.image_size
    layout, reflectance, under, shoot = _render_clean(
        rng_for(seed, "demo", *key, "layout", attempt), size
    )
    reference = shoot(reflectance)
    rng = rng_for(seed, "demo", *key, "defects", attempt)
    image = reference
    occupied = np.zeros((size, size), bool)
    annotations, masks = [], []
    for name in classes:
        for _ in range(MAX_PLACEMENT_TRIES):
            params = SAMPLERS[name](rng, layout)
            if params is None:
                return None
            footprint = defect_footprint((size, size), params) > 0.02
            if (footprint & occupied).any():
                continue
            painted = paint_defect(reflectance, under, params)
            after = shoot(painted)
            near = orient(_dilate(footprint, 3), layout.transpose)
            mask = changed_mask(image, after, config.change_tolerance) & near
            # Close pin holes where a change crosses zero (groove next to its bright shoulder).
            mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, _CLOSE_KERNEL) > 0
            mask &= near
            if mask.sum() < config.min_mask_pixels:
                continue
            xyxy = mask_to_xyxy(mask)
            if min(xyxy[2] - xyxy[0], xyxy[3] - xyxy[1]) < config.min_box_side:
                continue
            reflectance, image = painted, after
            occupied |= _dilate(footprint, 6)
            annotations.append(Annotation(CLASS_NAMES.index(name), xyxy))
            masks.append(mask)
            break
        else:
            return None
    return DemoSample(image, reference, annotations, masks, layout)


class _HashGuard:
    """Keeps images of different splits (and the clean pool) from being near duplicates."""

    def __init__(self, min_bits: int):
        self.min_bits = min_bits
        self.hashes: list[int] = []

    def accept(self, image: np.ndarray) -> bool:
        value = phash(image)
        if any(hamming(value, other) < self.min_bits for other in self.hashes):
            return False
        self.hashes.append(value)
        return True


def generate_demo(
    out: Path | str,
    *,
    seed: int = 0,
    overwrite: bool = False,
    config: DemoConfig | None = None,
) -> Path:
    """Write the demo die-inspection dataset to ``out`` (split, test-locked) and return ``out``.

    Five classes (particle, scratch, bridge, open, stain) with exact boxes and instance masks,
    a paired clean reference per image, a pool of clean dies, an unbalanced train split and
    class-balanced val and test splits. Same ``seed`` => byte-identical files.
    """
    config = config or DemoConfig()
    out = Path(out)
    guard = _HashGuard(config.min_hash_bits)
    counts: dict[str, dict[str, int]] = {}
    with DatasetWriter(out, list(CLASS_NAMES), overwrite=overwrite) as writer:
        # Test first, so that everything else is kept away from it.
        for split in ("test", "val", "train"):
            plan = plan_split(seed, split, config)
            counts[split] = dict.fromkeys(CLASS_NAMES, 0)
            for index, classes in enumerate(track(plan, f"demo {split}", total=len(plan))):
                sample = _render_until_placed(seed, (split, index), classes, config, guard)
                writer.add_image(
                    split,
                    f"die_{split}_{index:04d}",
                    sample.image,
                    sample.annotations,
                    instance_masks=sample.masks,
                    reference=sample.reference,
                )
                for name in classes:
                    counts[split][name] += 1
        for index in track(range(config.clean_images), "demo clean", total=config.clean_images):
            for attempt in range(MAX_LAYOUT_ATTEMPTS):
                rng = rng_for(seed, "demo", "clean", index, "layout", attempt)
                _, reflectance, _, shoot = _render_clean(rng, config.image_size)
                image = shoot(reflectance)
                if guard.accept(image):
                    break
            else:
                raise FactoryError(f"demo: could not render a distinct clean die {index}")
            writer.add_clean(f"clean_{index:04d}", image)
        config_json = asdict(config)
        writer.publish(
            metadata={
                "source": {"format": "demo", "generator": "factory.demo", "seed": seed},
                "notes": (
                    "Procedural die-inspection demo data: greyscale 256x256 dies, exact instance "
                    "masks (pixels changed by >= change_tolerance grey levels), paired clean "
                    "references (same die and sensor noise, before the defects were painted)."
                ),
                "demo": {"config": config_json, "class_counts": counts},
            },
            lock_test=True,
        )
    return out


def _render_until_placed(
    seed: int, key: tuple, classes: list[str], config: DemoConfig, guard: _HashGuard
) -> DemoSample:
    for attempt in range(MAX_LAYOUT_ATTEMPTS):
        sample = render_sample(seed, key, classes, config, attempt)
        if sample is not None and guard.accept(sample.image):
            return sample
    raise FactoryError(
        f"demo: could not place {', '.join(classes)} on image {'/'.join(map(str, key))} "
        f"after {MAX_LAYOUT_ATTEMPTS} layouts"
    )
