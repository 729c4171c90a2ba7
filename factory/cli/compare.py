"""CLI commands: compare."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from factory.cli import command
from factory.errors import FactoryError


def _split_list(text: str | None, option: str, kind) -> list | None:
    if text is None:
        return None
    values = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part == "all":
            values.append(None)
            continue
        try:
            values.append(kind(part))
        except ValueError:
            raise FactoryError(
                f"{option}: expected a comma list of numbers, got {text!r}"
            ) from None
    if not values:
        raise FactoryError(f"{option}: empty list")
    return values


def _budgets(text: str | None) -> int | list[int] | None:
    values = _split_list(text, "--budget", int)
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _synthetic_sets(values: list[str] | None) -> list[tuple[str, Path]]:
    sets = []
    for value in values or []:
        name, sep, path = value.partition("=")
        if not sep:
            name, path = ("synthetic" if not sets else f"synthetic{len(sets) + 1}"), value
        if not name or not path:
            raise FactoryError(f"--synthetic: expected DIR or NAME=DIR, got {value!r}")
        sets.append((name, Path(path)))
    return sets


def _key_values(values: list[str] | None, option: str) -> dict:
    out = {}
    for value in values or []:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise FactoryError(f"{option}: expected KEY=VALUE, got {value!r}")
        out[key.replace("-", "_")] = _parse_scalar(raw)
    return out


def _parse_scalar(raw: str):
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


@command("compare")
def compare(
    dataset: Annotated[
        Path | None,
        typer.Argument(help="Split, test-locked dataset (default: the demo dataset)."),
    ] = None,
    synthetic: Annotated[
        list[str] | None,
        typer.Option(
            "--synthetic",
            help="A `factory synth` output folder, or NAME=DIR; repeat for several "
            "synthetic arms side by side. Default: generate one with `factory synth`.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Run folder (default: outputs/compare/<dataset>-<settings hash>)."),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(help="quick (demo data, ~12 min on 2 idle CPU cores) or full (GPU)."),
    ] = None,
    seeds: Annotated[int | None, typer.Option(help="Trainings per arm (default 3).")] = None,
    seed: Annotated[int, typer.Option(help="Seed driving subsets, lists, trainings.")] = 0,
    budget: Annotated[
        str | None,
        typer.Option(
            help="Images seen per training, identical for every arm (default 30000); a comma "
            "list (e.g. 6000,30000) sweeps it, to show whether real-only has levelled off."
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            help="Epochs the budget is split into (default: about one pass of the largest arm)."
        ),
    ] = None,
    batch: Annotated[int | None, typer.Option(help="Batch size (default 16).")] = None,
    imgsz: Annotated[
        str | None, typer.Option(help="Image size(s), comma list, e.g. 320 or 160,320.")
    ] = None,
    real_count: Annotated[
        str | None,
        typer.Option(
            help="Real train images: counts or fractions, comma list, e.g. 50,100 or 0.25,all."
        ),
    ] = None,
    synthetic_ratio: Annotated[
        str | None,
        typer.Option(
            help="Synthetic images per real image, comma list, e.g. 0.5,1,3 (default all)."
        ),
    ] = None,
    synthetic_only: Annotated[
        bool, typer.Option("--synthetic-only", help="Add a synthetic-only control arm.")
    ] = False,
    model: Annotated[
        str, typer.Option(help="Model .yaml (from scratch) or a local .pt checkpoint (fine-tune).")
    ] = "yolov8n.yaml",
    freeze: Annotated[
        int, typer.Option(help="Freeze the first N layers for --freeze-fraction of the epochs.")
    ] = 0,
    freeze_fraction: Annotated[float, typer.Option(help="Share of epochs frozen.")] = 0.3,
    per_class: Annotated[
        int | None, typer.Option(help="--per-class for the synthetic set generated on the fly.")
    ] = None,
    synth_option: Annotated[
        list[str] | None,
        typer.Option(help="Other synth option for on-the-fly generation, KEY=VALUE (repeatable)."),
    ] = None,
    hyp: Annotated[
        list[str] | None,
        typer.Option(help="Ultralytics training argument KEY=VALUE for every arm (repeatable)."),
    ] = None,
    bootstrap: Annotated[
        int | None, typer.Option(help="Bootstrap resamples (default 1000).")
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="Training device, e.g. cpu or 0 (default: GPU if present).")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Dataloader workers (default 0).")] = None,
    parallel: Annotated[
        int,
        typer.Option(
            help="Trainings run at once, each in its own process (for a GPU that one small "
            "model does not fill; CPU latency is then timed under load)."
        ),
    ] = 1,
    threads: Annotated[
        int | None,
        typer.Option(
            help="torch CPU threads per training (default: ultralytics' choice, one less than "
            "the logical CPUs, up to 8). Trainings differ with the count; it is recorded."
        ),
    ] = None,
    arm: Annotated[
        list[str] | None,
        typer.Option(
            "--arm",
            help="Train only this arm now (repeatable; needs --epochs); re-run without it later "
            "to train the rest in the same run folder.",
        ),
    ] = None,
    seed_index: Annotated[
        str | None,
        typer.Option(
            help="Train only these seed indices now, comma list from 0 (e.g. 1,2); re-run "
            "without it later to train the rest in the same run folder.",
        ),
    ] = None,
    stop_after: Annotated[
        str | None,
        typer.Option(
            help="Stop cleanly after this long (e.g. 2h30m, 90m): running trainings pause at "
            "the next epoch end with last.pt saved, none starts; re-run the same command to "
            "go on.",
        ),
    ] = None,
    report_only: Annotated[
        Path | None,
        typer.Option(help="Re-write the report of this run folder without training."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Start again in a run folder holding other settings.")
    ] = False,
) -> None:
    """Train YOLO on real-only and real+synthetic data under one budget; score on the locked test.

    Every arm sees the same number of images per training, over several seeds (default 3).

    Example: factory compare outputs/demo --preset quick
    """
    from factory.compare import CompareOptions, run_compare, write_report
    from factory.compare.options import parse_duration

    if report_only is not None:
        _print_result(write_report(report_only).parent)
        return
    from factory.paths import resolve_dataset

    options = CompareOptions(
        dataset=resolve_dataset(dataset),
        synthetic=_synthetic_sets(synthetic),
        out=out,
        preset=preset,
        seed=seed,
        seeds=seeds,
        images_seen=_budgets(budget),
        epochs=epochs,
        batch=batch,
        imgsz=_split_list(imgsz, "--imgsz", int),
        real_count=_split_list(real_count, "--real-count", float) or [None],
        synthetic_ratio=_split_list(synthetic_ratio, "--synthetic-ratio", float) or [None],
        model=model,
        freeze=freeze,
        freeze_fraction=freeze_fraction,
        synthetic_only=synthetic_only,
        synth_per_class=per_class,
        synth_options=_key_values(synth_option, "--synth-option"),
        hyperparameters=_key_values(hyp, "--hyp"),
        bootstrap=bootstrap,
        device=device,
        workers=workers,
        parallel=parallel,
        threads=threads,
        overwrite=overwrite,
        only_arms=arm,
        only_seed_indices=_split_list(seed_index, "--seed-index", int),
        stop_after_seconds=None if stop_after is None else parse_duration(stop_after),
        command=shlex.join(["factory", *sys.argv[1:]]) if sys.argv else None,
    )
    _print_result(run_compare(options))


def _print_result(run_dir: Path) -> None:
    """The verdicts on stderr, for the person at the terminal; the report path on stdout."""
    from factory.compare import verdict_summary

    for line in verdict_summary(run_dir):
        typer.echo(line, err=True)
    if (run_dir / "report.md").is_file():  # none yet when --stop-after came before any finished
        typer.echo(str(run_dir / "report.md"))
