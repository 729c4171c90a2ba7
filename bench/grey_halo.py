"""Do pastes carry grey levels that the real defects never have?

Binarised datasets (DeepPCB) hold two grey levels. For the real train defects (their label
boxes) and for every paste of each `factory synth` set (its final box), prints the mean and
median share of "grey" pixels (strictly between GREY_LOW = 30 and GREY_HIGH = 225) per
box, per blend (pastes snapped by `--snap-levels` are counted apart). A detector can learn a grey halo instead of the
defect when the pastes hold much more of it than the real defects.

    python bench/grey_halo.py DATASET SYNTH_DIR [SYNTH_DIR ...] [--out F.json]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from factory.dataset import load_dataset

GREY_LOW, GREY_HIGH = 30, 225


def grey_share(crop: np.ndarray) -> float:
    return float(np.mean((crop > GREY_LOW) & (crop < GREY_HIGH))) if crop.size else 0.0


def real_shares(dataset_root: Path, limit: int) -> list[float]:
    """Grey share inside every label box of the first ``limit`` train images."""
    shares = []
    for record in load_dataset(dataset_root).split("train")[:limit]:
        grey = cv2.imread(str(record.image_path), cv2.IMREAD_GRAYSCALE)
        for annotation in record.annotations:
            x0, y0, x1, y1 = (round(v) for v in annotation.xyxy)
            shares.append(grey_share(grey[y0:y1, x0:x1]))
    return shares


def paste_shares(synth_dir: Path) -> dict[str, list[float]]:
    """Grey share inside every paste's final box, per blend method."""
    shares = defaultdict(list)
    for line in (synth_dir / "manifest.jsonl").read_text().splitlines():
        record = json.loads(line)
        grey = cv2.imread(str(synth_dir / record["image"]), cv2.IMREAD_GRAYSCALE)
        for paste in record["pastes"]:
            x0, y0, x1, y1 = paste["xyxy"]
            key = paste["blend"] + (" snapped" if "snapped_to_levels" in paste else "")
            shares[key].append(grey_share(grey[y0:y1, x0:x1]))
    return shares


def summary(values: list[float]) -> dict:
    return {
        "boxes": len(values),
        "mean": round(float(np.mean(values)), 5),
        "median": round(float(np.median(values)), 5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="the split dataset the sets were made from")
    parser.add_argument("synth_dirs", type=Path, nargs="+")
    parser.add_argument("--real-images", type=int, default=200, help="train images to scan")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = {
        "grey_levels": [GREY_LOW, GREY_HIGH],
        "real": summary(real_shares(args.dataset, args.real_images)),
    }
    print(f"real defects: {result['real']}")
    for synth_dir in args.synth_dirs:
        per_blend = paste_shares(synth_dir)
        result[str(synth_dir)] = {k: summary(v) for k, v in sorted(per_blend.items())}
        for blend, values in sorted(per_blend.items()):
            print(f"{synth_dir} [{blend}]: {summary(values)}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
