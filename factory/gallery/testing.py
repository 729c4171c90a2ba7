"""A small stand-in for ``factory synth`` output, for tests and the gallery benchmark.

:func:`make_fake_synth` writes a folder that follows the synth output contract (canonical
dataset + ``masks/train/syn_*.png`` + ``manifest.jsonl`` + ``sources/`` + ``summary.json``)
by pasting real train defects of a source dataset onto clean images with a hard alpha paste
or OpenCV Poisson blending. It is deliberately simple: it exists so that the gallery and
prune can be built and tested without the real engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from factory.dataset import Annotation, DatasetWriter, load_dataset
from factory.io import read_image, write_image, write_json
from factory.quality import score_sample
from factory.seeding import rng_for


def make_fake_synth(
    source: Path,
    out: Path,
    *,
    samples: int = 12,
    seed: int = 0,
    pastes_range: tuple[int, int] = (1, 2),
    class_names: list[str] | None = None,
    with_quality: bool = True,
    background_size: int | None = None,
    blends: tuple[str, ...] = ("alpha", "poisson-normal"),
) -> Path:
    """Write a fake synth output folder at ``out`` from the train split of ``source``.

    ``class_names`` renames the classes in the output's ``data.yaml`` and manifest (to test
    escaping); ``background_size`` makes procedural square backgrounds of that size instead
    of using the source's clean pool; ``with_quality=False`` leaves quality out of the
    manifest so that the gallery must compute it.
    """
    source = Path(source)
    dataset = load_dataset(source, verify_lock=False)
    names = list(class_names or dataset.class_names)
    bank = _patch_bank(dataset)
    if not bank:
        raise ValueError(f"{source}: no train defects to paste")
    backgrounds = (
        []
        if background_size
        else [(p, read_image(p)) for p in dataset.clean_images]
        or [(r.image_path, r.read()) for r in dataset.split("train")[:2]]
    )
    records = []
    with DatasetWriter(out, names, overwrite=True) as writer:
        for record in dataset.images:
            masks = record.read_instance_masks()
            writer.add_image(
                record.split,
                record.stem,
                record.image_path,
                record.annotations,
                instance_masks=masks if any(m is not None for m in masks) else None,
            )
        staging = writer.staging
        for index in range(samples):
            rng = rng_for(seed, "fake-synth", index)
            sample_id = f"syn_{index:06d}"
            if background_size:
                bg_rel_source = f"procedural/{index % 4}"
                background = _procedural_background(rng_for(seed, "bg", index % 4), background_size)
                bg_id = f"bg_{index % 4:03d}"
            else:
                bg_path, background = backgrounds[index % len(backgrounds)]
                bg_rel_source = str(bg_path.relative_to(source))
                bg_id = f"bg_{index % len(backgrounds):03d}"
            bg_copy = staging / "sources" / "backgrounds" / f"{bg_id}.png"
            if not bg_copy.exists():
                write_image(bg_copy, background)
            output = background.copy()
            count = int(rng.integers(pastes_range[0], pastes_range[1] + 1))
            pastes, annotations, masks = [], [], []
            for k in range(count):
                patch = bank[int(rng.integers(len(bank)))]
                blend = blends[(index + k) % len(blends)]
                placed = _paste(output, patch, blend, rng)
                if placed is None:
                    continue
                output, paste_mask, xyxy = placed
                patch_file = staging / "sources" / "patches" / f"{patch['id']}.png"
                if not patch_file.exists():
                    write_image(patch_file, patch["image"])
                    write_image(patch_file.with_name(f"{patch['id']}_mask.png"), patch["mask"])
                pastes.append(
                    {
                        "class": names[patch["class_id"]],
                        "class_id": patch["class_id"],
                        "patch_id": patch["id"],
                        "source_image": patch["source_image"],
                        "source_xyxy": patch["source_xyxy"],
                        "patch_path": f"sources/patches/{patch['id']}.png",
                        "patch_mask_path": f"sources/patches/{patch['id']}_mask.png",
                        "mask_method": patch["mask_method"],
                        "transform": {"scale": 1.0, "rotate": 0, "flip": False},
                        "blend": blend,
                        "placement": "random",
                        "xyxy": xyxy,
                    }
                )
                annotations.append(Annotation(patch["class_id"], tuple(xyxy)))
                masks.append(paste_mask)
            if not pastes:
                continue
            if with_quality:
                quality = score_sample(output, background, masks)
                for paste, paste_quality in zip(pastes, quality["pastes"], strict=True):
                    paste["quality"] = paste_quality
                quality = {k: v for k, v in quality.items() if k != "pastes"}
            writer.add_image("train", sample_id, output, annotations, instance_masks=masks)
            record = {
                "id": sample_id,
                "image": f"images/train/{sample_id}.png",
                "seed": int(rng_for(seed, "fake-seed", index).integers(2**31)),
                "background": {
                    "id": bg_id,
                    "kind": "clean",
                    "source": bg_rel_source,
                    "path": f"sources/backgrounds/{bg_id}.png",
                },
                "pastes": pastes,
            }
            if with_quality:
                record["quality"] = quality
            records.append(record)
        manifest = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
        (staging / "manifest.jsonl").write_text(manifest)
        counts = {n: 0 for n in names}
        for r in records:
            for p in r["pastes"]:
                counts[p["class"]] += 1
        write_json(
            staging / "summary.json",
            {
                "dataset_root": str(source.resolve()),
                "synthetic_images": len(records),
                "synthetic_instances_per_class": counts,
                "options": {"seed": seed, "method": "fake"},
            },
        )
        (staging / "synth_report.md").write_text("# fake synth\n")
        writer.publish(metadata=dict(dataset.metadata), lock_test=dataset.is_locked)
    return out


def _procedural_background(rng: np.random.Generator, size: int) -> np.ndarray:
    image = np.full((size, size), 110, np.float32)
    for y in range(8, size, 24):
        image[y : y + 6, :] = 165
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _patch_bank(dataset) -> list[dict]:
    bank = []
    for record in dataset.split("train"):
        image = record.read()
        masks = record.read_instance_masks()
        for k, (annotation, mask) in enumerate(zip(record.annotations, masks, strict=True)):
            x0, y0, x1, y1 = annotation.xyxy_int()
            margin = 3
            x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
            x1, y1 = min(record.width, x1 + margin), min(record.height, y1 + margin)
            if mask is None:
                patch_mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
                patch_mask[margin:-margin, margin:-margin] = 255
                method = "box"
            else:
                patch_mask = mask[y0:y1, x0:x1].astype(np.uint8) * 255
                method = "instance"
            bank.append(
                {
                    "id": f"{record.stem}_{k:02d}",
                    "class_id": annotation.class_id,
                    "image": image[y0:y1, x0:x1].copy(),
                    "mask": patch_mask,
                    "source_image": str(record.image_path.relative_to(dataset.root)),
                    "source_xyxy": [float(v) for v in annotation.xyxy],
                    "mask_method": method,
                }
            )
    return bank


def _paste(output: np.ndarray, patch: dict, blend: str, rng: np.random.Generator):
    """Paste ``patch`` at a random place; returns (output, paste mask, changed-pixel box)."""
    image, mask = patch["image"], patch["mask"] > 0
    if output.ndim == 3 and image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if output.ndim == 2 and image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    ph, pw = mask.shape
    h, w = output.shape[:2]
    if ph + 4 >= h or pw + 4 >= w:
        return None
    x = int(rng.integers(2, w - pw - 2))
    y = int(rng.integers(2, h - ph - 2))
    paste_mask = np.zeros((h, w), bool)
    if blend.startswith("poisson"):
        # Poisson needs the whole patch rectangle as its region so the boundary lies in context.
        region = np.full((ph, pw), 255, np.uint8)
        flag = cv2.MIXED_CLONE if blend == "poisson-mixed" else cv2.NORMAL_CLONE
        src = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        dst = output if output.ndim == 3 else cv2.cvtColor(output, cv2.COLOR_GRAY2BGR)
        center = (x + pw // 2, y + ph // 2)
        blended = cv2.seamlessClone(src, dst, region, center, flag)
        result = blended if output.ndim == 3 else cv2.cvtColor(blended, cv2.COLOR_BGR2GRAY)
        paste_mask[y : y + ph, x : x + pw] = True
    else:
        result = output.copy()
        result[y : y + ph, x : x + pw][mask] = image[mask]
        paste_mask[y : y + ph, x : x + pw] = mask
    diff = np.abs(result.astype(np.int16) - output.astype(np.int16))
    if diff.ndim == 3:
        diff = diff.max(axis=2)
    changed = (diff > 6) & paste_mask
    if changed.sum() < 3:
        return None
    ys, xs = np.nonzero(changed)
    xyxy = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
    return result, paste_mask, xyxy
