"""The defect bank: every labelled defect of the train split, cut out with a pixel mask.

Mask sources, best first (recorded per patch as ``mask_method``):

1. ``instance-mask``: the dataset's own instance mask;
2. ``reference-diff``: ``|image - clean reference|`` inside the box, cleaned morphologically
   (DeepPCB templates);
3. ``inpaint-diff``: the difference to the box inpainted from its surroundings, thresholded
   (Otsu, with a floor) and cleaned;
4. ``feathered-box``: the whole box, when nothing better separates defect from background.

Each patch keeps a crop around its box (the defect plus context, which Poisson blending needs)
and, when known, the clean context of that crop: the reference crop, or the crop with the
defect inpainted away (``context`` = ``"reference"`` / ``"inpainted"``), used by context-aware
placement. The bank is cached under ``<cache>/bank/<key>`` where the key hashes the train files
and the bank parameters, so a second run with the same data starts at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from factory.dataset.core import Dataset, ImageRecord
from factory.errors import FactoryError
from factory.io import read_image, read_mask, sha256_file, write_image, write_json

BANK_VERSION = 4
# Pixels of context kept around each box: max(CONTEXT_MIN_PX, CONTEXT_FRACTION * box side).
CONTEXT_MIN_PX = 12
CONTEXT_FRACTION = 0.35
# Grey-level difference below which a pixel is not part of the defect, whatever Otsu says.
REFERENCE_DIFF_FLOOR = 30
INPAINT_DIFF_FLOOR = 12
# An estimated mask covering less/more than this fraction of its box is not believed.
MASK_MIN_FRACTION = 0.02
MASK_MAX_FRACTION = 0.92


@dataclass(frozen=True)
class PatchInfo:
    """What the bank knows about one patch (JSON-able; pixels live in :class:`Patch`)."""

    patch_id: str
    class_id: int
    class_name: str
    source_image: str  # relative to the dataset root
    source_xyxy: tuple[int, int, int, int]  # the labelled box, integer pixels
    crop_xyxy: tuple[int, int, int, int]  # the stored crop (box plus context) in the source
    mask_method: str
    context: str | None  # "reference" | "inpainted" | None
    box_wh: tuple[int, int]
    mask_area: int
    angle_deg: float | None  # orientation of the mask's long axis, [0, 180)
    elongation: float  # sqrt of the ratio of the mask's inertia axes (1 = round)
    # Structure of the clean context: share of gradient energy within 7.5 degrees of a
    # multiple of 45 degrees (1/3 for isotropic texture), and (H - V) / (H + V) of the
    # horizontal and vertical gradient energies (+1/-1: edges run one way). None without context.
    context_axis_fraction: float | None = None
    context_hv_dominance: float | None = None
    # How far the labelled box reaches past the mask's own box, mean of the two sides, in
    # pixels (x, y): the dataset's annotation convention (DeepPCB boxes are loose).
    label_margin_xy: tuple[float, float] = (0.0, 0.0)


@dataclass
class Patch:
    info: PatchInfo
    image: np.ndarray  # the crop, grey (h, w) or BGR (h, w, 3) uint8
    mask: np.ndarray  # bool (h, w): defect pixels
    context: np.ndarray | None  # clean crop of the same size, when known


@dataclass
class Bank:
    patches: list[Patch]
    key: str
    path: Path
    skipped: dict[str, int]  # reason -> count of defects or images left out

    def by_id(self) -> dict[str, Patch]:
        return {p.info.patch_id: p for p in self.patches}


# ---- pure mask functions -------------------------------------------------------------------


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def abs_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel absolute difference, max over channels (uint8 ``(H, W)``)."""
    d = cv2.absdiff(a, b)
    return d.max(axis=2) if d.ndim == 3 else d


def clean_mask(mask: np.ndarray, *, open_px: int = 1) -> np.ndarray:
    """Remove specks and thin misregistration lines, fill pinholes; keep sizeable parts."""
    m = mask.astype(np.uint8)
    if open_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * open_px + 1,) * 2)
        opened = cv2.morphologyEx(m, cv2.MORPH_OPEN, kernel)
        if opened.any():  # a thin defect (a scratch) may not survive opening: keep it then
            m = opened
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if count <= 1:
        return m.astype(bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= max(4, 0.08 * areas.max())) + 1
    return np.isin(labels, keep)


def threshold_diff(diff: np.ndarray, inside: np.ndarray, floor: int) -> np.ndarray:
    """Pixels of ``diff`` above Otsu's threshold (computed inside ``inside``) and ``floor``."""
    values = diff[inside]
    if values.size == 0:
        return np.zeros(diff.shape, bool)
    otsu, _ = cv2.threshold(values.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return (diff > max(floor, otsu)) & inside


def box_region(shape: tuple[int, int], box_xyxy: tuple[int, int, int, int]) -> np.ndarray:
    m = np.zeros(shape, bool)
    x0, y0, x1, y1 = box_xyxy
    m[y0:y1, x0:x1] = True
    return m


def inpaint_region(image: np.ndarray, region: np.ndarray, radius: int = 5) -> np.ndarray:
    """``image`` with ``region`` (bool) filled from its surroundings (Telea)."""
    return cv2.inpaint(image, region.astype(np.uint8) * 255, radius, cv2.INPAINT_TELEA)


def mask_from_reference(crop: np.ndarray, reference: np.ndarray, box_local) -> np.ndarray:
    inside = box_region(crop.shape[:2], box_local)
    return clean_mask(threshold_diff(abs_diff(crop, reference), inside, REFERENCE_DIFF_FLOOR))


def mask_from_inpainting(crop: np.ndarray, box_local) -> tuple[np.ndarray, np.ndarray]:
    """Estimated defect pixels and the crop with the box inpainted (its clean estimate)."""
    inside = box_region(crop.shape[:2], box_local)
    clean = inpaint_region(crop, inside)
    return clean_mask(threshold_diff(abs_diff(crop, clean), inside, INPAINT_DIFF_FLOOR)), clean


def believable(mask: np.ndarray, box_local) -> bool:
    x0, y0, x1, y1 = box_local
    area = max(1, (x1 - x0) * (y1 - y0))
    return MASK_MIN_FRACTION <= mask.sum() / area <= MASK_MAX_FRACTION and mask.sum() >= 4


def orientation(mask: np.ndarray) -> tuple[float | None, float]:
    """Long-axis angle in degrees [0, 180) (image axes, y down) and elongation of a mask."""
    moments = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    if moments["m00"] < 3:
        return None, 1.0
    mu20, mu02, mu11 = moments["mu20"], moments["mu02"], moments["mu11"]
    common = math.sqrt(4 * mu11**2 + (mu20 - mu02) ** 2)
    major, minor = (mu20 + mu02 + common) / 2, (mu20 + mu02 - common) / 2
    elongation = math.sqrt(major / max(minor, 1e-6))
    angle = math.degrees(0.5 * math.atan2(2 * mu11, mu20 - mu02)) % 180.0
    return round(angle, 2), round(min(elongation, 100.0), 3)


def edge_structure(image: np.ndarray) -> tuple[float | None, float | None]:
    """``(axis_fraction, hv_dominance)`` of an image's gradients (see :class:`PatchInfo`)."""
    grey = _grey(image).astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.hypot(gx, gy)
    total = float(magnitude.sum())
    if total < 1e-3 * magnitude.size:
        return None, None
    angle = np.degrees(np.arctan2(gy, gx)) % 180.0
    to_axis = np.abs((angle + 22.5) % 45.0 - 22.5)
    axis_fraction = float(magnitude[to_axis <= 7.5].sum() / total)
    horizontal = float(magnitude[(angle <= 7.5) | (angle >= 172.5)].sum())
    vertical = float(magnitude[np.abs(angle - 90) <= 7.5].sum())
    dominance = (horizontal - vertical) / max(horizontal + vertical, 1e-6)
    return round(axis_fraction, 4), round(dominance, 4)


def label_margin_xy(mask: np.ndarray, box_local) -> tuple[float, float]:
    """Mean margin (x, y) in pixels between a labelled box and the box of its mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return (0.0, 0.0)
    x0, y0, x1, y1 = box_local
    mx = ((cols[0] - x0) + (x1 - cols[-1] - 1)) / 2
    my = ((rows[0] - y0) + (y1 - rows[-1] - 1)) / 2
    return (round(max(0.0, float(mx)), 2), round(max(0.0, float(my)), 2))


def crop_box(
    box_xyxy: tuple[int, int, int, int], width: int, height: int
) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box_xyxy
    margin = max(CONTEXT_MIN_PX, int(CONTEXT_FRACTION * max(x1 - x0, y1 - y0)))
    return (
        max(0, x0 - margin),
        max(0, y0 - margin),
        min(width, x1 + margin),
        min(height, y1 + margin),
    )


def cut_patch(
    image: np.ndarray,
    box_xyxy: tuple[int, int, int, int],
    *,
    instance_mask: np.ndarray | None = None,
    reference: np.ndarray | None = None,
) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray, str, np.ndarray | None, str | None]:
    """Cut one defect: ``(crop_xyxy, crop, mask, mask_method, context, context_kind)``.

    Pure: arrays in, arrays out. ``instance_mask`` and ``reference`` are full-image arrays.
    """
    height, width = image.shape[:2]
    cx0, cy0, cx1, cy1 = crop = crop_box(box_xyxy, width, height)
    crop_image = image[cy0:cy1, cx0:cx1].copy()
    x0, y0, x1, y1 = box_xyxy
    box_local = (x0 - cx0, y0 - cy0, x1 - cx0, y1 - cy0)
    inside = box_region(crop_image.shape[:2], box_local)
    ref_crop = None if reference is None else reference[cy0:cy1, cx0:cx1].copy()
    mask, method = None, ""
    if instance_mask is not None:
        candidate = instance_mask[cy0:cy1, cx0:cx1] & inside
        if candidate.sum() >= 1:
            mask, method = candidate, "instance-mask"
    if mask is None and ref_crop is not None:
        candidate = mask_from_reference(crop_image, ref_crop, box_local)
        if believable(candidate, box_local):
            mask, method = candidate, "reference-diff"
    inpainted = None
    if mask is None:
        candidate, inpainted = mask_from_inpainting(crop_image, box_local)
        if believable(candidate, box_local):
            mask, method = candidate, "inpaint-diff"
    if mask is None:
        mask, method = inside, "feathered-box"
    if ref_crop is not None:
        return crop, crop_image, mask, method, ref_crop, "reference"
    if method == "feathered-box":
        return crop, crop_image, mask, method, None, None
    if inpainted is None or method == "instance-mask":
        region = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        inpainted = inpaint_region(crop_image, region)
    return crop, crop_image, mask, method, inpainted, "inpainted"


# ---- building and caching ------------------------------------------------------------------


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def bank_key(dataset: Dataset, records: list[ImageRecord]) -> str:
    digest = hashlib.sha256(f"bank-v{BANK_VERSION}|{dataset.class_names}".encode())
    for record in records:
        for path in (record.image_path, record.label_path, record.mask_path, record.reference_path):
            if path is not None:
                rel = path.relative_to(dataset.root)
                digest.update(f"|{rel}:{sha256_file(path)}".encode())
    return digest.hexdigest()[:20]


def build_bank(dataset: Dataset, cache_root: Path, *, guard=None, progress=None) -> Bank:
    """Cut every train defect (or load the cached bank for identical train files)."""
    records = [r for r in dataset.split("train") if r.annotations]
    if not records:
        raise FactoryError(f"{dataset.root}: the train split has no labelled defects to cut")
    key = bank_key(dataset, records)
    path = cache_root / "bank" / key
    if (path / "index.json").is_file():
        return load_bank(path, key)
    skipped: dict[str, int] = {}
    staging = Path(tempfile.mkdtemp(prefix=".bank-", dir=_ensure(cache_root / "bank")))
    infos = []
    try:
        iterator = progress(records, "cutting defects") if progress else records
        for record in iterator:
            rel = str(record.image_path.relative_to(dataset.root))
            if guard is not None:
                try:
                    guard.check_file(record.image_path, "patch source")
                except FactoryError:
                    skipped["source is a test image or near duplicate"] = skipped.get(
                        "source is a test image or near duplicate", 0
                    ) + len(record.annotations)
                    continue
            image = record.read()
            reference = record.read_reference()
            if reference is not None and reference.shape != image.shape:
                reference = None
            masks = record.read_instance_masks()
            for k, (annotation, instance) in enumerate(zip(record.annotations, masks, strict=True)):
                x0, y0, x1, y1 = annotation.xyxy_int()
                x0, y0 = max(0, x0), max(0, y0)
                x1, y1 = min(record.width, x1), min(record.height, y1)
                if x1 - x0 < 2 or y1 - y0 < 2:
                    skipped["box smaller than 2 pixels"] = (
                        skipped.get("box smaller than 2 pixels", 0) + 1
                    )
                    continue
                crop, crop_image, mask, method, context, context_kind = cut_patch(
                    image, (x0, y0, x1, y1), instance_mask=instance, reference=reference
                )
                angle, elongation = orientation(mask)
                label_margin = label_margin_xy(
                    mask, (x0 - crop[0], y0 - crop[1], x1 - crop[0], y1 - crop[1])
                )
                patch_id = f"{_safe(record.stem)}_{k:02d}"
                axis_fraction, hv_dominance = (
                    edge_structure(context) if context is not None else (None, None)
                )
                info = PatchInfo(
                    patch_id=patch_id,
                    class_id=annotation.class_id,
                    class_name=dataset.class_names[annotation.class_id],
                    source_image=rel,
                    source_xyxy=(x0, y0, x1, y1),
                    crop_xyxy=crop,
                    mask_method=method,
                    context=context_kind,
                    box_wh=(x1 - x0, y1 - y0),
                    mask_area=int(mask.sum()),
                    angle_deg=angle,
                    elongation=elongation,
                    context_axis_fraction=axis_fraction,
                    context_hv_dominance=hv_dominance,
                    label_margin_xy=label_margin,
                )
                write_image(staging / "patches" / f"{patch_id}.png", crop_image)
                write_image(
                    staging / "patches" / f"{patch_id}_mask.png", mask.astype(np.uint8) * 255
                )
                if context is not None:
                    write_image(staging / "patches" / f"{patch_id}_context.png", context)
                infos.append(asdict(info))
        write_json(
            staging / "index.json",
            {"version": BANK_VERSION, "key": key, "skipped": skipped, "patches": infos},
        )
        # Another run on the same train files may have published this key meanwhile (two
        # synth runs started together): the content is the same, keep theirs, never delete a
        # bank another process may be reading.
        if (path / "index.json").is_file():
            shutil.rmtree(staging, ignore_errors=True)
        else:
            if path.exists():  # a leftover without index.json: not a finished bank
                shutil.rmtree(path, ignore_errors=True)
            try:
                staging.rename(path)
            except OSError:  # lost the race to publish: theirs is complete
                if not (path / "index.json").is_file():
                    raise
                shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return load_bank(path, key)


def _ensure(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def load_bank(path: Path, key: str | None = None) -> Bank:
    index = json.loads((path / "index.json").read_text())
    patches = []
    for raw in index["patches"]:
        info = PatchInfo(
            **{
                **raw,
                "source_xyxy": tuple(raw["source_xyxy"]),
                "crop_xyxy": tuple(raw["crop_xyxy"]),
                "box_wh": tuple(raw["box_wh"]),
                "label_margin_xy": tuple(raw.get("label_margin_xy", (0.0, 0.0))),
            }
        )
        folder = path / "patches"
        image = read_image(folder / f"{info.patch_id}.png")
        mask = read_mask(folder / f"{info.patch_id}_mask.png") > 0
        context = read_image(folder / f"{info.patch_id}_context.png") if info.context else None
        patches.append(Patch(info, image, mask, context))
    return Bank(patches, key or index["key"], path, dict(index.get("skipped", {})))
