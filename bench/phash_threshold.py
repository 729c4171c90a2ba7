"""Measure where the near-duplicate threshold (NEAR_DUPLICATE_BITS) should sit.

For DeepPCB (test images and their templates) and NEU-DET it prints distributions of the
64-bit DCT hash distance between: each image and its nearest *different* image, an image and
its own template (DeepPCB), and an image and re-encoded / slightly altered copies of itself.

    python bench/phash_threshold.py --deeppcb ../shared/datasets/deeppcb-trainval \
        --neu ../shared/datasets/neu-det
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from factory.dataset.hashing import NEAR_DUPLICATE_BITS, hamming, phash
from factory.dataset.split import nearest_distances
from factory.io import list_images, read_image


def variants(image: np.ndarray) -> dict[str, np.ndarray]:
    def jpeg(quality: int) -> np.ndarray:
        _ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)

    h, w = image.shape[:2]
    return {
        "jpeg_q90": jpeg(90),
        "jpeg_q50": jpeg(50),
        "brightness_+10": np.clip(image.astype(np.int16) + 10, 0, 255).astype(np.uint8),
        "blur_3x3": cv2.GaussianBlur(image, (3, 3), 0),
        "resize_half_back": cv2.resize(cv2.resize(image, (w // 2, h // 2)), (w, h)),
    }


def summary(values) -> dict:
    values = np.asarray(values)
    return {
        "n": int(values.size),
        "min": int(values.min()),
        "p1": float(np.percentile(values, 1)),
        "p5": float(np.percentile(values, 5)),
        "median": float(np.median(values)),
        "max": int(values.max()),
        f"count_<={NEAR_DUPLICATE_BITS}": int((values <= NEAR_DUPLICATE_BITS).sum()),
    }


def histogram(values, upto: int = 16) -> dict:
    values = np.asarray(values)
    return {str(b): int((values == b).sum()) for b in range(upto + 1)}


def study_deeppcb(root: Path, every: int) -> dict:
    pcb = root / "PCBData"
    lines = (pcb / "trainval.txt").read_text().split("\n")
    tests, temps = [], []
    for line in lines:
        if not line.strip():
            continue
        base = pcb / line.split()[0]
        tests.append(base.with_name(f"{base.stem}_test.jpg"))
        temps.append(base.with_name(f"{base.stem}_temp.jpg"))
    test_images = [read_image(p) for p in tests]
    h_test = [phash(i) for i in test_images]
    h_temp = [phash(read_image(p)) for p in temps]
    n = len(h_test)
    own = [hamming(a, b) for a, b in zip(h_test, h_temp, strict=True)]
    # Nearest different board: over other test images and other templates.
    allh = np.array(h_test + h_temp, dtype=np.uint64)
    nearest_other = []
    for i in range(n):
        bits = np.bitwise_count(allh ^ allh[i]).astype(np.int64)
        bits[i] = 64
        bits[n + i] = 64
        nearest_other.append(int(bits.min()))
    copies = {}
    for image, value in zip(test_images[::every], h_test[::every], strict=True):
        for name, variant in variants(image).items():
            copies.setdefault(name, []).append(hamming(value, phash(variant)))
    return {
        "images": n,
        "test_vs_own_template": summary(own),
        "test_vs_own_template_hist": histogram(own),
        "nearest_different_board": summary(nearest_other),
        "nearest_different_board_hist": histogram(nearest_other),
        "copies": {k: summary(v) for k, v in copies.items()},
    }


def study_neu(root: Path, every: int) -> dict:
    paths = list_images(root / "IMAGES") + list_images(root / "Validation_Images")
    images = [read_image(p) for p in paths]
    hashes = [phash(i) for i in images]
    nearest = nearest_distances(hashes)
    copies = {}
    for image, value in zip(images[::every], hashes[::every], strict=True):
        for name, variant in variants(image).items():
            copies.setdefault(name, []).append(hamming(value, phash(variant)))
    return {
        "images": len(paths),
        "nearest_other_image": summary(nearest),
        "nearest_other_image_hist": histogram(nearest),
        "copies": {k: summary(v) for k, v in copies.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deeppcb", type=Path)
    parser.add_argument("--neu", type=Path)
    parser.add_argument("--every", type=int, default=5, help="test copies on every Nth image")
    args = parser.parse_args()
    result = {"near_duplicate_bits": NEAR_DUPLICATE_BITS}
    if args.deeppcb:
        result["deeppcb"] = study_deeppcb(args.deeppcb, args.every)
    if args.neu:
        result["neu_det"] = study_neu(args.neu, args.every)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
