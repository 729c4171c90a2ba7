"""Keep a compare run's trainings in the repository, and put them back into a run folder.

Run folders live under outputs/, which a fresh checkout does not have: without its
per-training results a half-finished comparison cannot be resumed or re-reported there.

    python bench/keep_run.py save RUN bench/results/compare_deeppcb_<run>
    python bench/keep_run.py restore bench/results/compare_deeppcb_<run> RUN [--arm A] [--seeds 0,1]
        [--skip ARM:SEEDS]

`save` copies report.md, results.json, plots/ and, per finished training, its result.json
and detections.npz (the test predictions the bootstrap and the loss diagnosis need) under
trainings/<setting>/<arm>/seed-<k>/. `restore` writes them back under RUN/runs/, for a RUN
folder that the same `factory compare` command has created (its config.json must name the
same test lock). Saved folders from before `save` existed only hold results.json: their
trainings come back without test predictions, and the report then says which seeds it
could not resample. A training already in RUN is never overwritten, nor one that has begun
there (spec.json without result.json). `--skip real:1,2` leaves those kept trainings out: use
it for seeds that a compare started just now retrains, before their folders exist.

A paused training (`--stop-after`) lives only in its run folder, so a new machine starts it
over. `save-paused` keeps each paused training's resume state under paused/: spec.json, the
stage folders' results.csv, args.yaml and sitting records, weights/last.pt with AdamW's two
moments rounded to bf16 (18 MB for YOLOv8n rather than ultralytics' 30 MB with fp32 moments)
and weights/best.pt without the optimizer's state (only last.pt resumes; 6 MB), plus the run's
config.json. It replaces what paused/ held before, so a training finished since drops out of
it. `restore-paused` writes them into RUN (moments back in fp32) before the same compare
command runs again, which then resumes them. Only a new machine resumes from these: a kept
machine's own last.pt has gone as far, and is left alone.

    python bench/keep_run.py save-paused RUN bench/results/compare_deeppcb_<run>
    python bench/keep_run.py restore-paused bench/results/compare_deeppcb_<run> RUN
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from factory.compare.report import load_results
from factory.compare.runner import CONFIG_FILE, DETECTIONS_FILE, RESULT_FILE, _safe
from factory.compare.train import (
    RESUMES_FILE,
    SITTINGS_FILE,
    STAGE_DONE_FILE,
    epochs_done,
    stage_is_kept,
)
from factory.io import write_json

KEPT = ("report.md", "results.json", "val_curves.md")
PAUSED = "paused"
# What resumes a stage; its plots and batch pictures are left behind.
STAGE_FILES = ("results.csv", "args.yaml", SITTINGS_FILE, RESUMES_FILE, STAGE_DONE_FILE)
# Optimizer state entries that are counters, not per-parameter tensors: never rounded.
COUNTERS = ("step",)


def cast_optimizer_state(checkpoint: dict, dtype) -> dict:
    """``checkpoint`` with its optimizer's floating per-parameter state (AdamW's moments) in
    ``dtype``: bf16 keeps fp32's range (the second moment can be tiny) in half the bytes."""
    import torch

    optimizer = checkpoint.get("optimizer")
    if optimizer:
        for state in optimizer["state"].values():
            for key, value in state.items():
                if key not in COUNTERS and torch.is_tensor(value) and value.is_floating_point():
                    state[key] = value.to(dtype)
    return checkpoint


def rewrite_checkpoint(source: Path, dest: Path, edit) -> None:
    """Write the ultralytics checkpoint ``source`` to ``dest`` (may be the same file) as
    ``edit(checkpoint)`` changed it."""
    import torch

    checkpoint = torch.load(source, map_location="cpu", weights_only=False)
    edit(checkpoint)
    torch.save(checkpoint, dest)


def check_same_test_lock(saved: Path, saved_config: dict, run: Path, config: dict, how: str):
    """Refuse to mix kept trainings into a run folder locked to another test split."""
    if config["test_lock_sha256"] != saved_config["test_lock_sha256"]:
        raise SystemExit(
            f"error: {saved} was {how} on another test split than {run} (test lock digests differ)"
        )


def training_folder(root: Path, record: dict) -> Path:
    arm = _safe(record["arm"]["name"])
    return root / record["setting"]["key"] / arm / f"seed-{record['seed_index']}"


def save(run: Path, dest: Path) -> int:
    if not (run / "results.json").is_file():
        raise SystemExit(f"error: {run}: no results.json (run `factory compare --report-only`)")
    dest.mkdir(parents=True, exist_ok=True)
    for name in KEPT:
        if (run / name).is_file():
            shutil.copy2(run / name, dest / name)
    if (run / "plots").is_dir():
        shutil.copytree(run / "plots", dest / "plots", dirs_exist_ok=True)
    results = load_results(run)
    for result in results:
        folder = Path(result["folder"])
        target = dest / "trainings" / folder.relative_to(run / "runs")
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / RESULT_FILE, target / RESULT_FILE)
        if (folder / DETECTIONS_FILE).is_file():
            shutil.copy2(folder / DETECTIONS_FILE, target / DETECTIONS_FILE)
    return len(results)


def parse_skip(value: str) -> tuple[str, set[int]]:
    arm, _, seeds = value.rpartition(":")
    try:
        if arm:
            return arm, {int(s) for s in seeds.split(",")}
    except ValueError:
        pass
    raise SystemExit(f"error: --skip wants ARM:SEEDS such as real:1,2, got {value!r}")


def restore(
    saved: Path,
    run: Path,
    arms: list[str] | None,
    seeds: list[int] | None,
    skip: list[tuple[str, set[int]]] = (),
) -> int:
    if not (saved / "results.json").is_file():
        raise SystemExit(f"error: {saved}: no results.json, so no finished training to restore")
    results = json.loads((saved / "results.json").read_text())
    config_path = run / "config.json"
    if not config_path.is_file():
        raise SystemExit(
            f"error: {run}: not a compare run folder (no config.json); run the compare command "
            "first so that it creates the folder"
        )
    config = json.loads(config_path.read_text())
    check_same_test_lock(saved, results["config"], run, config, "evaluated")
    count = 0
    for record in results["trainings"]:
        if arms and record["arm"]["name"] not in arms:
            continue
        if seeds is not None and record["seed_index"] not in seeds:
            continue
        if any(record["arm"]["name"] == arm and record["seed_index"] in s for arm, s in skip):
            continue
        kept = training_folder(saved / "trainings", record)
        target = training_folder(run / "runs", record)
        if (target / RESULT_FILE).is_file():
            print(f"kept {target}: already finished there")
            continue
        if (target / "spec.json").is_file():
            print(f"left {target} alone: a training has begun there")
            continue
        target.mkdir(parents=True, exist_ok=True)
        if (kept / RESULT_FILE).is_file():
            restored = json.loads((kept / RESULT_FILE).read_text())
        else:
            restored = dict(record)
        restored["restored_from"] = str(saved)
        if (kept / DETECTIONS_FILE).is_file():
            shutil.copy2(kept / DETECTIONS_FILE, target / DETECTIONS_FILE)
            how = "with its test predictions"
        else:
            how = "without test predictions (not kept)"
        write_json(target / RESULT_FILE, restored)
        print(f"restored {target} {how}")
        count += 1
    return count


def paused_trainings(run: Path) -> list[Path]:
    """Training folders of RUN begun (spec.json) but not finished (no result.json)."""
    return sorted(
        folder.parent
        for folder in (run / "runs").glob("*/*/seed-*/spec.json")
        if not (folder.parent / RESULT_FILE).is_file()
    )


def save_paused(run: Path, dest: Path) -> int:
    """Keep the resume state of RUN's paused trainings under DEST/paused (replaced whole)."""
    import torch

    def without_optimizer(checkpoint: dict) -> None:
        checkpoint["optimizer"] = None

    if not (run / CONFIG_FILE).is_file():
        raise SystemExit(f"error: {run}: not a compare run folder (no {CONFIG_FILE})")
    kept = dest / PAUSED
    if kept.exists():
        shutil.rmtree(kept)
    count = 0
    for training in paused_trainings(run):
        stages = [d for d in sorted(training.iterdir()) if d.is_dir() and stage_is_kept(d)]
        if not stages:
            continue  # begun, but no epoch saved yet: nothing to resume from
        target = kept / training.relative_to(run / "runs")
        target.mkdir(parents=True)
        shutil.copy2(training / "spec.json", target / "spec.json")
        for stage in stages:
            (target / stage.name / "weights").mkdir(parents=True)
            for name in STAGE_FILES:
                if (stage / name).is_file():
                    shutil.copy2(stage / name, target / stage.name / name)
            weights = stage / "weights"
            if (weights / "last.pt").is_file():
                rewrite_checkpoint(
                    weights / "last.pt",
                    target / stage.name / "weights/last.pt",
                    lambda checkpoint: cast_optimizer_state(checkpoint, torch.bfloat16),
                )
            if (weights / "best.pt").is_file():
                # The best model is only evaluated, never resumed: its optimizer state is
                # ballast (ultralytics strips it at the end of the training all the same).
                rewrite_checkpoint(
                    weights / "best.pt", target / stage.name / "weights/best.pt", without_optimizer
                )
        print(f"kept {training}: paused after epoch {epochs_done(training)}")
        count += 1
    if count:
        shutil.copy2(run / CONFIG_FILE, kept / CONFIG_FILE)
    return count


def restore_paused(saved: Path, run: Path) -> int:
    """Put the paused trainings kept under SAVED/paused into RUN, for the same compare command
    to resume; a training that RUN has finished, or carried as far, is left alone."""
    import torch

    kept = saved / PAUSED
    if not (kept / CONFIG_FILE).is_file():
        raise SystemExit(f"error: {saved}: no paused training kept (no {PAUSED}/{CONFIG_FILE})")
    config = json.loads((kept / CONFIG_FILE).read_text())
    if (run / CONFIG_FILE).is_file():
        check_same_test_lock(
            saved, config, run, json.loads((run / CONFIG_FILE).read_text()), "paused"
        )
    elif run.is_dir() and any(run.iterdir()):
        raise SystemExit(f"error: {run}: not empty and not a compare run folder")
    else:
        run.mkdir(parents=True, exist_ok=True)
        shutil.copy2(kept / CONFIG_FILE, run / CONFIG_FILE)
    count = 0
    for spec in sorted(kept.glob("*/*/seed-*/spec.json")):
        training = spec.parent
        target = run / "runs" / training.relative_to(kept)
        if (target / RESULT_FILE).is_file():
            print(f"kept {target}: already finished there")
            continue
        if epochs_done(target) >= epochs_done(training):
            print(f"kept {target}: already at epoch {epochs_done(target)} there")
            continue
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(training, target)
        for last in target.glob("*/weights/last.pt"):
            rewrite_checkpoint(
                last, last, lambda checkpoint: cast_optimizer_state(checkpoint, torch.float32)
            )
        print(f"restored {target}: paused after epoch {epochs_done(target)}")
        count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    saving = commands.add_parser("save", help="copy a run's report and trainings")
    saving.add_argument("run", type=Path)
    saving.add_argument("dest", type=Path)
    restoring = commands.add_parser("restore", help="put saved trainings into a run folder")
    restoring.add_argument("saved", type=Path)
    restoring.add_argument("run", type=Path)
    restoring.add_argument("--arm", action="append", help="only this arm (repeatable)")
    restoring.add_argument("--seeds", help="only these seed indices, comma list")
    restoring.add_argument(
        "--skip", action="append", default=[], help="leave out ARM:SEEDS, e.g. real:1,2"
    )
    saving_paused = commands.add_parser(
        "save-paused", help="keep the resume state of a run's paused trainings"
    )
    saving_paused.add_argument("run", type=Path)
    saving_paused.add_argument("dest", type=Path)
    restoring_paused = commands.add_parser(
        "restore-paused", help="put kept paused trainings into a run folder, to resume them"
    )
    restoring_paused.add_argument("saved", type=Path)
    restoring_paused.add_argument("run", type=Path)
    args = parser.parse_args()
    if args.command == "save-paused":
        print(f"kept {save_paused(args.run, args.dest)} paused trainings in {args.dest}")
    elif args.command == "restore-paused":
        print(f"restored {restore_paused(args.saved, args.run)} paused trainings into {args.run}")
    elif args.command == "save":
        print(f"saved {save(args.run, args.dest)} trainings to {args.dest}")
    else:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
        skip = [parse_skip(value) for value in args.skip]
        print(
            f"restored {restore(args.saved, args.run, args.arm, seeds, skip)} trainings into "
            f"{args.run}"
        )


if __name__ == "__main__":
    main()
