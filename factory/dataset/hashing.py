"""Perceptual hashes for exact and near-duplicate detection (pure functions of pixels)."""

from __future__ import annotations

import cv2
import numpy as np

# Two images whose 64-bit DCT hashes differ in at most this many bits are near duplicates.
# Measured with bench/phash_threshold.py: re-encoded/brightened/blurred copies differ by <= 8
# bits (NEU-DET), real near duplicates sit at 8 and different images at >= 10 (NEU-DET);
# DeepPCB pairs within 8 bits are all shifted views of the same board region.
NEAR_DUPLICATE_BITS = 8


def phash(image: np.ndarray) -> int:
    """64-bit DCT perceptual hash of a greyscale or BGR uint8 image.

    Robust to re-encoding, mild blur, noise and brightness changes; different scenes
    differ in about half of the bits.
    """
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].flatten()
    bits = low > np.median(low[1:])
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def phash_hex(value: int) -> str:
    return f"{value:016x}"


def phash_from_hex(text: str) -> int:
    return int(text, 16)
