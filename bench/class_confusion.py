"""Does a synthetic arm lose AP by finding fewer defects, or by naming them wrongly?

A pasted defect keeps its real pixels but lands in a new context: an "open" cut out of a
thin trace and pasted onto a wide pad reads as a "pin-hole", a "spur" pasted into empty
board as "copper". If pastes taught the detector such wrong names, its class-blind AP
(every box one class) would hold up while its class-aware AP fell, and confusions between
classes would rise. If it simply finds fewer defects, both fall together.

For each finished training (`runs/<setting>/<arm>/seed-<k>/`, from its saved test
predictions) this prints:

- mAP50-95 and mAP50 as the report computes them, and class-blind (all classes merged);
- at the training's own best-F1 confidence threshold (from its result.json), each test box
  counted once: found with its class (a same-class prediction at IoU >= 0.5), found only
  under another class (the best other-class prediction at IoU >= 0.5 names it), or missed;
  plus predictions that overlap no test box at IoU 0.1 (background false positives);
- the confusion counts (true class -> predicted class) of the boxes found under another class.

The same figures are in every `factory compare` report ("Where each arm loses"); this script
prints them per training, for run folders reported before that table existed.

    python bench/class_confusion.py SEED_DIR [SEED_DIR ...] [--out F.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from factory.compare.evaluate import load_detections
from factory.compare.metrics import build_match_table, detection_metrics, loss_diagnosis


def analyse(folder: Path) -> dict:
    result = json.loads((folder / "result.json").read_text())
    images, _ = load_detections(folder / result["detections"])
    names = list(result["metrics"]["per_class"])
    metrics = detection_metrics(build_match_table(images, len(names)), names)
    return {
        "folder": str(folder),
        "arm": result["arm"]["name"],
        "seed_index": result["seed_index"],
        "map50_95": metrics["map50_95"],
        "map50": metrics["map50"],
        **loss_diagnosis(images, float(result["metrics"]["conf"]), names),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = [analyse(folder) for folder in args.folders]
    for row in rows:
        top = ", ".join(f"{k} {v}" for k, v in list(row["confusions"].items())[:3])
        print(
            f"{row['arm']:<16} s{row['seed_index']}  mAP50-95 {row['map50_95']:.3f}"
            f" blind {row['class_blind_map50_95']:.3f} | mAP50 {row['map50']:.3f}"
            f" blind {row['class_blind_map50']:.3f} | found {row['found']:.3f}"
            f" wrong {row['wrong_class']:.3f} missed {row['missed']:.3f}"
            f" bgFP/img {row['background_fp_per_image']:.2f} | {top}"
        )
    means = {}
    for row in rows:
        setting = Path(row["folder"]).parent.parent.name
        means.setdefault(f"{setting} / {row['arm']}", []).append(row)
    for arm, group in means.items():
        m = {k: float(np.mean([r[k] for r in group])) for k in
             ("map50_95", "class_blind_map50_95", "map50", "class_blind_map50",
              "found", "wrong_class", "missed")}  # fmt: skip
        print(
            f"mean {arm:<45} ({len(group)})  mAP50-95 {m['map50_95']:.3f}"
            f" blind {m['class_blind_map50_95']:.3f} | mAP50 {m['map50']:.3f}"
            f" blind {m['class_blind_map50']:.3f} | found {m['found']:.3f}"
            f" wrong {m['wrong_class']:.3f} missed {m['missed']:.3f}"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
