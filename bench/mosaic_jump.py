"""How much of each kept run's "still climbing" was ultralytics' mosaic switch-off.

Ultralytics trains the last 10% of the epochs here without mosaic (`close_mosaic`), and val
mAP jumps there in any budget. For every arm of every kept run given, this prints the
within-training check as it was (the last 20% of all epochs) and as `factory compare` makes
it now (the last 20% of the epochs with mosaic, the jump after them apart), from the curves
in `results.json`, over the seeds the run finished.

    python bench/mosaic_jump.py bench/results/compare_deeppcb_run-*/ [--out F.md]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from factory.compare.stats import convergence
from factory.compare.train import recorded_mosaic_closed


def rows(results: Path) -> list[str]:
    data = json.loads(results.read_text())
    groups: dict[tuple, list[dict]] = {}
    for training in data["trainings"]:
        if training["train"]["curve"]:
            key = (training["spec"]["budget"]["images_seen"], training["arm"]["name"])
            groups.setdefault(key, []).append(training)
    out = []
    for (seen, arm), trainings in sorted(groups.items()):
        curves = [t["train"]["curve"] for t in trainings]
        closed = recorded_mosaic_closed(trainings[0])
        before, now = convergence(curves), convergence(curves, mosaic_closed=closed)
        jump = "-" if now.get("closed_gain") is None else f"{now['closed_gain']:+.3f}"
        out.append(
            f"| `{results.parent.name}` | {seen:,} | {arm} | {len(curves)} | "
            f"{before['gain']:+.3f} ({before['status']}) | {now['gain']:+.3f} ({now['status']}) "
            f"| {jump} |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (or kept folders)")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    lines = [
        "| run | images seen | arm | seeds | last 20% of all epochs (as before) | "
        "last 20% of the epochs with mosaic (now) | jump with mosaic off |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in args.runs:
        results = run if run.suffix == ".json" else run / "results.json"
        if results.is_file():
            lines += rows(results)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
