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
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from factory.compare.report import load_results
from factory.compare.runner import DETECTIONS_FILE, RESULT_FILE, _safe
from factory.io import write_json

KEPT = ("report.md", "results.json", "val_curves.md")


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
    if config["test_lock_sha256"] != results["config"]["test_lock_sha256"]:
        raise SystemExit(
            f"error: {saved} was evaluated on another test split than {run} "
            "(test lock digests differ)"
        )
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
    args = parser.parse_args()
    if args.command == "save":
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
