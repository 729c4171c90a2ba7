"""How synthetic images are encoded: like the source train images (PNG, or JPEG at the
source's quality), so that a detector cannot tell synthetic from real by the absence of
compression artefacts.

``encode_image`` is pure and byte-deterministic (``cv2.imencode`` with fixed parameters).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from factory.errors import FactoryError
from factory.io import PNG_PARAMS  # same PNG bytes as every other writer

IMAGE_FORMATS = ("auto", "png", "jpg")
SUFFIXES = {"png": ".png", "jpg": ".jpg"}
# Used when a JPEG source's quantisation tables cannot be read.
DEFAULT_JPEG_QUALITY = 95
# Quality is estimated from this many source images (sorted by path: deterministic).
QUALITY_SAMPLE = 16
# The IJG standard luminance quantisation table (natural order), quality 50.
STANDARD_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    np.int64,
).ravel()


def ijg_table(quality: int) -> np.ndarray:
    """The luminance table libjpeg writes at ``quality`` (1..100)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((STANDARD_LUMA * scale + 50) // 100, 1, 255)


def quality_from_table(table) -> int:
    """The IJG quality whose luminance table is closest to ``table`` (64 values, any order:
    sorted values are compared, so zigzag and natural order give the same answer)."""
    observed = np.sort(np.asarray(list(table), np.int64))
    if observed.size != 64:
        raise ValueError(f"a JPEG quantisation table has 64 values, got {observed.size}")
    errors = [np.abs(np.sort(ijg_table(q)) - observed).sum() for q in range(1, 101)]
    return int(np.argmin(errors)) + 1


def jpeg_quality(path: Path) -> int | None:
    """Estimated quality of one JPEG file, None when its tables cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            tables = getattr(image, "quantization", None) or {}
            return quality_from_table(tables[0]) if 0 in tables else None
    except (OSError, ValueError):
        return None


def source_encoding(image_paths: list[Path]) -> tuple[str, int | None]:
    """``(format, jpeg_quality)`` of the dominant format of ``image_paths`` ("png" for
    anything that is not JPEG); the quality is the median estimate of up to
    :data:`QUALITY_SAMPLE` of the JPEG files, :data:`DEFAULT_JPEG_QUALITY` if none reads."""
    kinds = Counter("jpg" if p.suffix.lower() in (".jpg", ".jpeg") else "png" for p in image_paths)
    if not kinds or kinds["jpg"] <= kinds["png"]:
        return "png", None
    jpegs = sorted(p for p in image_paths if p.suffix.lower() in (".jpg", ".jpeg"))
    step = max(1, len(jpegs) // QUALITY_SAMPLE)
    found = [q for q in (jpeg_quality(p) for p in jpegs[::step][:QUALITY_SAMPLE]) if q]
    return "jpg", int(np.median(found)) if found else DEFAULT_JPEG_QUALITY


def encode_image(image: np.ndarray, image_format: str, quality: int | None = None) -> bytes:
    """Encoded bytes of ``image`` (pure: the same array gives the same bytes)."""
    if image_format == "jpg":
        q = DEFAULT_JPEG_QUALITY if quality is None else int(quality)
        params = [cv2.IMWRITE_JPEG_QUALITY, q, cv2.IMWRITE_JPEG_OPTIMIZE, 0]
        ok, encoded = cv2.imencode(".jpg", image, params)
    elif image_format == "png":
        ok, encoded = cv2.imencode(".png", image, PNG_PARAMS)
    else:
        raise FactoryError(f"image format must be png or jpg, got {image_format!r}")
    if not ok:
        raise FactoryError(f"could not encode a {image.shape} image as {image_format}")
    return encoded.tobytes()
