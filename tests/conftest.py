"""Shared fixtures: tiny generated datasets (64x64 images, a few boxes, exact masks)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from factory.dataset import Annotation, DatasetWriter

os.environ.setdefault("FACTORY_NO_PROGRESS", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")

TINY_CLASSES = ["particle", "scratch", "stain"]


def tiny_background(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A textured grey image with a few horizontal 'traces'."""
    image = np.full((size, size), 110, np.uint8)
    for y in range(6, size, 16):
        image[y : y + 4, :] = 170
    noise = rng.normal(0, 4, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def paint_defect(image: np.ndarray, class_id: int, x: int, y: int, size: int):
    """Paint a defect whose pixels are exactly known; return (box, mask)."""
    mask = np.zeros(image.shape[:2], bool)
    if class_id == 0:  # dark disc
        yy, xx = np.ogrid[: image.shape[0], : image.shape[1]]
        mask = (yy - y - size // 2) ** 2 + (xx - x - size // 2) ** 2 <= (size // 2) ** 2
        value = 20
    elif class_id == 1:  # thin bright bar
        mask[y : y + 2, x : x + size] = True
        value = 250
    else:  # dark square
        mask[y : y + size, x : x + size] = True
        value = 50
    image[mask] = value
    ys, xs = np.nonzero(mask)
    box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    return box, mask


def make_tiny_dataset(
    out: Path,
    *,
    per_split: dict[str, int] | None = None,
    seed: int = 0,
    lock: bool = True,
    clean: int = 4,
    with_masks: bool = True,
) -> Path:
    """Write a small locked dataset with every class in every split."""
    per_split = per_split or {"train": 9, "val": 3, "test": 3}
    rng = np.random.default_rng(seed)
    with DatasetWriter(out, TINY_CLASSES) as writer:
        index = 0
        for split, count in per_split.items():
            for _ in range(count):
                image = tiny_background(rng)
                class_id = index % len(TINY_CLASSES)
                x, y = (int(v) for v in rng.integers(8, 44, size=2))
                box, mask = paint_defect(image, class_id, x, y, 10)
                writer.add_image(
                    split,
                    f"img_{index:03d}",
                    image,
                    [Annotation(class_id, box)],
                    instance_masks=[mask] if with_masks else None,
                )
                index += 1
        for k in range(clean):
            writer.add_clean(f"clean_{k:02d}", tiny_background(rng))
        writer.publish(metadata={"source": {"format": "tiny-test"}}, lock_test=lock)
    return out


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    return make_tiny_dataset(tmp_path / "tiny")


@pytest.fixture
def env(tmp_path: Path, monkeypatch) -> Path:
    """A tmp folder that is also the outputs root (caches, default outputs)."""
    monkeypatch.setenv("FACTORY_OUTPUTS", str(tmp_path / "outputs"))
    return tmp_path


@pytest.fixture
def tiny(env: Path) -> Path:
    """The synth tests' dataset: 12 labelled train images, backgrounds clean/clean_00..03.png."""
    return make_tiny_dataset(env / "tiny", per_split={"train": 12, "val": 3, "test": 3})
