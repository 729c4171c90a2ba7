"""Does the annotators' label margin grow with the defect, and do synthetic labels follow it?

`factory synth` labels a paste with the box of its changed pixels padded by the class's
label margin, learned from the real train labels against their masks (README, "Label
convention"). Whether that margin should grow with a paste's scale depends on how people
drew the real boxes: a fixed slack of N pixels around any defect, or a box proportional to
the defect. This measures it.

1. Real labels (the dataset's train defects, through the synth bank): per class, the defect's
   own extent (its mask box) and the margin, their correlation, and how well each model
   predicts the labelled box side: fixed (extent + 2 x the class's median margin) and
   proportional (extent x the class's median box/extent ratio), as the median absolute
   error in pixels. The smaller error is the convention.
2. Synthetic sets (optional): per class, the IoU of each paste's label with the box the
   fixed convention gives its changed pixels (padded by the class margin the set learned,
   unscaled), and the share below 0.75: a label that far off loses the paste at AP75. For
   comparison, the same figure for the real labels against their own class's fixed-margin
   box (the annotators' own spread).

    python bench/label_margin_convention.py DATASET [SYNTH_DIR ...] [--out F.json]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from factory.dataset import load_dataset
from factory.paths import outputs_root
from factory.synth.bank import build_bank


def centred_iou(wh_a: np.ndarray, wh_b: np.ndarray) -> np.ndarray:
    """IoU of boxes with the same centre, from their (n, 2) widths and heights."""
    inter = np.minimum(wh_a, wh_b).prod(axis=1)
    return inter / (wh_a.prod(axis=1) + wh_b.prod(axis=1) - inter)


def xyxy_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two (n, 4) xyxy arrays."""
    wh = np.clip(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0, None)
    inter = wh.prod(axis=1)
    area = lambda x: (x[:, 2:] - x[:, :2]).prod(axis=1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def quartiles(values: np.ndarray) -> list[float]:
    return [round(float(v), 2) for v in np.percentile(values, [10, 50, 90])]


def real_convention(dataset_root: Path) -> dict:
    """Per class, margin statistics of the real labels."""
    bank = build_bank(load_dataset(dataset_root), outputs_root() / "cache")
    by_class = defaultdict(list)
    for patch in bank.patches:
        by_class[patch.info.class_name].append((*patch.info.box_wh, *patch.info.label_margin_xy))
    stats = {}
    for name, rows in sorted(by_class.items()):
        rows = np.array(rows, float)
        box_wh, margin_xy = rows[:, :2], rows[:, 2:]
        extent_wh = box_wh - 2 * margin_xy
        median_margin = np.median(margin_xy, axis=0)
        ratio = np.median(box_wh / np.maximum(extent_wh, 1), axis=0)
        fixed_error = np.abs(extent_wh + 2 * median_margin - box_wh)
        proportional_error = np.abs(extent_wh * ratio - box_wh)
        extent, margin = extent_wh.ravel(), margin_xy.ravel()
        iou = centred_iou(box_wh, extent_wh + 2 * median_margin)
        stats[name] = {
            "instances": len(rows),
            "extent_px_p10_p50_p90": quartiles(extent),
            "margin_px_p10_p50_p90": quartiles(margin),
            "corr_extent_margin": round(float(np.corrcoef(extent, margin)[0, 1]), 3),
            "median_abs_error_px_fixed_margin": round(float(np.median(fixed_error)), 2),
            "median_abs_error_px_proportional": round(float(np.median(proportional_error)), 2),
            "iou_with_fixed_margin_box_median": round(float(np.median(iou)), 3),
            "iou_with_fixed_margin_box_below_075": round(float(np.mean(iou < 0.75)), 3),
        }
    return stats


def synthetic_labels(folder: Path) -> dict:
    """Per class, IoU of each paste's label with its changed box padded by the class margin
    the set learned (unscaled)."""
    options = json.loads((folder / "factory.json").read_text())["synth"]["options"]
    # Sets made before the option existed scaled the margin (plan_dict leaves "scaled" out).
    scaling = options.get("box_margin_scaling", "scaled")
    labels, expected = defaultdict(list), defaultdict(list)
    for line in (folder / "manifest.jsonl").read_text().splitlines():
        for paste in json.loads(line)["pastes"]:
            margin = np.array(paste["box_margin_xy"], float)
            if scaling == "scaled":
                margin /= paste["transform"]["scale"]
            margin = np.round(margin)  # whole pixels, as factory.synth.render.pad_box pads
            changed = np.array(paste["changed_xyxy"], float)
            labels[paste["class"]].append(paste["xyxy"])
            expected[paste["class"]].append(np.r_[changed[:2] - margin, changed[2:] + margin])
    out = {"box_margin_scaling": scaling, "classes": {}}
    for name in sorted(labels):
        iou = xyxy_iou(np.array(labels[name], float), np.array(expected[name]))
        out["classes"][name] = {
            "pastes": len(iou),
            "iou_with_fixed_margin_box_median": round(float(np.median(iou)), 3),
            "iou_with_fixed_margin_box_below_075": round(float(np.mean(iou < 0.75)), 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="the real dataset (its train labels)")
    parser.add_argument("synthetic", type=Path, nargs="*", help="factory synth output folders")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    stats = real_convention(args.dataset)
    print(f"real labels of {args.dataset} (px; p10/p50/p90)")
    for name, s in stats.items():
        print(
            f"  {name:10s} n={s['instances']:4d}  extent {s['extent_px_p10_p50_p90']}  "
            f"margin {s['margin_px_p10_p50_p90']}  corr {s['corr_extent_margin']:+.2f}  "
            f"box error: fixed margin {s['median_abs_error_px_fixed_margin']:.1f} px, "
            f"proportional {s['median_abs_error_px_proportional']:.1f} px  "
            f"IoU with fixed-margin box {s['iou_with_fixed_margin_box_median']:.3f} "
            f"(<0.75: {100 * s['iou_with_fixed_margin_box_below_075']:.1f} %)"
        )
    report = {"dataset": str(args.dataset), "real": stats, "synthetic": {}}
    for folder in args.synthetic:
        result = synthetic_labels(folder)
        report["synthetic"][str(folder)] = result
        print(f"{folder} (margins {result['box_margin_scaling']})")
        for name, s in result["classes"].items():
            print(
                f"  {name:10s} n={s['pastes']:4d}  IoU with fixed-margin box "
                f"{s['iou_with_fixed_margin_box_median']:.3f} "
                f"(<0.75: {100 * s['iou_with_fixed_margin_box_below_075']:.1f} %)"
            )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
