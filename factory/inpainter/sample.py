"""Sampling: inpaint a defect of a class inside a mask, every pixel outside it unchanged.

``inpaint`` runs DDIM (eta 0: deterministic given the initial noise) on the model's crop
size, then resizes the result to the crop and pastes it back inside the mask only, so the
output equals the background exactly wherever the mask is False. The initial noise of each
item comes from its own seed, so an item's result does not depend on the other items of the
batch (up to floating-point differences of batched convolutions).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from factory.errors import FactoryError
from factory.inpainter.data import from_channels, resize_mask, to_channels
from factory.io import write_image
from factory.seeding import rng_for, torch_generator_for


def _check_item(crop: np.ndarray, mask: np.ndarray, index: int) -> None:
    if crop.dtype != np.uint8 or crop.ndim not in (2, 3):
        raise FactoryError(
            f"inpaint item {index}: background must be uint8 HxW or HxWx3, "
            f"got {crop.dtype} {crop.shape}"
        )
    if mask.shape != crop.shape[:2]:
        raise FactoryError(
            f"inpaint item {index}: mask is {mask.shape}, background is {crop.shape[:2]}"
        )


def inpaint(
    model,
    background_crop: np.ndarray | Sequence[np.ndarray],
    mask: np.ndarray | Sequence[np.ndarray],
    class_id: int | Sequence[int],
    seed: int | Sequence[int],
    *,
    steps: int = 25,
    batch_size: int = 16,
    device: str | None = None,
) -> np.ndarray | list[np.ndarray]:
    """Inpaint one crop (arrays in, array out) or a batch (sequences in, list out).

    ``background_crop``: uint8 ``(H, W)`` or ``(H, W, 3)``; ``mask``: bool ``(H, W)``, True
    where the defect goes; ``class_id``: index into ``model.class_names``; ``seed``: int.
    """
    import torch

    single = isinstance(background_crop, np.ndarray)
    crops = [background_crop] if single else list(background_crop)
    masks = [mask] if single else list(mask)
    count = len(crops)
    class_ids = [class_id] * count if isinstance(class_id, int | np.integer) else list(class_id)
    seeds = [seed] * count if isinstance(seed, int | np.integer) else list(seed)
    if not (len(masks) == len(class_ids) == len(seeds) == count):
        raise FactoryError("inpaint: background_crop, mask, class_id and seed differ in length")
    for index, (crop, item_mask) in enumerate(zip(crops, masks, strict=True)):
        _check_item(crop, np.asarray(item_mask), index)
    for cid in class_ids:
        if not 0 <= int(cid) < model.num_classes:
            raise FactoryError(
                f"inpaint: class id {cid} is out of range (model has {model.num_classes} classes)"
            )
    unet = model.unet
    device = device or str(next(unet.parameters()).device)
    dtype = next(unet.parameters()).dtype
    size, channels = model.config.image_size, model.config.channels
    outputs: list[np.ndarray] = []
    for start in range(0, count, batch_size):
        stop = min(count, start + batch_size)
        x0, m = [], []
        for crop, item_mask in zip(crops[start:stop], masks[start:stop], strict=True):
            small = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
            x0.append(to_channels(small, channels).astype(np.float32) / 127.5 - 1.0)
            m.append(resize_mask(np.asarray(item_mask, bool), size))
        x0_t = torch.from_numpy(np.stack(x0)).permute(0, 3, 1, 2).to(device, dtype)
        m_t = torch.from_numpy(np.stack(m)[:, None].astype(np.float32)).to(device, dtype)
        context = x0_t * (1 - m_t)
        noise = torch.stack(
            [
                torch.randn(
                    (channels, size, size), generator=torch_generator_for(int(s), "inpaint")
                )
                for s in seeds[start:stop]
            ]
        ).to(device, dtype)
        labels = torch.tensor([int(c) for c in class_ids[start:stop]], device=device)
        generated = _ddim(unet, model.ddim(), noise, context, m_t, labels, steps)
        generated = ((generated.float().clamp(-1, 1) + 1) * 127.5).round().byte()
        generated_np = generated.permute(0, 2, 3, 1).cpu().numpy()
        for offset, crop in enumerate(crops[start:stop]):
            item_mask = np.asarray(masks[start + offset], bool)
            h, w = crop.shape[:2]
            big = cv2.resize(generated_np[offset], (w, h), interpolation=cv2.INTER_LINEAR)
            big = from_channels(big.reshape(h, w, -1), crop)
            out = crop.copy()
            out[item_mask] = big[item_mask]  # paste back: outside the mask stays the background
            outputs.append(out)
    return outputs[0] if single else outputs


def _ddim(unet, scheduler, noise, context, mask, labels, steps: int):
    import torch

    scheduler.set_timesteps(steps)
    sample = noise * scheduler.init_noise_sigma
    with torch.no_grad():
        for t in scheduler.timesteps:
            model_input = torch.cat([sample, context, mask], dim=1)
            timestep = torch.full((sample.shape[0],), int(t), device=sample.device)
            eps = unet(model_input, timestep, class_labels=labels).sample
            sample = scheduler.step(eps, t, sample, eta=0.0).prev_sample
    return sample


def tile_grid(
    rows: list[list[np.ndarray]],
    *,
    cell: int = 96,
    row_labels: list[str] | None = None,
    col_labels: list[str] | None = None,
    pad: int = 4,
) -> np.ndarray:
    """A BGR mosaic of ``rows`` of images (grey or BGR, any size), each scaled to ``cell``."""
    label_w = 110 if row_labels else 0
    label_h = 22 if col_labels else 0
    n_cols = max(len(r) for r in rows)
    height = label_h + len(rows) * (cell + pad) + pad
    width = label_w + n_cols * (cell + pad) + pad
    canvas = np.full((height, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for j, text in enumerate(col_labels or []):
        x = label_w + pad + j * (cell + pad)
        cv2.putText(canvas, text[:14], (x, 15), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    for i, row in enumerate(rows):
        y = label_h + pad + i * (cell + pad)
        if row_labels:
            cv2.putText(
                canvas,
                row_labels[i][:14],
                (4, y + cell // 2),
                font,
                0.45,
                (0, 0, 0),
                1,
                cv2.LINE_AA,
            )
        for j, image in enumerate(row):
            image = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            tile = cv2.resize(image, (cell, cell), interpolation=cv2.INTER_NEAREST)
            x = label_w + pad + j * (cell + pad)
            canvas[y : y + cell, x : x + cell] = tile
    return canvas


def outline(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` in BGR with the mask's border drawn in red (for grids)."""
    bgr = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    bgr = bgr.copy()
    edge = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    bgr[edge > 0] = (0, 0, 255)
    return bgr


def save_grid(
    model,
    dataset_root: Path | str,
    out: Path | str,
    *,
    per_class: int = 6,
    seed: int = 0,
    steps: int = 25,
) -> Path:
    """Write a sample grid PNG: one row per class with a real train crop, its mask, and
    ``per_class`` generated defects in real masks of that class, each drawn on the same
    window of the paired clean reference when there is one, else on a random window of a
    clean image, else on the real crop's own context (outside the mask)."""
    from factory.dataset.core import load_dataset
    from factory.inpainter.data import load_crops

    dataset = load_dataset(dataset_root)
    config = model.config
    crops = load_crops(
        dataset,
        image_size=config.image_size,
        channels=config.channels,
        context_factor=config.context_factor,
        min_crop=config.min_crop,
        variants=1,
        seed=seed,
    )
    clean = [_read(p) for p in dataset.clean_images[:16]]
    rows, labels = [], []
    backgrounds, masks, class_ids, seeds = [], [], [], []
    for class_id, name in enumerate(model.class_names):
        indices = np.flatnonzero(crops.class_ids == class_id)
        if len(indices) == 0:
            continue
        rng = rng_for(seed, "grid", name)
        first = int(indices[0])
        real = _plain(crops.images[first])
        rows.append([real, outline(real, crops.masks[first])])
        labels.append(name)
        for k in range(per_class):
            pick = int(rng.choice(indices))
            mask = crops.masks[pick]
            if crops.references[pick] is not None:
                # The same window of the clean reference: the defect is re-drawn where the
                # real one was, on the defect-free version of that spot.
                background = _plain(crops.references[pick])
            elif clean:
                image = clean[int(rng.integers(len(clean)))]
                side = min((*image.shape[:2], config.image_size * 2))
                top = int(rng.integers(0, image.shape[0] - side + 1))
                left = int(rng.integers(0, image.shape[1] - side + 1))
                background = cv2.resize(
                    image[top : top + side, left : left + side],
                    (config.image_size,) * 2,
                    interpolation=cv2.INTER_AREA,
                )
            else:
                background = _plain(crops.images[pick])
            if config.channels == 1 and background.ndim == 3:
                background = cv2.cvtColor(background, cv2.COLOR_BGR2GRAY)
            backgrounds.append(background)
            masks.append(mask)
            class_ids.append(class_id)
            seeds.append(int(rng.integers(2**31)) + k)
    if not rows:
        raise FactoryError(f"{dataset_root}: no train defect of the model's classes to show")
    generated = inpaint(model, backgrounds, masks, class_ids, seeds, steps=steps)
    for i in range(len(rows)):
        rows[i].extend(generated[i * per_class : (i + 1) * per_class])
    columns = ["real", "mask", *[f"gen {k + 1}" for k in range(per_class)]]
    grid = tile_grid(rows, row_labels=labels, col_labels=columns)
    write_image(out, grid)
    return Path(out)


def _read(path: Path) -> np.ndarray:
    from factory.io import read_image

    return read_image(path)


def _plain(image_hwc: np.ndarray) -> np.ndarray:
    return image_hwc[:, :, 0] if image_hwc.shape[2] == 1 else image_hwc
