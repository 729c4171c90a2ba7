"""The options of ``factory compare``, its presets, validated at the edge."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from factory.errors import FactoryError

# Defaults without a preset: the DeepPCB protocol of the issue (320 px, 30,000 images seen,
# where the sketch saw real-only YOLOv8n level off on 100 images), 3 seeds. Not a
# convergence guarantee: on 50 DeepPCB images real-only still gained 0.054 mAP50-95 from
# 30k to 60k images seen (README), so sweep --budget on your own data.
DEFAULTS = {
    "seeds": 3,
    "images_seen": 30_000,
    "batch": 16,
    "imgsz": [320],
}

# Ultralytics arguments compare sets itself: --hyp may not override them, or arms could get
# different budgets, early stopping, downloads (amp) or a different data split.
CONTROLLED_ARGUMENTS = {
    "data", "epochs", "imgsz", "batch", "seed", "deterministic", "device", "workers",
    "project", "name", "exist_ok", "amp", "plots", "patience", "val", "save", "freeze",
    "resume", "fraction", "time", "pretrained", "model", "cache", "split",
}  # fmt: skip

PRESETS: dict[str, dict] = {
    # Demo data on an idle 2-core CPU in about 13 minutes (measured, see the README): 2 arms x
    # 1 seed at the demo's native 256 px, 4,320 images seen each (30 epochs of 144). At 160 px
    # the demo's 13 px bridges and opens shrink below what YOLOv8n learns, and test mAP was 0.
    "quick": {
        "seeds": 1,
        "images_seen": 4_320,
        "epochs": 30,
        "batch": 16,
        "imgsz": [256],
        "bootstrap": 500,
        "latency_images": 10,
    },
    # A real run on one GPU: 640 px, 60,000 images seen (twice the levelling-off
    # budget for 100 DeepPCB images at 320 px; 50 images still climbed there), 3 seeds.
    "full": {
        "seeds": 3,
        "images_seen": 60_000,
        "batch": 32,
        "imgsz": [640],
        "workers": 4,
        "bootstrap": 2000,
    },
}


@dataclass
class CompareOptions:
    """Everything ``run_compare`` needs. ``None`` means: the preset's value, else the default."""

    dataset: Path
    synthetic: list[tuple[str, Path]] = field(default_factory=list)
    out: Path | None = None
    preset: str | None = None
    seed: int = 0
    seeds: int | None = None
    # Images seen per training; a list sweeps the budget (one setting per value).
    images_seen: int | list[int] | None = None
    epochs: int | None = None
    batch: int | None = None
    imgsz: list[int] | None = None
    real_count: list[float | None] = field(default_factory=lambda: [None])
    synthetic_ratio: list[float | None] = field(default_factory=lambda: [None])
    model: str = "yolov8n.yaml"
    freeze: int = 0
    freeze_fraction: float = 0.3
    synthetic_only: bool = False
    synth_per_class: int | None = None
    synth_options: dict = field(default_factory=dict)
    bootstrap: int | None = None
    device: str | None = None
    workers: int | None = None
    # Trainings run at once, each in its own process: one small YOLO does not fill a GPU.
    parallel: int = 1
    # torch CPU threads per training; None: ultralytics' own choice (one less than the logical
    # CPUs, up to 8). Gradients differ bitwise with the count, so it is recorded.
    threads: int | None = None
    latency_images: int | None = None
    crosscheck: bool = True
    hyperparameters: dict = field(default_factory=dict)
    overwrite: bool = False
    command: str | None = None  # the command line, recorded in the report
    # Train only these arms now (the others later, in the same run folder); with only
    # "real", no synthetic set is needed yet. Requires --epochs so the budget is fixed.
    only_arms: list[str] | None = None
    # Train only these seed indices now (0 to seeds-1), the others later: splits a long
    # comparison across sittings or machines seed by seed.
    only_seed_indices: list[int] | None = None
    # Stop cleanly after this many seconds: trainings pause at the next epoch boundary (their
    # last.pt resumes them) and no new one starts. Splits one long training across sittings.
    stop_after_seconds: float | None = None

    def resolved(self) -> CompareOptions:
        """A copy with preset and default values filled in, checked."""
        if self.preset is not None and self.preset not in PRESETS:
            raise FactoryError(
                f"--preset: unknown preset {self.preset!r}; choose one of: {', '.join(PRESETS)}"
            )
        base = {
            **DEFAULTS,
            "bootstrap": 1000,
            "workers": 0,
            "latency_images": 20,
            **PRESETS.get(self.preset or "", {}),
        }
        values = {
            name: (getattr(self, name) if getattr(self, name) is not None else base[name])
            for name in base
        }
        out = dataclasses.replace(self, **values)
        out.validate()
        return out

    @property
    def budgets(self) -> list[int]:
        """The budget(s) in images seen, as a list (one value unless the budget is swept)."""
        if isinstance(self.images_seen, list | tuple):
            return [int(b) for b in self.images_seen]
        return [] if self.images_seen is None else [int(self.images_seen)]

    def validate(self) -> None:
        checks = [
            (self.seeds >= 1, f"--seeds must be at least 1, got {self.seeds}"),
            (
                all(b >= 1 for b in self.budgets),
                f"--budget must be positive, got {self.images_seen}",
            ),
            (
                len(set(self.budgets)) == len(self.budgets),
                f"--budget values must differ, got {self.images_seen}",
            ),
            (self.batch >= 1, f"--batch must be at least 1, got {self.batch}"),
            (self.epochs is None or self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            (all(s >= 32 for s in self.imgsz), f"--imgsz values must be >= 32, got {self.imgsz}"),
            (self.bootstrap >= 100, f"--bootstrap must be at least 100, got {self.bootstrap}"),
            (
                0 < self.freeze_fraction < 1,
                f"--freeze-fraction must lie in (0, 1), got {self.freeze_fraction}",
            ),
            (self.freeze >= 0, f"--freeze must be >= 0, got {self.freeze}"),
            (self.parallel >= 1, f"--parallel must be at least 1, got {self.parallel}"),
            (
                self.threads is None or self.threads >= 1,
                f"--threads must be at least 1, got {self.threads}",
            ),
            (
                self.stop_after_seconds is None or self.stop_after_seconds > 0,
                f"--stop-after must be positive, got {self.stop_after_seconds} s",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise FactoryError(message)
        for value in self.real_count:
            if value is not None and value <= 0:
                raise FactoryError(f"--real-count values must be positive, got {value:g}")
        for value in self.synthetic_ratio:
            if value is not None and value < 0:
                raise FactoryError(f"--synthetic-ratio values must be >= 0, got {value:g}")
        if self.only_arms and self.epochs is None:
            raise FactoryError(
                "--arm needs --epochs: otherwise the epoch size depends on the arms trained"
            )
        indices = self.only_seed_indices or []
        outside = [i for i in indices if i is None or not 0 <= i < self.seeds]
        if outside:
            raise FactoryError(
                f"--seed-index: expected indices in 0..{self.seeds - 1} (--seeds "
                f"{self.seeds}), got {', '.join('all' if i is None else str(i) for i in outside)}"
            )
        controlled = sorted(set(self.hyperparameters) & CONTROLLED_ARGUMENTS)
        if controlled:
            raise FactoryError(
                f"--hyp: {', '.join(controlled)} is set by compare itself (budget, offline "
                "and fairness settings); use the matching compare option"
            )
        names = [name for name, _ in self.synthetic]
        if len(set(names)) != len(names):
            raise FactoryError(f"--synthetic: arm names must be unique, got {names}")
        model = Path(self.model)
        if model.suffix == ".pt" and not model.is_file():
            raise FactoryError(f"{self.model}: checkpoint not found (--model takes a local .pt)")
        if model.suffix not in (".pt", ".yaml", ".yml"):
            raise FactoryError(f"--model: expected a .yaml config or a local .pt, got {self.model}")


def parse_duration(text: str) -> float:
    """Seconds in ``2h``, ``90m``, ``1h30m``, ``45s`` or ``1.5h`` (a unit is required)."""
    import re

    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    cleaned = text.strip().lower().replace(" ", "")
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", cleaned)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != cleaned:
        raise FactoryError(
            f"--stop-after: expected a duration such as 2h, 90m, 1h30m or 45s, got {text!r}"
        )
    return sum(float(number) * units[unit] for number, unit in parts)


def format_duration(seconds: float) -> str:
    """``5400`` -> ``1h30m``: the inverse of ``parse_duration`` for whole seconds."""
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
    return text or "0s"
