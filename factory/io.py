"""File-system helpers: image I/O with clear errors, hashing, atomic output folders."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from factory.errors import FactoryError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))


def read_image(path: Path | str) -> np.ndarray:
    """Read an image as uint8: ``(H, W)`` for greyscale files, ``(H, W, 3)`` BGR otherwise.

    Alpha is dropped; 16-bit images are scaled to 8 bits.
    """
    path = Path(path)
    if not path.is_file():
        raise FactoryError(f"{path}: image file not found")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise FactoryError(f"{path}: cannot read image (corrupt or unsupported format)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise FactoryError(f"{path}: unsupported pixel type {image.dtype} (expected 8 or 16 bit)")
    if image.ndim == 3:
        if image.shape[2] == 4:
            image = image[:, :, :3]
        elif image.shape[2] == 1:
            image = image[:, :, 0]
        if image.ndim == 3 and _is_grey_bgr(image):
            image = np.ascontiguousarray(image[:, :, 0])
    return image


def _is_grey_bgr(image: np.ndarray) -> bool:
    """Greyscale JPEGs are sometimes stored as three identical channels."""
    return bool(np.array_equal(image[:, :, 0], image[:, :, 1])) and bool(
        np.array_equal(image[:, :, 1], image[:, :, 2])
    )


def read_mask(path: Path | str) -> np.ndarray:
    """Read a single-channel mask or instance map exactly as stored (uint8 or uint16)."""
    path = Path(path)
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else np.empty(0, np.uint8)
    mask = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if mask is None:
        raise FactoryError(f"{path}: cannot read mask (missing, corrupt or unsupported format)")
    if mask.ndim == 3:
        mask = mask[:, :, 0]
    return mask


def write_image(path: Path | str, image: np.ndarray) -> None:
    """Write an array as an image; PNG bytes are a pure function of the array."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower() or ".png"
    params = PNG_PARAMS if suffix == ".png" else []
    ok, encoded = cv2.imencode(suffix, image, params)
    if not ok:
        raise FactoryError(f"{path}: could not encode image")
    path.write_bytes(encoded.tobytes())


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: Path | str, data: object) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def check_output_dir(out: Path, *, overwrite: bool) -> None:
    """Fail fast when ``out`` holds something and the user did not ask to replace it."""
    if out.exists() and not out.is_dir():
        raise FactoryError(f"{out}: output path exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FactoryError(f"{out}: output folder is not empty (pass --overwrite to replace it)")


@contextlib.contextmanager
def atomic_output_dir(out: Path | str, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; move it into place only if the block succeeds.

    On any error the temporary folder is removed and ``out`` is left as it was.
    """
    out = Path(out)
    check_output_dir(out, overwrite=overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    publish_dir(staging, out)


def publish_dir(staging: Path, out: Path) -> None:
    """Replace ``out`` by ``staging`` with renames on one file system."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        if old.exists():
            shutil.rmtree(old)
        out.rename(old)
    staging.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
