"""Where does a model lose AP: recognising defects, or placing tight boxes?

For each finished training (`runs/<setting>/<arm>/seed-<k>/`, from its saved test
predictions) this prints mAP at every IoU threshold 0.50..0.95, and, for the predictions that
match a ground-truth box at IoU 0.5 (greedy, by score, per class), the median IoU and the
median ratio of predicted to ground-truth width and height. A synthetic arm whose labels
follow another box convention than the real annotations (looser or tighter) loses AP at
the high thresholds and shows a size ratio away from 1; one that recognises defects worse
loses at IoU 0.5 already. `--by-class` adds the same figures per class: label noise in
some classes of a synthetic set shows as loose boxes in those classes only.

    python bench/ap_by_iou.py SEED_DIR [SEED_DIR ...] [--by-class] [--out F.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from factory.compare.evaluate import load_detections
from factory.compare.metrics import (
    AP75_COLUMN,
    IOU_THRESHOLDS,
    build_match_table,
    class_ap,
    matched_boxes,
)


def match_summary(ious: np.ndarray, ratios: np.ndarray) -> dict:
    return {
        "matches_at_iou50": len(ious),
        "median_iou": float(np.median(ious)) if len(ious) else None,
        "median_width_ratio": float(np.median(ratios[:, 0])) if len(ratios) else None,
        "median_height_ratio": float(np.median(ratios[:, 1])) if len(ratios) else None,
    }


def analyse(folder: Path) -> dict:
    result = json.loads((folder / "result.json").read_text())
    images, _ = load_detections(folder / result["detections"])
    names = list(result["metrics"]["per_class"])
    ap = class_ap(build_match_table(images, len(names)), np.ones((1, len(images))))[0]  # (C, T)
    with np.errstate(invalid="ignore"):
        by_threshold = np.nanmean(ap, axis=0)
    ious, ratios, classes = matched_boxes(images, conf=0.0)  # every saved prediction
    by_class = {}
    for class_id, name in enumerate(names):
        mine = classes == class_id
        by_class[name] = {
            "ap50": round(float(ap[class_id, 0]), 4),
            "ap75": round(float(ap[class_id, AP75_COLUMN]), 4),
            **match_summary(ious[mine], ratios[mine]),
        }
    return {
        "folder": str(folder),
        "map50_95": float(np.nanmean(by_threshold)),
        "map_by_iou": {
            f"{t:.2f}": round(float(v), 4)
            for t, v in zip(IOU_THRESHOLDS, by_threshold, strict=True)
        },
        **match_summary(ious, ratios),
        "by_class": by_class,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--by-class", action="store_true", help="also print each class")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = [analyse(folder) for folder in args.folders]
    for row in rows:
        m = row["map_by_iou"]
        print(
            f"{row['map50_95']:.3f}  AP50 {m['0.50']:.3f} AP75 {m['0.75']:.3f} AP90 {m['0.90']:.3f}"
            f"  matches {row['matches_at_iou50']} median IoU {row['median_iou']:.3f}"
            f"  w {row['median_width_ratio']:.3f} h {row['median_height_ratio']:.3f}  "
            f"{row['folder']}"
        )
        for name, c in row["by_class"].items() if args.by_class else ():
            if c["matches_at_iou50"]:
                print(
                    f"    {name:<10} AP50 {c['ap50']:.3f} AP75 {c['ap75']:.3f}  matches "
                    f"{c['matches_at_iou50']} median IoU {c['median_iou']:.3f}  "
                    f"w {c['median_width_ratio']:.3f} h {c['median_height_ratio']:.3f}"
                )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
