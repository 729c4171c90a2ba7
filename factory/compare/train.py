"""One YOLO training through ultralytics, offline, with an exact budget.

Everything ultralytics could download is switched off before it is imported: fonts
(``check_font`` is replaced by a no-op; it is called when a dataset is checked, even with
``plots=False``), the AMP check (``amp=False``; it fetches ``yolo26n.pt``), pretrained
weights (models come from ``.yaml`` configs or a local ``.pt``), analytics
(``YOLO_OFFLINE=1`` makes ultralytics see itself offline) and pip auto-install
(``YOLO_AUTOINSTALL=False``). Early stopping is off (``patience=0``) so every arm trains
its whole budget.

Note: ultralytics' trainer seeds the global ``random``/``numpy``/``torch`` generators from
``seed``; that is inside its code, the factory's own code never relies on global state.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from factory.compare.budget import Budget
from factory.compare.machine import machine
from factory.compare.options import format_duration
from factory.errors import FactoryError

MAP50_COLUMN = "metrics/mAP50(B)"
MAP_COLUMN = "metrics/mAP50-95(B)"


def prepare_ultralytics() -> None:
    """Make ultralytics offline and quiet; call before (and it is safe after) importing it."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    import ultralytics.data.utils as data_utils
    import ultralytics.utils as ultralytics_utils
    import ultralytics.utils.checks as checks
    import ultralytics.utils.plotting as plotting

    def no_font_download(font: str = "Arial.ttf"):
        return None

    checks.check_font = no_font_download
    data_utils.check_font = no_font_download
    plotting.check_font = no_font_download
    ultralytics_utils.ONLINE = False
    try:
        from ultralytics.utils.events import events

        events.enabled = False
    except ImportError:  # older ultralytics has no events module
        pass


class TrainingPaused(Exception):
    """A training stopped at an epoch boundary because ``--stop-after`` ran out. Its
    ``last.pt`` (saved just before) resumes it: re-run the same command."""

    def __init__(self, epochs_done: int, epochs: int):
        super().__init__(f"paused after epoch {epochs_done} of {epochs}")
        self.epochs_done = epochs_done
        self.epochs = epochs

    def __reduce__(self):  # picklable across the --parallel worker processes
        return (TrainingPaused, (self.epochs_done, self.epochs))


def pause_due(deadline: float | None, epochs_done: int, epochs: int, now: float) -> bool:
    """Whether a training that has just saved epoch ``epochs_done`` of ``epochs`` should stop
    for ``--stop-after``: the deadline (a ``time.time()`` value) has passed and epochs remain.
    After the last epoch it finishes: only the final validation and the test remain."""
    return deadline is not None and epochs_done < epochs and now >= deadline


def select_device(requested: str | None = None) -> str:
    """``requested`` as given, else the first CUDA GPU when there is one, else the CPU."""
    if requested:
        return requested
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class TrainSpec:
    """Everything that defines one training (the same for every arm except ``data_yaml``)."""

    model: str  # a model .yaml (from scratch) or a local .pt checkpoint (fine-tune)
    data_yaml: Path
    out_dir: Path
    imgsz: int
    budget: Budget
    seed: int
    device: str = "cpu"
    workers: int = 0
    # torch CPU threads (None: ultralytics' own choice). The count changes a CPU training's
    # gradients bitwise, but like device and workers it is where a sitting ran, not what the
    # training is: recorded per sitting, not in spec.json.
    threads: int | None = None
    freeze: int = 0  # freeze the first N layers for `freeze_epochs`, then train all
    freeze_epochs: int = 0
    hyperparameters: dict = field(default_factory=dict)
    # How the progress lines name this training ("setting / arm / seed k"); not part of
    # what defines it, so it is left out of spec.json.
    label: str = ""

    def stages(self) -> list[tuple[str, int, int | None]]:
        """``(name, epochs, freeze)`` per ultralytics run."""
        if self.freeze and 0 < self.freeze_epochs < self.budget.epochs:
            return [
                ("frozen", self.freeze_epochs, self.freeze),
                ("unfrozen", self.budget.epochs - self.freeze_epochs, None),
            ]
        return [("train", self.budget.epochs, self.freeze or None)]


def ultralytics_arguments(spec: TrainSpec, name: str, epochs: int, freeze: int | None) -> dict:
    """The keyword arguments given to ``YOLO.train`` for one stage."""
    arguments = {
        "data": str(spec.data_yaml),
        "epochs": epochs,
        "imgsz": spec.imgsz,
        "batch": spec.budget.batch,
        "seed": spec.seed,
        "deterministic": True,
        "device": spec.device,
        "workers": spec.workers,
        "project": str(spec.out_dir),
        "name": name,
        "exist_ok": True,
        "amp": False,
        "plots": False,
        "patience": 0,
        "val": True,
        "save": True,
        "cache": False,
        "verbose": False,
        "pretrained": False,
        "freeze": freeze,
        **schedule_for(epochs),
    }
    arguments.update(spec.hyperparameters)
    return arguments


def resume_overrides(spec: TrainSpec) -> dict:
    """What a resumed stage takes from this sitting rather than from its ``last.pt``: where it
    runs. Neither changes what is trained (``spec.json`` leaves both out)."""
    return {"device": spec.device, "workers": spec.workers}


def schedule_for(epochs: int) -> dict:
    """Ultralytics' epoch-counted schedule rescaled to the same share of the budget.

    Its defaults (3 warmup epochs, mosaic off for the last 10) are meant for about 100
    epochs; compare splits a budget into few long epochs, where they would mean 20% warmup
    and no mosaic at all. So: warmup over 3% and mosaic off for the last 10% of the epochs,
    whatever the number of epochs.
    """
    return {"warmup_epochs": round(0.03 * epochs, 3), "close_mosaic": round(0.1 * epochs)}


def mosaic_closed_epochs(stages: list[dict], hyperparameters: dict | None = None) -> list[int]:
    """The epochs (1-based, counted over all stages, as in a training's curve) that ultralytics
    trains with mosaic switched off: the last ``close_mosaic`` of each stage.

    Validation mAP jumps there in any budget, because the training images start to look like
    the validation ones, not because the model is still learning; convergence checks keep them
    apart. ``stages`` as recorded by ``train`` (``name``, ``epochs``); ``hyperparameters`` the
    ``--hyp`` overrides (``close_mosaic``, or ``mosaic: 0``, which leaves nothing to switch off).
    """
    hyperparameters = hyperparameters or {}
    if float(hyperparameters.get("mosaic", 1.0)) == 0:
        return []
    closed, offset = [], 0
    for stage in stages:
        epochs = int(stage["epochs"])
        close = int(hyperparameters.get("close_mosaic", schedule_for(epochs)["close_mosaic"]))
        closed += range(offset + max(epochs - close, 0) + 1, offset + epochs + 1)
        offset += epochs
    return closed


def recorded_mosaic_closed(training: dict) -> list[int]:
    """``mosaic_closed_epochs`` of a finished training as ``results.json`` records it (its
    ``train`` stages and ``spec`` hyperparameters); arms of one setting share the schedule."""
    return mosaic_closed_epochs(
        training["train"].get("stages", []), training["spec"].get("hyperparameters", {})
    )


def run_ultralytics(
    model_source: str,
    arguments: dict,
    deadline: float | None = None,
    label: str = "",
    threads: int | None = None,
) -> Path:
    """Train one stage; return ultralytics' save folder. Raises ``TrainingPaused`` after the
    first epoch that ends past ``deadline``; ``label`` names the training in the progress
    lines; ``threads`` sets torch's CPU threads. (Patched in tests.)"""
    prepare_ultralytics()
    use_cpu_threads(threads)
    from ultralytics import YOLO

    model = YOLO(model_source)
    _add_callbacks(model, deadline, label)
    model.train(**arguments)
    return Path(model.trainer.save_dir)


def resume_ultralytics(
    last_weights: Path,
    deadline: float | None = None,
    overrides: dict | None = None,
    label: str = "",
    threads: int | None = None,
) -> Path:
    """Resume an interrupted stage from its ``last.pt``, like ``run_ultralytics``.

    ``overrides`` (``device``, ``workers``) replace what the checkpoint remembers: a training
    paused on a GPU machine resumes on the CPU of this one, and the other way round."""
    prepare_ultralytics()
    use_cpu_threads(threads)
    from ultralytics import YOLO

    model = YOLO(str(last_weights))
    _add_callbacks(model, deadline, label)
    model.train(resume=True, **(overrides or {}))
    return Path(model.trainer.save_dir)


def use_cpu_threads(threads: int | None) -> None:
    """Make ultralytics set torch to ``threads`` CPU threads (None: leave its own choice).

    Its ``select_device`` calls ``torch.set_num_threads(NUM_THREADS)`` at every CPU training
    and prediction, overriding any earlier setting, so its module constant is what to set.
    It applies to this process only: a --parallel worker sets its own."""
    if threads is None:
        return
    from ultralytics.utils import torch_utils

    torch_utils.NUM_THREADS = int(threads)


def cpu_threads(spec: TrainSpec) -> int | None:
    """The torch threads a CPU training gets (``spec.threads``, else ultralytics' own choice);
    None on a GPU, where ultralytics leaves torch's threads alone."""
    if spec.device not in ("cpu", "mps"):
        return None
    if spec.threads is not None:
        return int(spec.threads)
    prepare_ultralytics()
    from ultralytics.utils import NUM_THREADS

    return NUM_THREADS


def _add_callbacks(model, deadline: float | None, label: str = "") -> None:
    clock = EpochClock()
    model.add_callback("on_train_epoch_start", lambda trainer: clock.start(time.monotonic()))
    model.add_callback(
        "on_fit_epoch_end",
        lambda trainer: _print_epoch(trainer, label, clock.stop(time.monotonic())),
    )

    def pause_if_due(trainer) -> None:
        # on_fit_epoch_end runs after ultralytics saved last.pt (with the optimizer state), so
        # stopping here loses nothing. Raising skips its final_eval, which would strip the
        # optimizer from last.pt and make it unresumable.
        epochs_done = trainer.epoch + 1
        if epochs_done > trainer.epochs:  # the final validation of best.pt
            return
        if pause_due(deadline, epochs_done, trainer.epochs, time.time()):
            for loader in (trainer.train_loader, trainer.test_loader):
                if hasattr(loader, "close"):
                    loader.close()  # no dataloader worker outlives the pause
            raise TrainingPaused(epochs_done, trainer.epochs)

    model.add_callback("on_fit_epoch_end", pause_if_due)


class EpochClock:
    """Seconds per epoch (training and validation) over this sitting's epochs: setup before
    the first epoch does not count, and a resumed training is timed on this machine."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.durations: list[float] = []

    def start(self, now: float) -> None:
        self.started = now

    def stop(self, now: float) -> float | None:
        """Record the epoch that ends ``now``; the mean seconds per epoch so far."""
        if self.started is not None:
            self.durations.append(now - self.started)
            self.started = None
        return sum(self.durations) / len(self.durations) if self.durations else None


def epoch_line(
    epoch: int, epochs: int, value: float | None, label: str = "", seconds: float | None = None
) -> str:
    """``  epoch 87/240: val mAP50-95 0.436  [real / seed 1; 1m44s an epoch, 4h26m left]``:
    side by side (``--parallel``) the lines must say which training they are from."""
    shown = f"{value:.3f}" if isinstance(value, int | float) else "n/a"
    line = f"  epoch {epoch}/{epochs}: val mAP50-95 {shown}"
    notes = [label] if label else []
    if seconds is not None:
        left_seconds = seconds * (epochs - epoch)
        if left_seconds >= 600:  # whole minutes: the seconds of an estimate hours ahead are noise
            left_seconds = round(left_seconds / 60) * 60
        left = f", {format_duration(left_seconds)} left" if epoch < epochs else ""
        notes.append(f"{format_duration(seconds)} an epoch{left}")
    return f"{line}  [{'; '.join(notes)}]" if notes else line


def _print_epoch(trainer, label: str = "", seconds_per_epoch: float | None = None) -> None:
    """One progress line per epoch (ultralytics runs quiet: ``verbose=False``)."""
    if os.environ.get("FACTORY_NO_PROGRESS", "") not in ("", "0"):
        return
    if trainer.epoch + 1 > trainer.epochs:  # the final validation of best.pt
        return
    metrics = getattr(trainer, "metrics", None) or {}
    line = epoch_line(
        trainer.epoch + 1, trainer.epochs, metrics.get(MAP_COLUMN), label, seconds_per_epoch
    )
    print(line, file=sys.stderr, flush=True)


def read_curve(results_csv: Path) -> list[dict]:
    """Validation mAP per epoch from ultralytics' ``results.csv``."""
    if not results_csv.is_file():
        return []
    with open(results_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    curve = []
    for row in rows:
        row = {k.strip(): v for k, v in row.items() if k}
        try:
            curve.append(
                {
                    "epoch": int(float(row["epoch"])),
                    "map50": float(row[MAP50_COLUMN]),
                    "map50_95": float(row[MAP_COLUMN]),
                }
            )
        except (KeyError, TypeError, ValueError):  # a short or unfinished row
            continue
    return curve


RESUMES_FILE = "resumed_after.json"


def resumed_after(stage_dir: Path) -> list[int]:
    """The epochs of one stage after which a later sitting resumed it (``--stop-after``, or an
    interrupted run), as ``_run_stage`` recorded them."""
    path = Path(stage_dir) / RESUMES_FILE
    return json.loads(path.read_text()) if path.is_file() else []


SITTINGS_FILE = "sittings.json"
STAGE_DONE_FILE = "stage_done.json"  # written when a stage has trained all its epochs


def sittings(stage_dir: Path) -> list[dict]:
    """Where each sitting of one stage ran, first to last: ``{"after_epoch", "device",
    "workers", "machine"}``, the first with ``after_epoch`` 0. Stages trained before this was
    recorded (2026-12-04) have none, and sittings before 2026-12-05 no ``machine``."""
    path = Path(stage_dir) / SITTINGS_FILE
    return json.loads(path.read_text()) if path.is_file() else []


def _sitting(spec: TrainSpec, after_epoch: int) -> dict:
    return {
        "after_epoch": after_epoch,
        "device": spec.device,
        "workers": spec.workers,
        "threads": cpu_threads(spec),
        "machine": machine(),
    }


def _unrecorded_sittings(stage_dir: Path, resumes: list[int]) -> list[dict]:
    """The sittings of a stage paused before they were recorded: ultralytics' ``args.yaml``
    still names the device of the latest one (a resume rewrites it); the earlier ones are
    unknown (``None``)."""
    args_yaml = stage_dir / "args.yaml"
    args = (yaml.safe_load(args_yaml.read_text()) or {}) if args_yaml.is_file() else {}
    found = [{"after_epoch": epoch, "device": None, "workers": None} for epoch in [0, *resumes]]
    if args.get("device") is not None:
        found[-1].update(device=str(args["device"]), workers=args.get("workers"))
    return found


def record_resume(stage_dir: Path, spec: TrainSpec, saved: int) -> None:
    """Record that this sitting resumes the stage after epoch ``saved`` (in ``resumed_after.json``
    and ``sittings.json``). A sitting stopped before it finished an epoch trained nothing, so
    this one replaces its record rather than adding a second one after the same epoch."""
    earlier = resumed_after(stage_dir)
    before = sittings(stage_dir) or _unrecorded_sittings(stage_dir, earlier)
    earlier = [epoch for epoch in earlier if epoch != saved]
    before = [sitting for sitting in before if sitting["after_epoch"] != saved]
    (stage_dir / RESUMES_FILE).write_text(json.dumps([*earlier, saved]))
    (stage_dir / SITTINGS_FILE).write_text(json.dumps([*before, _sitting(spec, saved)]))


def epochs_done(training_dir: Path) -> int:
    """Epochs a (possibly unfinished) training folder has saved, over all its stages, counting
    only those a later sitting keeps: a finished stage's, or an unfinished one's with its
    ``last.pt`` (without it, as when a copy came back without the checkpoint, the stage
    starts over, whatever its results.csv says)."""
    return sum(
        len(read_curve(path))
        for path in Path(training_dir).glob("*/results.csv")
        if stage_is_kept(path.parent)
    )


def stage_is_kept(stage_dir: Path) -> bool:
    """Whether a later sitting keeps this stage's saved epochs: it finished, or it has the
    ``last.pt`` to resume from."""
    return (stage_dir / STAGE_DONE_FILE).is_file() or (stage_dir / "weights/last.pt").is_file()


def train(spec: TrainSpec, *, deadline: float | None = None) -> dict:
    """Run every stage of ``spec`` (resuming an interrupted one) and return where the best
    checkpoint is and the learning curve, with epochs counted over the whole budget.

    With ``deadline`` (a ``time.time()`` value) it raises ``TrainingPaused`` after the first
    epoch that ends past it; calling it again resumes from there."""
    if spec.budget.epoch_size % spec.budget.batch:
        raise FactoryError("budget: epoch size must be a multiple of the batch size")
    start = time.perf_counter()
    source = spec.model
    curve: list[dict] = []
    best: tuple[float, str] | None = None
    epoch_offset = 0
    stages = []
    resumes: list[int] = []
    where: list[dict] = []
    for name, epochs, freeze in spec.stages():
        stage_dir = spec.out_dir / name
        done = stage_dir / STAGE_DONE_FILE
        if not done.is_file():
            # Between two stages (the runner itself does not start a training past it).
            if epoch_offset and pause_due(deadline, epoch_offset, spec.budget.epochs, time.time()):
                raise TrainingPaused(epoch_offset, spec.budget.epochs)
            try:
                save_dir = _run_stage(spec, source, name, epochs, freeze, stage_dir, deadline)
            except TrainingPaused as paused:
                raise TrainingPaused(
                    epoch_offset + paused.epochs_done, spec.budget.epochs
                ) from None
            if save_dir.resolve() != stage_dir.resolve():
                raise FactoryError(f"{save_dir}: ultralytics saved outside {stage_dir}")
            done.write_text(json.dumps({"epochs": epochs, "freeze": freeze}) + "\n")
        stage_curve = read_curve(stage_dir / "results.csv")
        resumes += [epoch + epoch_offset for epoch in resumed_after(stage_dir)]
        where += [{**sitting, "after_epoch": sitting["after_epoch"] + epoch_offset, "stage": name}
                  for sitting in sittings(stage_dir)]  # fmt: skip
        weights = stage_dir / "weights"
        for point in stage_curve:
            point = {**point, "epoch": point["epoch"] + epoch_offset, "stage": name}
            point["images_seen"] = point["epoch"] * spec.budget.epoch_size
            curve.append(point)
        if stage_curve:
            fitness = max(p["map50_95"] for p in stage_curve)
            if best is None or fitness > best[0]:
                best = (fitness, str(weights / "best.pt"))
        stages.append({"name": name, "epochs": epochs, "freeze": freeze})
        epoch_offset += epochs
        source = str(weights / "last.pt")
    best_weights = Path(best[1]) if best else spec.out_dir / stages[-1]["name"] / "weights/best.pt"
    if not best_weights.is_file():
        raise FactoryError(f"{best_weights}: training finished without a best checkpoint")
    best_point = max(curve, key=lambda p: p["map50_95"]) if curve else None
    return {
        "best_weights": str(best_weights),
        "best_epoch": best_point["epoch"] if best_point else None,
        "best_val_map50_95": best_point["map50_95"] if best_point else None,
        "curve": curve,
        "stages": stages,
        # Epochs after which a later sitting resumed it (empty: trained in one go). Resuming
        # changes the training about as much as another seed (bench/resume_check.py).
        "resumed_after": resumes,
        # Where each sitting ran (device, workers), from the epoch after which it started.
        "sittings": where,
        "train_seconds": time.perf_counter() - start,
    }


def _run_stage(spec, source, name, epochs, freeze, stage_dir: Path, deadline) -> Path:
    last = stage_dir / "weights" / "last.pt"
    # Two stages (--freeze) count their epochs apart: the line names the stage too.
    label = spec.label
    if len(spec.stages()) > 1:
        label = " / ".join(part for part in (spec.label, f"{name} stage") if part)
    if last.is_file():
        # Recorded first: ultralytics' results.csv does not mark a resume reliably (its time
        # column restarts, but need not drop). The fallback below deletes the record with the
        # stage.
        record_resume(stage_dir, spec, saved=len(read_curve(stage_dir / "results.csv")))
        try:
            return resume_ultralytics(
                last, deadline, resume_overrides(spec), label=label, threads=spec.threads
            )
        except TrainingPaused:
            raise
        except Exception as error:  # unfinished run that cannot resume: start the stage again
            print(
                f"compare: {last} does not resume ({type(error).__name__}: {error}); "
                f"training {stage_dir.name} from its first epoch",
                file=sys.stderr,
                flush=True,
            )
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    (stage_dir / SITTINGS_FILE).write_text(json.dumps([_sitting(spec, 0)]))
    arguments = ultralytics_arguments(spec, name, epochs, freeze)
    return run_ultralytics(source, arguments, deadline, label=label, threads=spec.threads)
