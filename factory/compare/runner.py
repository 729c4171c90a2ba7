"""Orchestration: settings x arms x seeds, each training saved as soon as it finishes."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from factory.compare.arms import (
    REAL_ARM,
    Setting,
    SyntheticSet,
    build_arm_dir,
    check_no_test_files,
    link_split,
    load_synthetic_set,
    make_arms,
    real_subset,
)
from factory.compare.budget import plan_budget
from factory.compare.machine import describe_sitting, machine
from factory.compare.options import CompareOptions
from factory.dataset import Dataset, load_dataset
from factory.errors import FactoryError
from factory.io import sha256_file, write_json
from factory.paths import outputs_root
from factory.progress import make_progress
from factory.seeding import derive_seed

CONFIG_FILE = "config.json"
RESULT_FILE = "result.json"
DETECTIONS_FILE = "detections.npz"
INTERIM_REPORT_SECONDS = 60
# Options that change what is trained; the others (bootstrap, latency images) only the report.
TRAINING_FIELDS = (
    "seed", "seeds", "images_seen", "epochs", "batch", "imgsz", "real_count",
    "synthetic_ratio", "model", "freeze", "freeze_fraction", "synthetic_only",
    "synth_per_class", "synth_options", "hyperparameters",
)  # fmt: skip


def console() -> Console:
    return Console(stderr=True, quiet=os.environ.get("FACTORY_NO_PROGRESS", "") not in ("", "0"))


def training_seed(seed: int, index: int) -> int:
    return derive_seed(seed, "train", index) % (2**31)


def config_of(options: CompareOptions, dataset: Dataset) -> dict:
    training = {name: getattr(options, name) for name in TRAINING_FIELDS}
    return {
        "dataset": str(Path(dataset.root).resolve()),
        "test_lock_sha256": hashlib.sha256(
            json.dumps(dataset.test_lock["files"], sort_keys=True).encode()
        ).hexdigest(),
        "synthetic": [[name, str(Path(p).resolve())] for name, p in options.synthetic],
        "training": training,
        "preset": options.preset,
        "bootstrap": options.bootstrap,
        "latency_images": options.latency_images,
        "crosscheck": options.crosscheck,
        "command": options.command,
        "device": options.device,
        "workers": options.workers,
    }


def _run_identity(config: dict) -> dict:
    """What makes two commands the same comparison. The seed count is left out: seed k
    trains the same way whatever the count, so ``--seeds 5`` adds seeds to a 3-seed run."""
    training = {k: v for k, v in config["training"].items() if k != "seeds"}
    return {"dataset": config["dataset"], "synthetic": config["synthetic"], "training": training}


def default_run_dir(config: dict, dataset: Dataset) -> Path:
    """Same command, same folder: the name hashes what defines the trainings."""
    key = json.dumps(_run_identity(config), sort_keys=True).encode()
    return outputs_root() / "compare" / f"{dataset.name}-{hashlib.sha256(key).hexdigest()[:8]}"


def open_run_dir(run_dir: Path, config: dict, *, overwrite: bool) -> None:
    path = run_dir / CONFIG_FILE
    if path.is_file():
        old = json.loads(path.read_text())
        same = all(k in old for k in ("dataset", "synthetic", "training")) and (
            _run_identity(old) == _run_identity(config)
        )
        old_seeds, seeds = old.get("training", {}).get("seeds", 0), config["training"]["seeds"]
        fewer_seeds = same and seeds < old_seeds
        if not same and not overwrite:
            raise FactoryError(
                f"{run_dir}: holds a comparison with other settings "
                "(pass --overwrite to start it again, or choose another --out)"
            )
        if fewer_seeds and not overwrite:
            raise FactoryError(
                f"{run_dir}: holds a comparison of {old_seeds} seeds, got --seeds {seeds}; "
                f"pass --seeds {old_seeds} or more (more adds seeds), or --overwrite to start "
                "it again"
            )
        if not same or fewer_seeds:
            shutil.rmtree(run_dir)
    elif run_dir.is_dir() and any(run_dir.iterdir()) and not overwrite:
        raise FactoryError(
            f"{run_dir}: output folder is not empty (pass --overwrite to replace it)"
        )
    elif run_dir.is_dir() and overwrite:
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(path, config)


def make_view(dataset: Dataset, records, folder: Path) -> Path:
    """A canonical dataset of symlinks: the given train records, the same val/test/clean
    (and lock), for ``run_synth`` to draw only from this subset's defects."""
    if (folder / "data.yaml").is_file():
        return folder
    root = Path(dataset.root)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / "data.yaml", folder / "data.yaml")
    if (root / "factory.json").is_file():
        shutil.copyfile(root / "factory.json", folder / "factory.json")
    chosen = [*records, *dataset.split("val"), *dataset.split("test")]
    for record in chosen:
        relatives = [record.image_path, record.label_path, record.mask_path, record.reference_path]
        for path in relatives:
            if path is not None:
                link = folder / Path(path).relative_to(root)
                link.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(Path(path).resolve(), link)
    for path in dataset.clean_images:
        link = folder / Path(path).relative_to(root)
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(Path(path).resolve(), link)
    return folder


def generate_synthetic(
    dataset: Dataset, records, setting: Setting, options: CompareOptions, run_dir: Path
) -> SyntheticSet:
    """Run ``factory synth`` on the subset's train images only (cached in the run folder)."""
    try:
        from factory.synth import SynthOptions, run_synth
    except ImportError:
        raise FactoryError(
            "factory synth is not available in this installation; pass --synthetic DIR "
            "(a `factory synth` output folder)"
        ) from None
    real = "all" if setting.real_count is None else f"{setting.real_count:g}"
    folder = run_dir / "synth" / f"real-{real}"
    out = folder / "dataset"
    if not (out / "data.yaml").is_file():
        source = Path(dataset.root) if setting.real_count is None else folder / "source"
        if setting.real_count is not None:
            make_view(dataset, records, source)
        fields = {f.name for f in dataclasses.fields(SynthOptions)}
        overrides = {"seed": options.seed, **options.synth_options}
        if options.synth_per_class is not None:
            overrides["per_class"] = options.synth_per_class
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise FactoryError(
                f"--synth-option: unknown synth option(s) {unknown}; known: {sorted(fields)}"
            )
        console().print(f"compare: generating synthetic data for real-{real} in {out}")
        run_synth(source, out, SynthOptions(**overrides), overwrite=True)
    return load_synthetic_set("synthetic", out, dataset)


def run_compare(
    options: CompareOptions, *, on_report: Callable[[Path], None] | None = None
) -> Path:
    """Train every (setting, arm, seed), evaluate on the locked test split, write the report.

    Returns the run folder (``report.md``, ``results.json``, ``plots/``). Trainings already
    finished in that folder with the same specification are skipped. The report is rewritten
    after every finished training (then ``on_report(run_dir)`` is called), so an interrupted
    comparison still reports what it finished.
    """
    options = options.resolved()
    dataset = load_dataset(options.dataset)  # verifies the test lock
    if not dataset.is_locked:
        raise FactoryError(
            f"{dataset.root}: dataset has no test lock; run `factory split` first so the "
            "test set is frozen before comparing"
        )
    for split in ("train", "val", "test"):
        if not dataset.split(split):
            raise FactoryError(f"{dataset.root}: the {split} split is empty")
    given_sets = [load_synthetic_set(name, Path(p), dataset) for name, p in options.synthetic]
    config = config_of(options, dataset)
    run_dir = Path(options.out) if options.out else default_run_dir(config, dataset)
    open_run_dir(run_dir, config, overwrite=options.overwrite)
    say = console()
    say.print(f"compare: run folder: {run_dir}")
    val_images = link_split(dataset.split("val"), run_dir / "data" / "val", "val")
    test_yaml = _test_yaml(dataset, run_dir) if options.crosscheck else None
    swept_budgets = options.budgets if len(options.budgets) > 1 else [None]
    settings = [
        Setting(count, ratio, size, seen)
        for count, ratio, size, seen in itertools.product(
            options.real_count, options.synthetic_ratio, options.imgsz, swept_budgets
        )
    ]
    planned = []
    for setting in settings:
        records = real_subset(dataset.split("train"), setting.real_count, options.seed)
        only_real = options.only_arms == [REAL_ARM]
        sets = given_sets or (
            [] if only_real else [generate_synthetic(dataset, records, setting, options, run_dir)]
        )
        arms = make_arms(
            records, sets, setting.synthetic_ratio, options.seed,
            synthetic_only=options.synthetic_only,
        )  # fmt: skip
        if options.only_arms:
            unknown = sorted(set(options.only_arms) - {a.name for a in arms})
            if unknown and not only_real:
                raise FactoryError(
                    f"--arm: unknown arm(s) {unknown}; arms: {', '.join(a.name for a in arms)}"
                )
        planned.append((setting, arms))
    # One budget for every training of the run (or of each swept budget), so sweep points
    # are comparable too.
    largest = max(a.size for _, arms in planned for a in arms)
    jobs = []
    built: set[tuple[str, str]] = set()
    for setting, arms in planned:
        budget = plan_budget(
            setting.images_seen or options.budgets[0], options.batch, largest, options.epochs
        )
        owned = []  # (setting the arm is trained and reported under, arm, data.yaml)
        for arm in arms:
            # The real arm is the same for every synthetic ratio: trained once, shared.
            owner = setting.real_arm_setting if arm.name == REAL_ARM else setting
            if (owner.key, arm.name) in built:
                continue
            built.add((owner.key, arm.name))
            check_no_test_files(arm, dataset)
            data_yaml = build_arm_dir(
                arm,
                run_dir / "data" / owner.key / _safe(arm.name),
                budget=budget,
                val_images=val_images,
                class_names=dataset.class_names,
                seed=options.seed,
                setting_key=owner.key,
            )
            owned.append((owner, arm, data_yaml))
        # Seed by seed, every arm: a paired comparison is complete as early as possible.
        for index in range(options.seeds):
            for owner, arm, data_yaml in owned:
                jobs.append((owner, arm, budget, data_yaml, index))
    # plan.json keeps every planned training, so the report names what is still missing;
    # only the arms of --arm and the seeds of --seed-index are trained now.
    selected = set(options.only_seed_indices or range(options.seeds))
    chosen = set(options.only_arms or [a.name for _, arms in planned for a in arms])
    write_json(
        run_dir / "plan.json",
        {
            "trainings": [
                {"setting": s.key, "arm": a.name, "seed_index": i, "budget": b.as_dict()}
                for s, a, b, _, i in jobs
            ]
        },
    )
    from factory.compare.train import select_device

    device = select_device(options.device)
    crosschecked = any((run_dir / "runs").rglob("crosscheck.json")) if test_yaml else True
    pending = []
    now = [job for job in jobs if job[4] in selected and job[1].name in chosen]
    for setting, arm, budget, data_yaml, index in now:
        folder = training_folder(run_dir, setting.key, arm.name, index)
        spec = _train_spec(options, setting, budget, data_yaml, folder, index, device, arm.name)
        spec_record = _spec_record(spec, data_yaml)
        if not _finished(folder, spec_record, data_yaml):
            pending.append((spec, spec_record, setting, arm, index, folder))
    if pending:
        from factory.compare.train import cpu_threads

        first_spec = pending[0][0]
        # One unwrapped line, so that bench/sitting_repeat.py can read it back from the log.
        say.print(
            f"compare: machine: {describe_sitting(machine(), device, cpu_threads(first_spec))}",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
    last_report = time.monotonic()
    deadline = None if options.stop_after_seconds is None else _now() + options.stop_after_seconds
    unfinished = []
    with make_progress() as progress:
        task = progress.add_task("compare: trainings", total=len(now))
        progress.advance(task, len(now) - len(pending))
        calls = []
        for spec, spec_record, setting, arm, index, folder in pending:
            resumed = _resume_note(folder, spec_record, spec.budget.epochs)
            message = (
                f"compare: training {spec.label} "
                f"({spec.budget.images_seen} images seen, {spec.budget.epochs} epochs of "
                f"{spec.budget.epoch_size}{resumed})"
            )
            # ultralytics' own cross-check of our metrics, once per run folder.
            do_crosscheck = test_yaml is not None and not crosschecked
            crosschecked = True
            calls.append(
                (message, (spec, spec_record, setting, arm, index, dataset, options, folder,
                 test_yaml if do_crosscheck else None, deadline))
            )  # fmt: skip
        for outcome in _run_trainings(calls, options.parallel, say.print):
            if outcome is not None:  # paused or never started: --stop-after ran out
                unfinished.append(outcome)
                continue
            progress.advance(task)
            # Between trainings, report what is finished (unless trainings are quick).
            if time.monotonic() - last_report > INTERIM_REPORT_SECONDS:
                _report(run_dir, on_report, plots=False)
                last_report = time.monotonic()
    if unfinished:  # shown even without progress output: it says how to go on
        Console(stderr=True).print(_stopped_message(unfinished, options.stop_after_seconds))
    if any((run_dir / "runs").glob(f"*/*/seed-*/{RESULT_FILE}")):
        _report(run_dir, on_report, plots=True)
    return run_dir


def epochs_saved(folder: Path, spec_record: dict | None = None) -> int:
    """Epochs an earlier sitting saved of an unfinished training (resumable from last.pt);
    with ``spec_record``, 0 unless the folder holds that very training."""
    from factory.compare.train import epochs_done

    spec_file = folder / "spec.json"
    if spec_record is not None and (
        not spec_file.is_file() or json.loads(spec_file.read_text()) != spec_record
    ):
        return 0
    return epochs_done(folder)


def _resume_note(folder: Path, spec_record: dict, epochs: int) -> str:
    """The ", resuming after epoch N of M" of a training an earlier sitting left unfinished."""
    done = epochs_saved(folder, spec_record)
    return f", resuming after epoch {done} of {epochs}" if done else ""


def _stopped_message(unfinished: list[dict], stop_after_seconds: float | None) -> str:
    from factory.compare.options import format_duration

    paused = [u for u in unfinished if u["epochs_done"]]
    waiting = len(unfinished) - len(paused)
    parts = [f"{u['name']} after epoch {u['epochs_done']} of {u['epochs']}" for u in paused]
    text = f"compare: stopped by --stop-after {format_duration(stop_after_seconds or 0)}: "
    if parts:
        text += "paused " + "; ".join(parts) + " (last.pt saved)"
    if waiting:
        text += ("; " if parts else "") + f"{waiting} training(s) not started"
    return text + ". Re-run the same command to go on from there."


def _run_trainings(calls: list[tuple[str, tuple]], parallel: int, say: Callable):
    """Run ``_train_and_evaluate`` for every ``(message, arguments)``, ``parallel`` at a time
    in spawned processes (each writes only its own folder); yields each one's outcome (None
    when finished) as it ends."""
    if parallel <= 1 or len(calls) <= 1:
        for message, call in calls:
            say(message)
            yield _train_and_evaluate(*call)
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")  # CUDA and ultralytics do not survive fork
    with ProcessPoolExecutor(max_workers=min(parallel, len(calls)), mp_context=context) as pool:
        running = set()
        for message, call in calls:
            say(f"{message} [{parallel} at once]")
            running.add(pool.submit(_train_and_evaluate, *call))
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()  # a failed training stops the run with its error


def _report(run_dir: Path, on_report, *, plots: bool) -> None:
    """The report so far (without plots between trainings: they cost seconds each)."""
    from factory.compare.report import write_report

    write_report(run_dir, plots=plots)
    if on_report is not None:
        on_report(run_dir)


def _now() -> float:
    """Wall-clock seconds (not monotonic): the --parallel worker processes share the deadline."""
    return time.time()


def training_folder(run_dir: Path, setting_key: str, arm_name: str, seed_index: int) -> Path:
    return Path(run_dir) / "runs" / setting_key / _safe(arm_name) / f"seed-{seed_index}"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name)


def _test_yaml(dataset: Dataset, run_dir: Path) -> Path:
    """A yaml whose ``val`` is the test split, for ultralytics' own cross-check only."""
    import yaml

    folder = (run_dir / "data" / "test").resolve()
    images = link_split(dataset.split("test"), folder, "test")
    path = folder / "data.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "path": str(folder),
                "train": str(images),
                "val": str(images),
                "names": dict(enumerate(dataset.class_names)),
            },
            sort_keys=False,
        )
    )
    return path


def _train_spec(options, setting, budget, data_yaml, folder, index, device, arm_name):
    from factory.compare.train import TrainSpec

    freeze_epochs = round(budget.epochs * options.freeze_fraction) if options.freeze else 0
    return TrainSpec(
        model=options.model,
        data_yaml=data_yaml,
        out_dir=folder.resolve(),
        imgsz=setting.imgsz,
        budget=budget,
        seed=training_seed(options.seed, index),
        device=device,
        workers=options.workers,
        threads=options.threads,
        freeze=options.freeze,
        freeze_epochs=freeze_epochs,
        hyperparameters=dict(options.hyperparameters),
        label=training_name(setting.key, arm_name, index),
    )


def training_name(setting_key: str, arm_name: str, seed_index: int) -> str:
    """How messages name one training: ``real-50_ratio-1_img-320 / real / seed 1``."""
    return f"{setting_key} / {arm_name} / seed {seed_index}"


def _spec_record(spec, data_yaml: Path) -> dict:
    model = Path(spec.model)
    return {
        "model": spec.model,
        "model_sha256": sha256_file(model) if model.suffix == ".pt" else None,
        "imgsz": spec.imgsz,
        "budget": spec.budget.as_dict(),
        "seed": spec.seed,
        "freeze": spec.freeze,
        "freeze_epochs": spec.freeze_epochs,
        "hyperparameters": spec.hyperparameters,
        "train_list_sha256": train_list_digest(Path(data_yaml).parent),
    }


def train_list_digest(arm_folder: Path) -> str:
    """sha256 of the arm's ``train.txt``, each entry taken relative to the arm folder and
    paired with the sha256 of the image and label it links to. The same images in the same
    order give the same digest in any run folder, so a finished training can be copied into
    another run (for example a real arm shared by several synthetic sets), and other pixels
    or labels under the same names do not pass for it."""
    arm_folder = Path(arm_folder).resolve()
    files: dict[str, str] = {}

    def content(line: str) -> str:
        if line not in files:
            image = Path(line)
            label = arm_folder / "labels" / "train" / f"{image.stem}.txt"
            files[line] = sha256_file(image) + (sha256_file(label) if label.is_file() else "-")
        return files[line]

    digest = hashlib.sha256()
    for line in (arm_folder / "train.txt").read_text().splitlines():
        digest.update(f"{Path(line).relative_to(arm_folder)}\t{content(line)}\n".encode())
    return digest.hexdigest()


def _finished(folder: Path, spec_record: dict, data_yaml: Path) -> bool:
    path = folder / RESULT_FILE
    if not path.is_file():
        return False
    recorded = json.loads(path.read_text()).get("spec")
    # Run folders from before train_list_digest hashed train.txt itself (absolute paths).
    legacy = {**spec_record, "train_list_sha256": sha256_file(Path(data_yaml).parent / "train.txt")}
    return recorded in (spec_record, legacy)


def _train_and_evaluate(
    spec, spec_record, setting, arm, index, dataset, options, folder, test_yaml, deadline=None
) -> dict | None:
    """Train, evaluate on the test split and write ``result.json``; None when finished, else
    (``deadline`` passed) what is left: ``{"name", "epochs_done", "epochs"}``."""
    from factory.compare import evaluate
    from factory.compare.metrics import build_match_table, detection_metrics
    from factory.compare.train import TrainingPaused, cpu_threads, train

    name = spec.label  # "setting / arm / seed k"
    if deadline is not None and _now() >= deadline:  # do not start (or resume) a training
        done = epochs_saved(folder, spec_record)
        return {"name": name, "epochs_done": done, "epochs": spec.budget.epochs}

    # A result here is from another specification (a finished one was skipped), and so is a
    # partial training whose spec.json differs: train from scratch, do not resume its stages.
    spec_file = folder / "spec.json"
    stale = (folder / RESULT_FILE).is_file() or (
        spec_file.is_file() and json.loads(spec_file.read_text()) != spec_record
    )
    if stale:
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(spec_file, spec_record)
    try:
        outcome = train(spec, deadline=deadline)
    except TrainingPaused as paused:
        return {"name": name, "epochs_done": paused.epochs_done, "epochs": paused.epochs}
    weights = Path(outcome["best_weights"])
    test = dataset.split("test")
    detections = evaluate.predict_test(weights, test, spec.imgsz, spec.device)
    evaluate.save_detections(folder / DETECTIONS_FILE, detections, [r.key for r in test])
    table = build_match_table(detections, dataset.num_classes)
    crosscheck = None
    if test_yaml is not None:
        theirs = evaluate.ultralytics_val(
            weights, test_yaml, spec.imgsz, spec.device, spec.budget.batch
        )
        ours = detection_metrics(table, dataset.class_names)
        crosscheck = {
            "ultralytics": theirs,
            "factory": {k: ours[k] for k in ("map50", "map50_95", "precision", "recall")},
        }
        write_json(folder / "crosscheck.json", crosscheck)
    result = {
        "setting": setting.as_dict(),
        "arm": arm.describe(),
        "seed_index": index,
        "seed": spec.seed,
        "spec": spec_record,
        "train": outcome,
        "metrics": detection_metrics(table, dataset.class_names),
        "size": evaluate.model_size(weights),
        "latency_cpu": evaluate.cpu_latency(
            weights, [r.image_path for r in test[: options.latency_images]], spec.imgsz
        ),
        "crosscheck": crosscheck,
        # Where it trained (the last sitting's, for a resumed training): neither is part of the
        # spec, so trainings from CPU and GPU machines can share a run.
        "device": spec.device,
        "workers": spec.workers,
        "threads": cpu_threads(spec),
        # Latency is timed while the other parallel trainings run: compare it across runs
        # only at the same value.
        "parallel": options.parallel,
        "detections": DETECTIONS_FILE,
    }
    # Written last, atomically: its presence means this training is finished.
    tmp = folder / f".{RESULT_FILE}.tmp"
    write_json(tmp, result)
    tmp.replace(folder / RESULT_FILE)
    return None
