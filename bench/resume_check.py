"""How close is a training paused by `--stop-after` and resumed to one run straight through?

Four `factory compare` runs of one real-only training on the demo dataset (all 144 train
images, each epoch `--passes` passes over them, batch 16 as in the DeepPCB benchmark):

* `straight-a` and `straight-b`: seed 0, uninterrupted; the control (one seed drives
  everything, so they should be identical);
* `paused`: seed 0, stopped after epoch `--pause-after` (as `--stop-after` does once its limit
  has passed), then resumed by re-running the same command;
* `seed-1`: seed 1, uninterrupted; the scale of seed-to-seed noise.

It prints, and writes to `bench/results/resume_check.md`, each run's val mAP50-95 per epoch,
its last epoch's train box loss and its test mAP50-95, and which epochs differ from
`straight-a`.

Why a resumed run differs (ultralytics 8.4): the resumed trainer builds a fresh dataloader, so
the epochs after the pause draw other shuffles and augmentations, and it drops the gradient
accumulated since the last optimizer step (at most `accumulate - 1` batches: 3 at batch 16).
The pause forces the deadline through `factory.compare.train.pause_due`, so the script does not
depend on timing.

The defaults are the real arm of `factory compare --preset quick` (30 epochs of the 144
images at 256 px), the smallest training on the demo data whose test mAP is not zero.

    .venv/bin/python bench/resume_check.py       # 4 trainings, about 25 min on 2 idle cores
    .venv/bin/python bench/resume_check.py --epochs 6 --pause-after 3 --imgsz 128   # a smoke run
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

from typer.testing import CliRunner

from factory.cli import app
from factory.compare import train as train_module
from factory.demo import generate_demo

RESULTS = Path(__file__).parent / "results" / "resume_check.md"
DEMO_TRAIN_IMAGES = 144
COLUMNS = ("train/box_loss", "metrics/mAP50-95(B)")


def compare_args(dataset: Path, out: Path, options: argparse.Namespace, seed: int) -> list[str]:
    images_per_epoch = DEMO_TRAIN_IMAGES * options.passes
    return [
        "compare",
        str(dataset),
        "--arm",
        "real",
        "--seeds",
        "1",
        "--seed",
        str(seed),
        "--budget",
        str(options.epochs * images_per_epoch),
        "--epochs",
        str(options.epochs),
        "--batch",
        "16",
        "--imgsz",
        str(options.imgsz),
        "--bootstrap",
        "100",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]


def invoke(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    if result.exit_code != 0:
        raise SystemExit(f"factory {' '.join(args)} failed:\n{result.output}")


def results_csv(out: Path) -> Path:
    (path,) = sorted((out / "runs").glob("*/real/seed-*/train/results.csv"))
    return path


def read_run(out: Path) -> tuple[list[dict[str, str]], float]:
    """The training's results.csv rows and its test mAP50-95."""
    results = json.loads((out / "results.json").read_text())
    with results_csv(out).open() as handle:
        rows = [{k.strip(): v.strip() for k, v in row.items()} for row in csv.DictReader(handle)]
    return rows, results["trainings"][0]["metrics"]["map50_95"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--pause-after", type=int, default=15)
    parser.add_argument(
        "--passes", type=int, default=1, help="passes over the train images per epoch"
    )
    parser.add_argument("--imgsz", type=int, default=256)
    parser.add_argument("--out", type=Path, default=RESULTS)
    options = parser.parse_args()
    if not 0 < options.pause_after < options.epochs:
        parser.error("--pause-after must lie between 0 and --epochs")

    with tempfile.TemporaryDirectory(prefix="resume_check_") as tmp_name:
        tmp = Path(tmp_name)
        dataset = tmp / "demo"
        generate_demo(dataset, seed=0)
        runs = {}
        for name, seed in (("straight-a", 0), ("straight-b", 0)):
            invoke(compare_args(dataset, tmp / name, options, seed))
            runs[name] = read_run(tmp / name)

        paused_args = compare_args(dataset, tmp / "paused", options, 0)
        original = train_module.pause_due
        # As if the --stop-after limit passed during epoch `pause_after`.
        train_module.pause_due = lambda deadline, done, epochs, now: (
            deadline is not None and done == options.pause_after
        )
        try:
            invoke([*paused_args, "--stop-after", "1h"])
        finally:
            train_module.pause_due = original
        epochs_at_pause = len(results_csv(tmp / "paused").read_text().splitlines()) - 1
        if epochs_at_pause != options.pause_after:
            raise SystemExit(
                f"the paused run saved {epochs_at_pause} epochs, not {options.pause_after}"
            )
        invoke(paused_args)
        runs["paused"] = read_run(tmp / "paused")

        invoke(compare_args(dataset, tmp / "seed-1", options, 1))
        runs["seed-1"] = read_run(tmp / "seed-1")

    print_and_write(runs, options)


def print_and_write(runs: dict[str, tuple[list[dict[str, str]], float]], options) -> None:
    reference_rows = runs["straight-a"][0]
    lines = [
        "# Resume check: a training paused and resumed against one run straight through",
        "",
        f"`.venv/bin/python bench/resume_check.py --epochs {options.epochs} --pause-after "
        f"{options.pause_after} --passes {options.passes} --imgsz {options.imgsz}`: demo dataset, "
        f"all {DEMO_TRAIN_IMAGES} real train images, {options.passes} pass(es) an epoch, batch "
        f"16, real-only arm, {options.epochs} epochs at {options.imgsz} px on the CPU. `paused` "
        f"stopped after epoch {options.pause_after} and was resumed by re-running the same "
        "command; `seed-1` is the same training with `--seed 1`.",
        "",
        "| run | first epoch differing from straight-a | best val mAP50-95 (epoch) "
        "| last val mAP50-95 | last train box loss | test mAP50-95 |",
        "|---|---|---|---|---|---|",
    ]
    for name, (rows, test_map) in runs.items():
        differing = [
            row["epoch"]
            for row, reference in zip(rows, reference_rows, strict=True)
            if any(row[c] != reference[c] for c in COLUMNS)
        ]
        val = [float(row[COLUMNS[1]]) for row in rows]
        best = max(range(len(val)), key=val.__getitem__)
        lines.append(
            f"| {name} | {differing[0] if differing else 'none'} | {val[best]:.4f} ({best + 1}) "
            f"| {val[-1]:.4f} | {rows[-1][COLUMNS[0]]} | {test_map:.4f} |"
        )
    lines += ["", "Val mAP50-95 by epoch:", "", "| epoch | " + " | ".join(runs) + " |"]
    lines.append("|---|" + "---|" * len(runs))
    for index, reference in enumerate(reference_rows):
        cells = " | ".join(f"{float(rows[index][COLUMNS[1]]):.4f}" for rows, _ in runs.values())
        lines.append(f"| {reference['epoch']} | {cells} |")
    text = "\n".join(lines) + "\n"
    print(text)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(text)


if __name__ == "__main__":
    main()
