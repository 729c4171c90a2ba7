"""Paired statistics for two finished trainings that live in different compare run folders.

`factory compare` pairs arms inside one run folder. When a new arm was trained in its own
folder and the real arm it should be compared with exists only in another run (with another
epoch-list order, for example), this script gives the same paired figures from the saved
test predictions: each model's test mAP50-95, the difference, and the bootstrap 95% CI over
test images (the same draws for both models), using the factory's own code.

    python bench/pair_trainings.py BASE_SEED_DIR OTHER_SEED_DIR [--resamples 1000]

Both folders are `runs/<setting>/<arm>/seed-<k>/` folders holding `result.json` and
`detections.npz`; both must have been evaluated on the same locked test split.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from factory.compare.evaluate import load_detections
from factory.compare.metrics import build_match_table
from factory.compare.stats import bootstrap_difference


def load(folder: Path):
    result = json.loads((folder / "result.json").read_text())
    detections, keys = load_detections(folder / result["detections"])
    return result, detections, keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path)
    parser.add_argument("other", type=Path)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    base, base_detections, base_keys = load(args.base)
    other, other_detections, other_keys = load(args.other)
    if base_keys != other_keys:
        raise SystemExit("error: the two trainings were not evaluated on the same test images")
    classes = len(base["metrics"]["per_class"])
    boot = bootstrap_difference(
        [build_match_table(base_detections, classes)],
        [build_match_table(other_detections, classes)],
        resamples=args.resamples,
        seed=0,
        key=f"{args.base}|{args.other}",
    )
    out = {
        "base": {"folder": str(args.base), "map50_95": base["metrics"]["map50_95"]},
        "other": {"folder": str(args.other), "map50_95": other["metrics"]["map50_95"]},
        "difference": boot["difference"],
        "ci95": [boot["ci_low"], boot["ci_high"]],
        "test_images": len(base_keys),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
