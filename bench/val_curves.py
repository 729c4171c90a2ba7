"""Validation mAP50-95 of compare trainings side by side, finished or still running.

A finished training's curve comes from its ``result.json`` under
``RUN/runs/<setting>/<arm>/seed-N/``, which a training restored by ``bench/keep_run.py``
keeps without its ``train/`` folder. A training in progress is read from ultralytics'
``results.csv``, epoch for epoch, to compare arms at equal budget spent before they finish
(the compare report only covers finished trainings). A stage that is neither finished nor
has its ``last.pt`` is left out: it will start over.

    python bench/val_curves.py outputs/compare-bench/run-50-60k-layout --every 10

Prints a markdown table: one column per training, one row per epoch shown, and the best
value so far in the last row. Writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from factory.compare.runner import RESULT_FILE
from factory.compare.train import read_curve, stage_is_kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="compare run folders")
    parser.add_argument("--every", type=int, default=10, help="show every Nth epoch")
    args = parser.parse_args()
    curves: dict[str, dict[int, float]] = {}
    for run in args.runs:
        for seed_dir in sorted(run.glob("runs/*/*/seed-*")):
            result_path = seed_dir / RESULT_FILE
            csv_path = seed_dir / "train" / "results.csv"
            if result_path.is_file():
                curve = json.loads(result_path.read_text())["train"]["curve"]
            elif csv_path.is_file() and stage_is_kept(csv_path.parent):
                curve = read_curve(csv_path)
            else:
                if csv_path.is_file():
                    # e.g. copied back from a GPU machine without its last.pt: it starts over
                    print(
                        f"skipped {csv_path.parent}: no last.pt, so it starts over", file=sys.stderr
                    )
                continue
            name = f"{seed_dir.parent.name} {seed_dir.name} ({seed_dir.parents[1].name})"
            if len(args.runs) > 1:
                name = f"{run.name}: {name}"
            curves[name] = {point["epoch"]: point["map50_95"] for point in curve}
    if not curves:
        raise SystemExit(f"error: no {RESULT_FILE} or train/results.csv under RUN/runs/*/*/seed-*/")
    last = max(max(curve, default=0) for curve in curves.values())
    epochs = sorted({e for e in range(args.every, last + 1, args.every)} | {last})
    print("| epoch | " + " | ".join(curves) + " |")
    print("|---" * (len(curves) + 1) + "|")
    for epoch in epochs:
        cells = [f"{c[epoch]:.3f}" if epoch in c else "" for c in curves.values()]
        print(f"| {epoch} | " + " | ".join(cells) + " |")
    best = [
        f"{max(c.values()):.3f} ({max(c, key=c.get)} of {max(c)})" if c else ""
        for c in curves.values()
    ]
    print("| best so far | " + " | ".join(best) + " |")


if __name__ == "__main__":
    main()
