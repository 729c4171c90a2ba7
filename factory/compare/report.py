"""``report.md``, ``results.json`` and the plots, from what the run folder holds.

Works on a finished or a partly finished run (``factory compare --report-only RUN_DIR``):
every number is recomputed from the saved per-training results and test predictions.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import re
import sys
from collections import defaultdict
from pathlib import Path

from factory.compare import plots
from factory.compare.arms import REAL_ARM
from factory.compare.evaluate import load_detections
from factory.compare.machine import TRAINING_PACKAGES, cpu_model, describe_cpu, package_version
from factory.compare.metrics import build_match_table, loss_diagnosis, map75
from factory.compare.stats import (
    LEVELLED_TOLERANCE,
    bootstrap_difference,
    budget_convergence,
    budget_test_note,
    convergence,
    mean_std,
    name_seeds,
    verdict,
)
from factory.compare.train import recorded_mosaic_closed
from factory.errors import FactoryError
from factory.io import write_json

METRICS = ("map50_95", "map50", "precision", "recall", "f1")
DIAGNOSIS = (
    "class_blind_map50_95",
    "class_blind_map50",
    "found",
    "wrong_class",
    "missed",
    "background_fp_per_image",
    "map75",
    "median_iou",
    "width_ratio",
    "height_ratio",
)
PACKAGES = (
    "factory",
    "ultralytics",
    "torch",
    "torchvision",
    "numpy",
    "opencv-python",
    "albumentations",
    "matplotlib",
)


def package_versions() -> dict:
    versions = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
    }
    for name in PACKAGES:
        versions[name] = package_version(name)
    return versions


def device_name(device: str) -> str:
    """``cpu``, or ``GPU 0`` for ultralytics' ``0``."""
    return device if device in ("cpu", "mps") else f"GPU {device}"


def device_spans(result: dict) -> list[dict]:
    """Where one training ran: ``[{"device", "first_epoch", "last_epoch"}]``, consecutive
    sittings on one device merged (``device`` None: not recorded). Results from before sittings
    were recorded (2026-12-04) name only their last sitting's device, as the whole training's."""
    epochs = sum(stage["epochs"] for stage in result["train"].get("stages", []))
    sittings = sorted(result["train"].get("sittings") or [], key=lambda s: s["after_epoch"])
    if not sittings:
        device = result.get("device")
        return [{"device": device, "first_epoch": 1, "last_epoch": epochs}] if device else []
    spans: list[dict] = []
    for sitting, following in zip(sittings, [*sittings[1:], None], strict=True):
        last = following["after_epoch"] if following else epochs
        if spans and spans[-1]["device"] == sitting["device"]:
            spans[-1]["last_epoch"] = last
        else:
            spans.append(
                {"device": sitting["device"], "first_epoch": sitting["after_epoch"] + 1,
                 "last_epoch": last}
            )  # fmt: skip
    return spans


# What a sitting records that changes a training's numbers: the CPU, torch's CPU threads
# (bench/results/cpu_threads.md) and the training packages. Logical CPUs are left out: they
# matter only through the threads, and a pinned --threads makes them not matter.
SITTING_FACTORS = ("cpu", "threads", *TRAINING_PACKAGES)


def sitting_factors(result: dict) -> dict[str, list]:
    """Factor -> the distinct values one training's sittings recorded, for each factor some
    sitting recorded (sittings before 2026-12-05 recorded no machine, before session 31 no
    threads; a GPU sitting's threads are None: ultralytics leaves them alone)."""
    found: dict[str, set] = defaultdict(set)
    for sitting in result["train"].get("sittings") or []:
        recorded = {**(sitting.get("machine") or {}), "threads": sitting.get("threads")}
        for factor in SITTING_FACTORS:
            if recorded.get(factor) is not None:
                found[factor].add(recorded[factor])
    return {factor: sorted(found[factor], key=_natural_key)
            for factor in SITTING_FACTORS if found[factor]}  # fmt: skip


def _natural_key(value) -> tuple:
    """Sort key that orders digit runs as numbers: threads 8 before 10, torch 2.9 before 2.10."""
    # isdecimal, not isdigit: a lone "²" is a digit that int() refuses. A part's first item
    # tells numbers from text, so two parts only compare numbers with numbers.
    return tuple((0, int(part)) if part.isdecimal() else (1, part)
                 for part in re.split(r"(\d+)", str(value)) if part)  # fmt: skip


def _differing_factors(setting: dict) -> list[str]:
    """``threads: 1 (`real`: seeds 1, 2), 8 (`real`: seed 0)`` for each factor with more than
    one recorded value among the trainings of one setting (a training that changed value
    between sittings is named under each)."""
    where: dict[str, dict] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for arm, data in setting["arms"].items():
        by_seed = sorted((data.get("sitting_factors") or {}).items(), key=lambda kv: int(kv[0]))
        for seed, factors in by_seed:
            for factor, values in factors.items():
                for value in values:
                    where[factor][str(value)][arm].append(int(seed))
    return [
        f"{factor}: " + ", ".join(
            f"{value} ({'; '.join(f'`{arm}`: {name_seeds(seeds)}' for arm, seeds in arms.items())})"
            for value, arms in sorted(where[factor].items(), key=lambda kv: _natural_key(kv[0]))
        )
        for factor in SITTING_FACTORS
        if len(where.get(factor, {})) > 1
    ]  # fmt: skip


def _unlike_pairs(setting: dict) -> list[int]:
    """Seeds whose arms recorded different factors: their difference mixes the arm with the
    machine. Only factors both trainings recorded are compared."""
    # Seed keys are ints when just computed, strings once read back from results.json.
    arms = [{int(seed): factors for seed, factors in (data.get("sitting_factors") or {}).items()}
            for data in setting["arms"].values()]  # fmt: skip
    unlike = []
    for seed in sorted({seed for factors in arms for seed in factors}):
        recorded = [factors[seed] for factors in arms if seed in factors]
        shared = set.intersection(*(set(factors) for factors in recorded))
        if any(factors[f] != recorded[0][f] for factors in recorded for f in shared):
            unlike.append(seed)
    return unlike


def _where_trained(spans: list[dict]) -> str:
    """``on cpu``, or ``on GPU 0 for epochs 1–52 then on cpu for epochs 53–240``."""
    if len(spans) == 1:
        return f"on {_device_label(spans[0]['device'])}"

    def epochs(span: dict) -> str:
        first, last = span["first_epoch"], span["last_epoch"]
        return f"epoch {first}" if first == last else f"epochs {first}–{last}"

    return " then ".join(f"on {_device_label(s['device'])} for {epochs(s)}" for s in spans)


def _device_label(device: str | None) -> str:
    return "an unrecorded device" if device is None else device_name(device)


def _seeds_by_device(devices: dict) -> str:
    """``seed 0 on cpu, seeds 1, 2 on GPU 0`` from seed index -> device spans; a seed that
    changed device on the way is named alone: ``seed 0 on GPU 0 for epochs 1–52 then on cpu
    for epochs 53–240``."""
    groups: dict[str, list[int]] = {}  # in the order of each place's first seed
    for seed, spans in sorted(devices.items(), key=lambda item: int(item[0])):
        if spans:
            groups.setdefault(_where_trained(spans), []).append(int(seed))
    return ", ".join(f"{name_seeds(seeds)} {where}" for where, seeds in groups.items())


def _plan_key(training: dict) -> tuple[str, str, int]:
    return training["setting"], training["arm"], training["seed_index"]


def load_results(run_dir: Path) -> list[dict]:
    results = []
    for path in sorted((run_dir / "runs").glob("*/*/seed-*/result.json")):
        result = json.loads(path.read_text())
        result["folder"] = str(path.parent)
        results.append(result)
    return results


def write_report(run_dir: Path, *, plots: bool = True) -> Path:
    """Recompute every statistic and write ``results.json``, ``report.md`` and ``plots/``
    (``plots=False``: keep the plots already there)."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise FactoryError(f"{run_dir}: not a compare run folder (no config.json)")
    config = json.loads(config_path.read_text())
    plan = (
        json.loads((run_dir / "plan.json").read_text()) if (run_dir / "plan.json").is_file() else {}
    )
    results = load_results(run_dir)
    if not results:
        raise FactoryError(f"{run_dir}: no finished training to report yet")
    class_names = _class_names(config)
    by_setting: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        by_setting[result["setting"]["key"]][result["arm"]["name"]].append(result)
    _share_real_arm(by_setting, config)
    settings_out = []
    for key, arms in by_setting.items():
        settings_out.append(_setting_summary(key, arms, class_names, config, run_dir))
    across_budgets = real_gains_across_budgets(settings_out)
    for setting in settings_out:
        setting["real_val_gain_across_budgets"] = across_budgets.get(setting["key"])
    from factory.compare.runner import epochs_saved, training_folder

    planned = plan.get("trainings", [])
    done = {(r["setting"]["key"], r["arm"]["name"], r["seed_index"]) for r in results}
    missing = [
        {**t, "epochs_done": epochs_saved(training_folder(run_dir, *_plan_key(t)))}
        for t in planned
        if _plan_key(t) not in done
    ]
    crosscheck = next((r["crosscheck"] for r in results if r.get("crosscheck")), None)
    out = {
        "run_dir": str(run_dir),
        "config": config,
        "versions": package_versions(),
        "trainings_planned": len(planned),
        "trainings_finished": len(results),
        "trainings_missing": missing,
        "crosscheck": crosscheck,
        "settings": settings_out,
        "budget_checks": budget_checks(settings_out),
        "trainings": [_strip(r) for r in results],
    }
    _plots(run_dir, out, class_names, draw=plots)
    write_json(run_dir / "results.json", out)
    (run_dir / "report.md").write_text(render_markdown(out, class_names))
    return run_dir / "report.md"


def _share_real_arm(by_setting: dict, config: dict) -> None:
    """The real arm of a synthetic-ratio setting is trained once, under the ratio-``all``
    setting of the same real count, image size and budget: copy it into every such setting
    that has none, and drop the ratio-``all`` group when it only held that real arm and
    ratio ``all`` was not asked for."""
    lender_keys = set()
    for arms in list(by_setting.values()):
        first = next(iter(arms.values()))[0]["setting"]
        if first.get("synthetic_ratio") is None or REAL_ARM in arms:
            continue
        lender = _real_arm_key(first)
        if REAL_ARM in by_setting.get(lender, {}):
            arms[REAL_ARM] = by_setting[lender][REAL_ARM]
            lender_keys.add(lender)
    ratios = config.get("training", {}).get("synthetic_ratio") or [None]
    for lender in lender_keys:
        if None not in ratios and set(by_setting[lender]) == {REAL_ARM}:
            del by_setting[lender]


def _real_arm_key(setting: dict) -> str:
    from factory.compare.arms import Setting

    return Setting(setting["real_count"], None, setting["imgsz"], setting.get("images_seen")).key


def _class_names(config: dict) -> list[str]:
    import yaml

    data = yaml.safe_load((Path(config["dataset"]) / "data.yaml").read_text())
    names = data["names"]
    return [names[k] for k in sorted(names)] if isinstance(names, dict) else list(names)


def _strip(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "folder"}


def _setting_summary(key, arms, class_names, config, run_dir) -> dict:
    tables = {}
    arm_out = {}
    for arm, runs in arms.items():
        runs.sort(key=lambda r: r["seed_index"])
        tables[arm] = {}
        diagnoses = []
        for run in runs:
            path = Path(run["folder"]) / run["detections"]
            if not path.is_file():
                # Restored from a results.json without its predictions (bench/keep_run.py):
                # its metrics count, the bootstrap and the diagnosis cannot use it.
                continue
            detections, _ = load_detections(path)
            table = build_match_table(detections, len(class_names))
            tables[arm][run["seed_index"]] = table
            diagnosis = loss_diagnosis(detections, run["metrics"]["conf"], class_names)
            diagnoses.append({**diagnosis, "map75": map75(table)})
        confusions: dict[str, int] = defaultdict(int)
        for diagnosis in diagnoses:
            for pair, count in diagnosis["confusions"].items():
                confusions[pair] += count
        per_class = {
            name: {
                metric: mean_std(
                    [r["metrics"]["per_class"][name][metric] for r in runs
                     if r["metrics"]["per_class"][name][metric] is not None]
                )
                for metric in ("ap50", "ap50_95")
            }
            for name in class_names
        }  # fmt: skip
        arm_out[arm] = {
            "arm": runs[0]["arm"],
            "seeds": [r["seed_index"] for r in runs],
            "metrics": {m: mean_std([r["metrics"][m] for r in runs]) for m in METRICS},
            "per_seed": {m: [r["metrics"][m] for r in runs] for m in METRICS},
            "per_class": per_class,
            "seeds_without_predictions": sorted(
                r["seed_index"] for r in runs if r["seed_index"] not in tables[arm]
            ),
            "diagnosis": {
                # A model that matched no box has no box-fit medians (None): left out.
                **{m: mean_std([d[m] for d in diagnoses if d[m] is not None]) for m in DIAGNOSIS},
                "test_boxes": diagnoses[0]["test_boxes"] if diagnoses else None,
                "confusions": dict(sorted(confusions.items(), key=lambda kv: (-kv[1], kv[0]))),
            },
            "params": runs[0]["size"]["params"],
            "fp32_mb": runs[0]["size"]["fp32_mb"],
            "checkpoint_mb": runs[0]["size"]["checkpoint_mb"],
            "cpu_latency_ms": mean_std([r["latency_cpu"]["median_ms"] for r in runs
                                        if r["latency_cpu"].get("median_ms") is not None]),
            # What the latency was timed on (not recorded before 2026-12-05).
            "latency_cpus": sorted({describe_cpu(r["latency_cpu"]) for r in runs
                                    if r["latency_cpu"].get("cpu")}),
            "train_seconds": mean_std([r["train"]["train_seconds"] for r in runs]),
            "best_epoch": [r["train"]["best_epoch"] for r in runs],
            "best_val_map50_95": mean_std([r["train"]["best_val_map50_95"] for r in runs
                                           if r["train"].get("best_val_map50_95") is not None]),
            "convergence": convergence(
                [r["train"]["curve"] for r in runs], mosaic_closed=recorded_mosaic_closed(runs[0])
            ),
            # Seed index -> epochs after which it was resumed; trainings recorded before
            # this was (2026-11-24) have no "resumed_after" and are left out.
            "resumed": {r["seed_index"]: r["train"]["resumed_after"] for r in runs
                        if r["train"].get("resumed_after")},
            "parallel": max(r.get("parallel", 1) for r in runs),
            # Seed index -> where it trained, as device spans (device_spans).
            "devices": {r["seed_index"]: spans for r in runs if (spans := device_spans(r))},
            # Seed index -> what its sittings recorded of CPU, threads and packages.
            "sitting_factors": {r["seed_index"]: factors for r in runs
                                if (factors := sitting_factors(r))},
        }  # fmt: skip
    comparisons = []
    if REAL_ARM in arms:
        for arm in arms:
            if arm == REAL_ARM:
                continue
            real_by_seed = {r["seed_index"]: r for r in arms[REAL_ARM]}
            other_by_seed = {r["seed_index"]: r for r in arms[arm]}
            common = sorted(set(real_by_seed) & set(other_by_seed))
            if not common:
                continue
            diffs = [
                other_by_seed[s]["metrics"]["map50_95"] - real_by_seed[s]["metrics"]["map50_95"]
                for s in common
            ]
            # Only seeds whose test predictions both arms kept can be resampled.
            predicted = sorted(set(tables[arm]) & set(tables[REAL_ARM]))
            boot = None
            if predicted:
                boot = bootstrap_difference(
                    [tables[REAL_ARM][s] for s in predicted],
                    [tables[arm][s] for s in predicted],
                    resamples=int(config.get("bootstrap", 1000)),
                    seed=int(config["training"]["seed"]),
                    key=f"{key}/{arm}",
                )
                boot["seeds"] = predicted
            partial = predicted if predicted and predicted != common else None
            comparisons.append(
                {
                    "arm": arm,
                    "base": REAL_ARM,
                    "seeds": common,
                    "seed_differences": diffs,
                    "seed_difference_summary": mean_std(diffs),
                    "bootstrap": boot,
                    "verdict": verdict(arm, REAL_ARM, diffs, boot, bootstrap_seeds=partial),
                }
            )
    first = next(iter(arms.values()))[0]
    return {
        "key": key,
        "setting": first["setting"],
        "budget": first["spec"]["budget"],
        "model": first["spec"]["model"],
        "arms": arm_out,
        "comparisons": comparisons,
        "curves": {arm: [r["train"]["curve"] for r in runs] for arm, runs in arms.items()},
        "mosaic_closed": recorded_mosaic_closed(first),
    }


def _plots(run_dir: Path, out: dict, class_names: list[str], *, draw: bool = True) -> None:
    """Draw the plots (or, with ``draw=False``, only list those already drawn)."""
    folder = run_dir / "plots"
    if not draw:
        for setting in out["settings"]:
            names = [f"curves_{setting['key']}.png", f"per_class_{setting['key']}.png"]
            setting["plots"] = [f"plots/{n}" for n in names if (folder / n).is_file()]
        out["sweep_plots"] = [f"plots/{p.name}" for p in sorted(folder.glob("map_vs_*.png"))]
        return
    produced = []
    for setting in out["settings"]:
        key = setting["key"]
        produced.append(
            plots.training_curves(
                folder / f"curves_{key}.png",
                setting["curves"],
                f"Learning curves, {key}",
                mosaic_closed=setting.get("mosaic_closed", []),
            )
        )
        produced.append(
            plots.per_class_ap(
                folder / f"per_class_{key}.png",
                class_names,
                {
                    arm: {n: v["ap50_95"]["mean"] for n, v in data["per_class"].items()}
                    for arm, data in setting["arms"].items()
                },
                f"Per-class test AP50-95, {key}",
            )
        )
        setting["plots"] = [str(p.relative_to(run_dir)) for p in produced[-2:]]
    out["sweep_plots"] = []
    for field, label in (
        ("real_count", "real training images"),
        ("synthetic_ratio", "synthetic images per real image"),
        ("imgsz", "image size (px)"),
        ("images_seen", "images seen per training"),
    ):
        series = _sweep_series(out["settings"], field)
        if series:
            path = plots.metric_vs(
                folder / f"map_vs_{field}.png", label, series, f"Test mAP50-95 vs {label}"
            )
            out["sweep_plots"].append(str(path.relative_to(run_dir)))


SWEPT_FIELDS = ("real_count", "synthetic_ratio", "imgsz", "images_seen")


def _real_val_by_budget(settings: list[dict]) -> dict[tuple, list[tuple[int, float, str]]]:
    """Per combination of the other swept fields: (images seen, real-only's mean best val
    mAP50-95, setting key) at each budget of a budget sweep."""
    groups: dict[tuple, list[tuple[int, float, str]]] = defaultdict(list)
    for setting in settings:
        seen = setting["setting"].get("images_seen")
        real = setting["arms"].get(REAL_ARM)
        best_val = (real or {}).get("best_val_map50_95", {}).get("mean")
        if seen is None or best_val is None:
            continue
        others = tuple((f, setting["setting"].get(f)) for f in SWEPT_FIELDS if f != "images_seen")
        groups[others].append((int(seen), best_val, setting["key"]))
    return {others: sorted(points) for others, points in groups.items()}


def budget_checks(settings: list[dict]) -> list[dict]:
    """With a budget sweep: per combination of the other swept fields, whether real-only's
    best validation mAP50-95 still rose at the largest budget (see
    :func:`budget_convergence`). Validation, not test: the budget is a choice of protocol, and
    the test split only scores the models that protocol produced."""
    checks = []
    test_by_key = {
        s["key"]: s["arms"][REAL_ARM]["metrics"]["map50_95"]["mean"]
        for s in settings
        if REAL_ARM in s["arms"]
    }
    for others, points in _real_val_by_budget(settings).items():
        check = budget_convergence([(seen, value) for seen, value, _ in points])
        if check["status"] != "unknown":
            before, after = ((seen, test_by_key[key]) for seen, _, key in points[-2:])
            check["test_gain"] = after[1] - before[1]
            check["test_note"] = budget_test_note(before, after, check["status"])
            varying = [
                (f, v) for f, v in others
                if len({s["setting"].get(f) for s in settings}) > 1
            ]  # fmt: skip
            check["where"] = ", ".join(f"{f}={_value(v)}" for f, v in varying)
            checks.append(check)
    return checks


def real_gains_across_budgets(
    settings: list[dict], *, tolerance: float = LEVELLED_TOLERANCE
) -> dict[str, dict]:
    """Setting key -> where real-only's best val mAP50-95 rose by more than ``tolerance``
    between this budget of a sweep and the next: ``{"to": larger, "gain": g}`` when it rose
    at the next larger budget (real-only had not levelled off here, however flat its own last
    epochs looked), ``{"from": smaller, "gain": g}`` at the largest budget when it rose to it
    (so the largest is not shown to be enough either)."""
    gains = {}
    for points in _real_val_by_budget(settings).values():
        for (seen, value, key), (larger, larger_value, larger_key) in itertools.pairwise(points):
            if larger_value - value > tolerance:
                gains[key] = {"to": larger, "gain": larger_value - value}
                if larger_key == points[-1][2]:
                    gains[larger_key] = {"from": seen, "gain": larger_value - value}
    return gains


def _sweep_series(settings: list[dict], field: str) -> dict:
    """Points (x, mean, std) per line when ``field`` takes 2+ values: one line per arm, and
    per value of the other swept fields when they vary too."""
    values = {s["setting"].get(field) for s in settings}
    if len(values) < 2 or (None in values and field != "real_count"):
        return {}
    varying = [
        f for f in SWEPT_FIELDS if f != field and len({s["setting"].get(f) for s in settings}) > 1
    ]
    series: dict[str, list] = defaultdict(list)
    for setting in settings:
        real_images = max(d["arm"]["real_images"] for d in setting["arms"].values())
        suffix = ", ".join(f"{f}={_value(setting['setting'].get(f))}" for f in varying)
        for arm, data in setting["arms"].items():
            # real-data size is plotted as the number of real images (fractions resolved)
            x = real_images if field == "real_count" else setting["setting"][field]
            metric = data["metrics"]["map50_95"]
            label = f"{arm} ({suffix})" if suffix else arm
            series[label].append((float(x), metric["mean"], metric["std"]))
    return dict(series)


def _value(value) -> str:
    return "all" if value is None else f"{value:g}"


def _fmt(summary: dict, digits: int = 3) -> str:
    if summary.get("mean") is None:
        return "n/a"
    if summary["n"] > 1:
        return f"{summary['mean']:.{digits}f} ± {summary['std']:.{digits}f}"
    return f"{summary['mean']:.{digits}f}"


def render_markdown(out: dict, class_names: list[str]) -> str:
    config = out["config"]
    training = config["training"]
    lines = [
        f"# factory compare: {Path(config['dataset']).name}",
        "",
        f"- Dataset: `{config['dataset']}`; test lock verified before training and before "
        f"evaluation (lock sha256 `{config['test_lock_sha256'][:16]}...`).",
        f"- Trainings finished: {out['trainings_finished']} of {out['trainings_planned']}"
        + (" (**incomplete run**: missing " + ", ".join(
            _missing_name(t) for t in out["trainings_missing"]
        ) + ")" if out["trainings_missing"] else "") + ".",
        f"- Command: `{config.get('command') or 'n/a'}`; re-report with "
        f"`factory compare --report-only {out['run_dir']}`.",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in out["versions"].items() if v) + ".",
        "",
        "## Protocol",
        "",
        f"- Model `{training['model']}`"
        + (" (trained from scratch)" if not str(training["model"]).endswith(".pt")
           else " (fine-tuned from a local checkpoint)")
        + (f", first {training['freeze']} layers frozen for the first "
           f"{training['freeze_fraction']:.0%} of the epochs" if training["freeze"] else "")
        + f"; {training['seeds']} seeds per arm; ultralytics hyperparameters and augmentations "
        "identical for every arm" + (f" (overrides: {training['hyperparameters']})"
                                     if training["hyperparameters"] else "") + ".",
        "- Same budget: every arm of a setting trains on a list of exactly `epoch_size` images "
        "per epoch (its own images repeated or subsampled with a fixed seed), for the same "
        "number of epochs and batch size, so images seen, batches, optimizer steps and the "
        "learning-rate schedule are identical. Early stopping off.",
        "- Best checkpoint by mAP50-95 on the real val split; evaluation on the locked real test "
        "split by the factory's own COCO-style code (101-point AP, IoU 0.50:0.95, predictions at "
        "conf 0.001, NMS IoU 0.7, max 300 per image); P/R/F1 at the confidence maximising mean F1 "
        "(IoU 0.5).",
        "- Statistics: mean ± std over seeds; paired difference per seed; 95% bootstrap CI of the "
        f"difference of seed-mean mAP50-95 over test images ({config.get('bootstrap')} resamples, "
        "the same draws for both arms). *Distinguishable from noise* = the CI excludes 0 and every "
        "seed's difference has the same sign.",
        "",
    ]  # fmt: skip
    for setting in out["settings"]:
        lines += _render_setting(setting, class_names)
    if out.get("sweep_plots") or out.get("budget_checks"):
        lines += ["## Sweeps", ""]
        for check in out.get("budget_checks", []):
            where = f" ({check['where']})" if check["where"] else ""
            lines += [f"- **Budget check**{where}: {check['sentence']}"]
            if check.get("test_note"):  # absent from results written before it existed
                lines += [f"  - {check['test_note']}"]
        if out.get("budget_checks"):
            lines += [""]
        lines += [f"![sweep]({p})" for p in out.get("sweep_plots", [])] + [""]
    check = out.get("crosscheck")
    if check:
        theirs, ours = check["ultralytics"], check["factory"]
        lines += [
            "## Cross-check against ultralytics' validator",
            "",
            "One model evaluated on the test split by both (ultralytics uses its own matching and "
            "interpolation and letterboxed batches, so small differences are expected):",
            "",
            "| | mAP50 | mAP50-95 | P | R |",
            "|---|---|---|---|---|",
            f"| factory | {ours['map50']:.4f} | {ours['map50_95']:.4f} | "
            f"{ours['precision']:.4f} | {ours['recall']:.4f} |",
            f"| ultralytics | {theirs['map50']:.4f} | {theirs['map50_95']:.4f} | "
            f"{theirs['precision']:.4f} | {theirs['recall']:.4f} |",
            "",
        ]
    return "\n".join(lines) + "\n"


def _unconverged_caveat(setting: dict) -> str | None:
    """The line under each verdict when real-only is not shown converged at this budget: its
    best val mAP rose between budgets of the sweep (see :func:`real_gains_across_budgets`),
    was still rising at the end of this training, or was trained at one budget only."""
    sweep = setting.get("real_val_gain_across_budgets")
    if sweep and "to" in sweep:
        return (
            f"*`{REAL_ARM}` had not levelled off at this budget: its best val mAP50-95 rose by "
            f"{sweep['gain']:+.3f} at {sweep['to']:,} images seen. A difference measured "
            "against an unconverged baseline may not hold at convergence.*"
        )
    if sweep:
        return (
            f"*`{REAL_ARM}`'s best val mAP50-95 still rose by {sweep['gain']:+.3f} from "
            f"{sweep['from']:,} images seen to this budget, so this budget is not shown to be "
            "converged either: a difference measured against an unconverged baseline may not "
            "hold at convergence. Confirm it at a larger budget.*"
        )
    real = setting["arms"].get(REAL_ARM)
    if real is not None and real["convergence"]["status"] == "climbing":
        return (
            f"*`{REAL_ARM}` was still climbing at the end of this budget: a difference "
            "measured against an unconverged baseline may not hold at convergence. "
            "Confirm it at a larger budget (`--budget A,B`).*"
        )
    if real is not None and "images_seen" not in setting["setting"]:
        # Levelled (or too short to tell) within one training: the learning rate decays to its
        # floor at the end of any budget, so only a larger budget that no longer helps shows it.
        return (
            f"*`{REAL_ARM}` is not shown converged: one budget cannot show it. Confirm it at a "
            "larger budget (`--budget A,B`).*"
        )
    return None


def verdict_summary(run_dir: Path) -> list[str]:
    """Plain lines for the terminal at the end of a run: how many trainings finished, then
    each setting's verdicts, each followed by its caveat when real-only had not converged
    (the caveat travels with the verdict here as in the report)."""
    path = run_dir / "results.json"
    if not path.is_file():
        return []
    out = json.loads(path.read_text())
    lines = [f"trainings finished: {out['trainings_finished']} of {out['trainings_planned']}"]
    lines += [
        f"in progress: {_missing_name(t)}" for t in out["trainings_missing"] if t.get("epochs_done")
    ]
    for setting in out["settings"]:
        caveat = _unconverged_caveat(setting)
        for comparison in setting["comparisons"]:
            lines.append(f"{setting['key']}: {_plain(comparison['verdict']['sentence'])}")
            if caveat:
                lines.append(f"  caveat: {_plain(caveat)}")
    return lines


def _missing_name(training: dict) -> str:
    """``setting/arm/seed k``, with the epochs saved when an earlier sitting started it."""
    name = f"{training['setting']}/{training['arm']}/seed {training['seed_index']}"
    if training.get("epochs_done"):
        epochs = training.get("budget", {}).get("epochs", "?")
        name += f" (epoch {training['epochs_done']} of {epochs} saved)"
    return name


def _plain(markdown: str) -> str:
    return markdown.replace("**", "").replace("*", "").replace("`", "")


def _render_setting(setting: dict, class_names: list[str]) -> list[str]:
    budget = setting["budget"]
    lines = [
        f"## Setting `{setting['key']}`",
        "",
        f"Image size {setting['setting']['imgsz']} px; budget per training: **{budget['images_seen']:,} "
        f"images seen** exactly ({budget['epochs']} epochs x {budget['epoch_size']} images, batch "
        f"{budget['batch']}, {budget['batches']:,} batches).",
        "",
        "| arm | real imgs | synthetic imgs | test mAP50-95 | mAP50 | P | R | F1 | params | MB (fp32) "
        "| CPU ms/img | best epoch | convergence |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm, data in setting["arms"].items():
        m = data["metrics"]
        lines.append(
            f"| {arm} | {data['arm']['real_images']} | {data['arm']['synthetic_images']} | "
            f"{_fmt(m['map50_95'])} | {_fmt(m['map50'])} | {_fmt(m['precision'])} | "
            f"{_fmt(m['recall'])} | {_fmt(m['f1'])} | {data['params'] / 1e6:.2f} M | "
            f"{data['fp32_mb']:.1f} | {_fmt(data['cpu_latency_ms'], 1)} | "
            f"{', '.join(str(e) for e in data['best_epoch'])} | {data['convergence']['status']} |"
        )
    lines.append("")
    timed_on = sorted({cpu for data in setting["arms"].values()
                       for cpu in data.get("latency_cpus", [])})  # fmt: skip
    if len(timed_on) == 1:
        lines.append(f"- CPU ms/img was timed on {timed_on[0]}, batch 1.")
    elif timed_on:
        lines.append(
            f"- CPU ms/img was timed on more than one CPU ({'; '.join(timed_on)}): compare it "
            "only between trainings timed on the same one (`latency_cpu` in results.json)."
        )
    parallel = max(data.get("parallel", 1) for data in setting["arms"].values())
    if parallel > 1:
        lines.append(
            f"- CPU ms/img was timed while up to {parallel} trainings ran at once "
            "(`--parallel`): it shows load, not the model's speed; time it with `--parallel 1`."
        )
    for arm, data in setting["arms"].items():
        lost = data.get("seeds_without_predictions")
        if lost:
            lines.append(
                f"- `{arm}`: {name_seeds(lost)} restored without test predictions: "
                "counted in the metrics and the per-seed differences, not in the bootstrap "
                "or the loss diagnosis."
            )
    for arm, data in setting["arms"].items():
        resumed = data.get("resumed") or {}
        if resumed:
            which = "; ".join(
                f"seed {seed} after epoch{'s' if len(epochs) > 1 else ''} "
                f"{', '.join(str(e) for e in epochs)}"
                for seed, epochs in sorted(resumed.items(), key=lambda kv: int(kv[0]))
            )
            lines.append(
                f"- `{arm}`: paused and resumed in a later sitting: {which}. A resumed training "
                "is not the one an uninterrupted run makes; it differs about as much as another "
                "seed would (`bench/resume_check.py`)."
            )
    devices = {span["device"] for data in setting["arms"].values()
               for spans in (data.get("devices") or {}).values() for span in spans}  # fmt: skip
    if len(devices) > 1:
        where = "; ".join(
            f"`{arm}`: {_seeds_by_device(data['devices'])}"
            for arm, data in setting["arms"].items()
            if data.get("devices")
        )
        lines.append(
            f"- Trained on more than one kind of device: {where}. The protocol is the same; "
            "the arithmetic is not, so a training differs between devices about as another "
            "seed would."
        )
    differing = _differing_factors(setting)
    if differing:
        unlike = _unlike_pairs(setting)
        pairs = (
            f" The two arms of {name_seeds(unlike)} differ here, so that difference mixes the "
            "arm with the machine."
            if unlike
            else " Each seed's arms match, so the per-seed differences compare like with like."
        )
        lines.append(
            f"- Sittings differ in {'; '.join(differing)}. Each can change a "
            f"training's arithmetic, by about as much as another seed.{pairs} Sittings that "
            "recorded nothing are not counted."
        )
    for arm, data in setting["arms"].items():
        conv = data["convergence"]
        # A levelled arm is listed too when mosaic closed at the end: its jump is in the note.
        if conv["status"] != "levelled" or conv.get("closed_gain") is not None:
            warning = (
                " — **a still-climbing arm makes the comparison unreliable**"
                if (conv["status"] == "climbing" and arm == REAL_ARM)
                else ""
            )
            lines.append(f"- `{arm}`: {conv['note']}{warning}.")
    real = setting["arms"].get(REAL_ARM)
    if (
        real
        and real["convergence"]["status"] == "levelled"
        and "images_seen" not in setting["setting"]
    ):
        lines.append(
            f"- `{REAL_ARM}` looks levelled within its training, but the learning rate decays to "
            "its floor at the end of any budget, which flattens the tail by itself; only a larger "
            "budget that no longer helps shows convergence (sweep it: `--budget A,B`)."
        )
    lines.append("")
    if setting["comparisons"]:
        lines += ["### Verdict", ""]
        caveat = _unconverged_caveat(setting)
        for comparison in setting["comparisons"]:
            boot = comparison["bootstrap"]
            lines += [f"**{comparison['verdict']['sentence']}**", ""]
            if caveat:
                # The verdict is often quoted alone, so the caveat goes with it.
                lines += [caveat, ""]
            lines += [
                "| seed | " + " | ".join(str(s) for s in comparison["seeds"]) + " | mean ± std |",
                "|---|" + "---|" * (len(comparison["seeds"]) + 1),
                f"| {comparison['arm']} − real (mAP50-95) | "
                + " | ".join(f"{d:+.4f}" for d in comparison["seed_differences"])
                + f" | {_fmt(comparison['seed_difference_summary'], 4)} |",
                "",
                _bootstrap_line(boot, comparison["seeds"]),
                "",
            ]  # fmt: skip
    lines += [
        "### Per-class test AP50-95 (mean ± std over seeds)",
        "",
        "| class | " + " | ".join(setting["arms"]) + " |",
        "|---|" + "---|" * len(setting["arms"]),
    ]
    for name in class_names:
        cells = [_fmt(data["per_class"][name]["ap50_95"]) for data in setting["arms"].values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += _render_diagnosis(setting)
    lines += [f"![plot]({p})" for p in setting.get("plots", [])] + [""]
    return lines


def _bootstrap_line(boot: dict | None, seeds: list[int]) -> str:
    if boot is None:
        return (
            "No bootstrap over test images: no paired seed kept its test predictions "
            "(trainings restored from a results.json)."
        )
    # Older results.json files have no "seeds" in the bootstrap: it covered every paired seed.
    covered = boot.get("seeds", seeds)
    only = (
        f", {name_seeds(covered)} only (the others' test predictions were not kept)"
        if covered != seeds
        else ""
    )
    return (
        f"Bootstrap over {boot['test_images']} test images{only}: difference "
        f"{boot['difference']:+.4f}, 95% CI [{boot['ci_low']:+.4f}, {boot['ci_high']:+.4f}]."
    )


def _render_diagnosis(setting: dict) -> list[str]:
    lines = [
        "### Where each arm loses (mean ± std over seeds)",
        "",
        "Class-blind mAP treats every box as one class: it measures finding and placing "
        "defects, whatever they are called. A gap between it and the class-aware mAP that "
        "grows in an arm means that arm names defects wrongly more often. The outcome of each "
        "test box is taken at each training's best-F1 threshold and IoU 0.5: found under its "
        "class, found only under another class, or missed.",
        "",
        "| arm | mAP50-95 | class-blind | mAP50 | class-blind | found | wrong class | missed "
        "| background FP/img | commonest confusions (all seeds) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm, data in setting["arms"].items():
        d, m = data["diagnosis"], data["metrics"]
        top = ", ".join(f"{pair} {n}" for pair, n in list(d["confusions"].items())[:3]) or (
            "none" if d["test_boxes"] is not None else "n/a"
        )
        lines.append(
            f"| {arm} | {_fmt(m['map50_95'])} | {_fmt(d['class_blind_map50_95'])} | "
            f"{_fmt(m['map50'])} | {_fmt(d['class_blind_map50'])} | {_fmt(d['found'])} | "
            f"{_fmt(d['wrong_class'])} | {_fmt(d['missed'])} | "
            f"{_fmt(d['background_fp_per_image'], 2)} | {top} |"
        )
    lines += [
        "",
        "### How tight the boxes are (mean ± std over seeds)",
        "",
        "Over each training's predictions at its best-F1 threshold that match a test box of "
        "their class at IoU 0.5: the median IoU, and the median ratio of predicted to true "
        "width and height. A synthetic set labelled looser or tighter than the real "
        "annotators drew shows as box ratios away from the real arm's and a lower AP75 at a "
        "level mAP50. Models trained too briefly can draw loose boxes on real data alone.",
        "",
        "| arm | mAP50 | AP75 | mAP50-95 | median IoU | width ratio | height ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm, data in setting["arms"].items():
        d, m = data["diagnosis"], data["metrics"]
        lines.append(
            f"| {arm} | {_fmt(m['map50'])} | {_fmt(d['map75'])} | {_fmt(m['map50_95'])} | "
            f"{_fmt(d['median_iou'])} | {_fmt(d['width_ratio'])} | {_fmt(d['height_ratio'])} |"
        )
    return [*lines, ""]
