"""Real-only and real+synthetic mAP50-95 (test and best val) by budget, across kept runs.

`factory compare --budget A,B` checks within one run whether real-only still improves with a
larger budget. The DeepPCB benchmark trained each budget as a run of its own, over several
sessions, so this script collects the kept runs' `results.json` and applies the factory's
own cross-budget rule (`factory.compare.stats.budget_convergence`) to them: for each real
count and arm, the test mAP50-95 mean ± std over seeds at each budget, the paired
difference with its bootstrap CI and verdict as the run reported it, the mean best
validation mAP50-95, each arm's within-training convergence status, and whether real-only's
best validation mAP50-95 had levelled off between the two largest budgets (validation, as
in `factory compare`: the budget is chosen without the test split). Beside that check it
states real-only's *test* change between the same two budgets, for the reader only, and says so
when the test split gained more than the tolerance at a budget the val check calls levelled.

    python bench/budget_curve.py RUN_OR_RESULTS_JSON ... [--arm real+checked] [--out F.md]
    python bench/budget_curve.py RUN ... --seed-index 0     # seed 0 of every run only

`--seed-index` keeps only those seed indices of every run, so that a budget trained with
fewer seeds (one 240k pair) is compared with the same seeds at the other budgets. The test
and best val figures, the per-seed differences and the within-training status are then
computed from those trainings; the bootstrap CI and the verdict are the run's own, over its
seeds, so they are left out ("-").

A run that has trained only real-only at a budget (`--arm real`, the cheaper way to find out
whether real-only has levelled off there) gives a point with `-` for the other arm; its
best val counts in the budget check like any other.

Each argument is a run folder (or kept folder) holding `results.json`, or the file itself.
Runs with the same real count are put on one curve; give only runs made with the same
engine, synthetic set and model, since the script cannot tell them apart from the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from factory.compare.stats import budget_convergence, budget_test_note, convergence, mean_std
from factory.compare.train import recorded_mosaic_closed

REAL_ARM = "real"


def load_points(
    paths: list[Path], arm: str, seed_indices: list[int] | None = None
) -> dict[int, list[dict]]:
    """Per real count, one point per (run, setting): budget, both arms' metrics, verdict;
    with ``seed_indices``, from those seeds' trainings only."""
    curves: dict[int, list[dict]] = defaultdict(list)
    for path in paths:
        results = path / "results.json" if path.is_dir() else path
        if not results.is_file():
            raise SystemExit(f"error: {path}: no results.json there")
        data = json.loads(results.read_text())
        for setting in data["settings"]:
            arms = setting["arms"]
            if REAL_ARM not in arms:
                continue
            if seed_indices is not None:
                point = _seed_point(results, setting, data["trainings"], arm, seed_indices)
                if point is not None:
                    curves[arms[REAL_ARM]["arm"]["real_images"]].append(point)
                continue
            comparison = next((c for c in setting["comparisons"] if c["arm"] == arm), None)
            curves[arms[REAL_ARM]["arm"]["real_images"]].append(
                {
                    "run": results.parent.name,
                    "images_seen": setting["budget"]["images_seen"],
                    "real": _arm_point(arms[REAL_ARM], setting, data["trainings"]),
                    "other": (
                        _arm_point(arms[arm], setting, data["trainings"]) if arm in arms else None
                    ),
                    "difference": comparison["verdict"]["mean_difference"] if comparison else None,
                    "seed_differences": comparison["seed_differences"] if comparison else [],
                    "ci": (
                        [comparison["bootstrap"]["ci_low"], comparison["bootstrap"]["ci_high"]]
                        if comparison
                        and (comparison.get("bootstrap") or {}).get("ci_low") is not None
                        else None
                    ),
                    "verdict": _verdict_word(comparison),
                }
            )
    return curves


def _seed_point(
    results: Path, setting: dict, trainings: list[dict], arm: str, seed_indices: list[int]
) -> dict | None:
    """A point from the given seeds' trainings of both arms (None: the run has none of them)."""
    by_arm = {
        name: {
            t["seed_index"]: t
            for t in _setting_trainings(trainings, setting, setting["arms"][name], seed_indices)
        }
        if name in setting["arms"]
        else {}
        for name in (REAL_ARM, arm)
    }
    if not by_arm[REAL_ARM]:
        return None
    paired = sorted(set(by_arm[REAL_ARM]) & set(by_arm[arm]))
    differences = [
        by_arm[arm][k]["metrics"]["map50_95"] - by_arm[REAL_ARM][k]["metrics"]["map50_95"]
        for k in paired
    ]
    return {
        "run": results.parent.name,
        "images_seen": setting["budget"]["images_seen"],
        "real": _trainings_point(list(by_arm[REAL_ARM].values())),
        "other": _trainings_point(list(by_arm[arm].values())) if by_arm[arm] else None,
        "difference": sum(differences) / len(differences) if differences else None,
        "seed_differences": differences,
        "ci": None,
        "verdict": "-",
    }


def _setting_trainings(
    trainings: list[dict], setting: dict, arm: dict, seed_indices: list[int]
) -> list[dict]:
    """The trainings of one arm (its summary in the setting) in one setting, those seeds."""
    return [
        t
        for t in trainings
        if t["arm"] == arm["arm"]
        and t["seed_index"] in seed_indices
        and t["spec"]["imgsz"] == setting["setting"]["imgsz"]
        and t["spec"]["budget"]["images_seen"] == setting["budget"]["images_seen"]
    ]


def _within_training(trainings: list[dict]) -> str:
    """The factory's within-training check, with the mosaic-off epochs kept apart (kept
    reports older than that judged them with the rest)."""
    curves = [t["train"]["curve"] for t in trainings]
    return convergence(curves, mosaic_closed=recorded_mosaic_closed(trainings[0]))["status"]


def _trainings_point(trainings: list[dict]) -> dict:
    test = mean_std([t["metrics"]["map50_95"] for t in trainings])
    return {
        "mean": test["mean"],
        "std": test["std"],
        "seeds": test["n"],
        "best_val": mean_std([t["train"]["best_val_map50_95"] for t in trainings])["mean"],
        "within_training": _within_training(trainings),
    }


def _arm_point(arm: dict, setting: dict, trainings: list[dict]) -> dict:
    metric = arm["metrics"]["map50_95"]
    arm_trainings = _setting_trainings(trainings, setting, arm, arm["seeds"])
    best_val = arm.get("best_val_map50_95")
    if best_val is None:
        # Reports written before the arm summary carried it: from the arm's trainings.
        best_val = mean_std([t["train"]["best_val_map50_95"] for t in arm_trainings])
        if best_val["n"] != len(arm["seeds"]):
            raise SystemExit(
                f"error: {setting['key']} / {arm['arm']['name']}: found {best_val['n']} "
                f"trainings for {len(arm['seeds'])} seeds"
            )
    return {
        "mean": metric["mean"],
        "std": metric["std"],
        "seeds": metric["n"],
        "best_val": best_val["mean"],
        "within_training": _within_training(arm_trainings),
    }


def _verdict_word(comparison: dict | None) -> str:
    if comparison is None:
        return "-"
    verdict = comparison["verdict"]
    return verdict["direction"] if verdict["distinguishable"] else "noise"


def render(curves: dict[int, list[dict]], arm: str) -> tuple[str, dict]:
    lines = [f"# mAP50-95 by budget: `{REAL_ARM}` and `{arm}`", ""]
    checks = {}
    for real_count in sorted(curves):
        points = sorted(curves[real_count], key=lambda p: p["images_seen"])
        seen = [p["images_seen"] for p in points]
        if len(set(seen)) != len(seen):
            raise SystemExit(
                f"error: {real_count} real images: two runs at the same budget "
                f"({', '.join(p['run'] for p in points)}); pass one per budget"
            )
        check = budget_convergence([(p["images_seen"], p["real"]["best_val"]) for p in points])
        checks[real_count] = check
        lines += [
            f"## {real_count} real images",
            "",
            f"| images seen | seeds | {REAL_ARM} test | {arm} test | difference (seeds) | 95 % CI "
            f"| verdict | best val: {REAL_ARM} / {arm} | still climbing within training | run |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for p in points:
            climbing = [
                name
                for name, a in ((REAL_ARM, p["real"]), (arm, p["other"]))
                if a is not None and a["within_training"] == "climbing"
            ]
            other = p["other"]
            # A real-only run (the other arm not trained at this budget) shows "-" for it.
            other_seeds, other_test, other_val = (
                (other["seeds"], _mean_std(other), f"{other['best_val']:.3f}")
                if other
                else (0, "-", "-")
            )
            seeds_diff = ", ".join(f"{d:+.3f}" for d in p["seed_differences"])
            ci = f"[{p['ci'][0]:+.3f}, {p['ci'][1]:+.3f}]" if p["ci"] else "-"
            diff = f"{p['difference']:+.3f} ({seeds_diff})" if p["difference"] is not None else "-"
            lines.append(
                f"| {p['images_seen']:,} | {p['real']['seeds']} / {other_seeds} | "
                f"{_mean_std(p['real'])} | {other_test} | {diff} | {ci} | "
                f"{p['verdict']} | {p['real']['best_val']:.3f} / {other_val} | "
                f"{', '.join(climbing) or 'neither'} | `{p['run']}` |"
            )
        lines += ["", f"- Budget check: {check['sentence']}"]
        if check["status"] != "unknown":  # two budgets or more
            before, after = ((p["images_seen"], p["real"]["mean"]) for p in points[-2:])
            lines.append(f"- {budget_test_note(before, after, check['status'])}")
        lines.append("")
    return "\n".join(lines), checks


def _mean_std(point: dict) -> str:
    std = point["std"]
    shown = std is not None and point["seeds"] > 1  # one seed has no spread to show
    return f"{point['mean']:.3f}" + (f" ± {std:.3f}" if shown else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--arm", default="real+checked", help="the arm compared with real")
    parser.add_argument("--out", type=Path, help="also write the markdown here (and .json)")
    parser.add_argument(
        "--seed-index", help="only these seed indices of every run, comma list (e.g. 0)"
    )
    args = parser.parse_args(argv)
    seed_indices = None
    if args.seed_index is not None:
        try:
            seed_indices = [int(part) for part in args.seed_index.split(",")]
        except ValueError:
            parser.error(
                f"--seed-index: expected seed indices like 0 or 0,1, got {args.seed_index!r}"
            )
    curves = load_points(args.runs, args.arm, seed_indices)
    if not curves:
        print(f"error: no run has finished `{REAL_ARM}` trainings", file=sys.stderr)
        return 1
    text, checks = render(curves, args.arm)
    print(text)
    if args.out:
        args.out.write_text(text)
        args.out.with_suffix(".json").write_text(
            json.dumps({"points": curves, "budget_checks": checks}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
