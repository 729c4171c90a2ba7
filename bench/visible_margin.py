"""Are synthetic labels as tight as real ones, measured the same way on both?

`factory synth` labels a paste with its changed pixels padded by the class's label margin
(README, "Label convention"). bench/label_margin_convention.py checks that rule against
itself; this checks the result against the real labels with one measurement applied to both:
the pixels inside a labelled box that differ from the clean image by more than the bank's
floor (real: the image's template; synthetic: the background it was pasted on), cleaned as
the bank cleans its masks (`factory.synth.bank.clean_mask`: opening removes the one-pixel
misregistration lines between an image and its template). Per class it reports the margin
between the label and that extent, the extent itself and the label's sqrt(area).

Only train images of the set folder are read (its real train images and its synthetic ones).

    python bench/visible_margin.py SYNTH_DIR [SYNTH_DIR ...] [--out F.json]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import yaml

from factory.synth.bank import REFERENCE_DIFF_FLOOR, abs_diff, clean_mask


def visible_extent_xyxy(image, clean, box_xyxy, floor: int = REFERENCE_DIFF_FLOOR):
    """Box (in image coordinates) of the cleaned changed pixels inside ``box_xyxy``."""
    x0, y0, x1, y1 = box_xyxy
    changed = clean_mask(abs_diff(image[y0:y1, x0:x1], clean[y0:y1, x0:x1]) > floor)
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    if rows.size == 0:
        return None
    return (x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1)


def label_boxes_xyxy(label_file: Path, width: int, height: int):
    for line in label_file.read_text().splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        cx, cy, w, h = (float(v) for v in parts[1:5])
        box = (
            round((cx - w / 2) * width),
            round((cy - h / 2) * height),
            round((cx + w / 2) * width),
            round((cy + h / 2) * height),
        )
        yield (
            int(parts[0]),
            (max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3])),
        )


def measure(folder: Path) -> dict:
    names = yaml.safe_load((folder / "data.yaml").read_text())["names"]
    background_of = {}
    for line in (folder / "manifest.jsonl").read_text().splitlines():
        record = json.loads(line)
        background_of[Path(record["image"]).stem] = folder / record["background"]["path"]
    rows = {"real": defaultdict(list), "synthetic": defaultdict(list)}
    for label_file in sorted((folder / "labels" / "train").glob("*.txt")):
        stem = label_file.stem
        image = cv2.imread(str(folder / "images" / "train" / f"{stem}.jpg"))
        if stem in background_of:
            kind, clean_path = "synthetic", background_of[stem]
        else:
            kind, clean_path = "real", folder / "references" / "train" / f"{stem}.jpg"
        clean = cv2.imread(str(clean_path))
        if image is None or clean is None or clean.shape != image.shape:
            continue
        height, width = image.shape[:2]
        for class_id, box in label_boxes_xyxy(label_file, width, height):
            extent = visible_extent_xyxy(image, clean, box)
            if extent is None:
                continue
            margin_x = ((extent[0] - box[0]) + (box[2] - extent[2])) / 2
            margin_y = ((extent[1] - box[1]) + (box[3] - extent[3])) / 2
            label_side = np.sqrt((box[2] - box[0]) * (box[3] - box[1]))
            extent_side = np.sqrt((extent[2] - extent[0]) * (extent[3] - extent[1]))
            rows[kind][names[class_id]].append(((margin_x + margin_y) / 2, extent_side, label_side))
    out = {}
    for name in names.values() if isinstance(names, dict) else names:
        entry = {}
        for kind in ("real", "synthetic"):
            values = np.array(rows[kind][name], float).reshape(-1, 3)
            if not len(values):
                continue
            entry[kind] = {
                "boxes": len(values),
                "margin_px_mean": round(float(values[:, 0].mean()), 2),
                "margin_px_median": round(float(np.median(values[:, 0])), 2),
                "extent_px_median": round(float(np.median(values[:, 1])), 1),
                "label_px_p25_p50_p75": [
                    round(float(v), 1) for v in np.percentile(values[:, 2], [25, 50, 75])
                ],
            }
        out[name] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("synthetic", type=Path, nargs="+", help="factory synth output folders")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = {}
    for folder in args.synthetic:
        report[str(folder)] = result = measure(folder)
        print(f"{folder}: real / synthetic (px; margin mean, extent and label side medians)")
        for name, entry in result.items():
            real, synthetic = entry.get("real"), entry.get("synthetic")
            if not real or not synthetic:
                continue
            print(
                f"  {name:10s} margin {real['margin_px_mean']:5.2f} / "
                f"{synthetic['margin_px_mean']:5.2f}  extent {real['extent_px_median']:5.1f} / "
                f"{synthetic['extent_px_median']:5.1f}  label {real['label_px_p25_p50_p75'][1]:5.1f}"
                f" / {synthetic['label_px_p25_p50_p75'][1]:5.1f}  "
                f"(n {real['boxes']} / {synthetic['boxes']})"
            )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
