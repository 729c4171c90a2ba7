"""CLI commands: inpainter (``factory train-inpainter``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from factory.cli import command


@command("train-inpainter")
def train_inpainter_command(
    dataset: Annotated[
        Path | None, typer.Argument(help="Canonical dataset (default: the demo dataset).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Model folder (default: outputs/inpainter-<dataset>)."),
    ] = None,
    preset: Annotated[
        str,
        typer.Option(
            help="quick (about 9 min on 2 idle CPU cores, 1 on a GPU) or full (for a GPU)."
        ),
    ] = "quick",
    steps: Annotated[
        int | None, typer.Option(help="Training steps (overrides the preset).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size per process.")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    image_size: Annotated[
        int | None, typer.Option(help="Crop size in pixels (multiple of 8).")
    ] = None,
    checkpoint_every: Annotated[
        int | None, typer.Option(help="Save a resumable checkpoint every N steps.")
    ] = None,
    sample_steps: Annotated[
        int | None, typer.Option(help="DDIM steps when sampling (grid and synth).")
    ] = None,
    max_minutes: Annotated[
        float | None, typer.Option(help="Stop early (and save) after this many minutes.")
    ] = None,
    mixed_precision: Annotated[
        str, typer.Option(help="auto (fp16 on GPU), no, fp16 or bf16.")
    ] = "auto",
    cpu: Annotated[
        bool, typer.Option("--cpu", help="Train on the CPU even if a GPU is present.")
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(help="CPU threads for torch (default: torch's choice; 1 on a busy machine)."),
    ] = None,
    grid: Annotated[
        bool, typer.Option(help="Write samples.png (a sample grid) at the end.")
    ] = True,
    seed: Annotated[int, typer.Option(help="Seed for crops, init, batches and noise.")] = 0,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the latest checkpoint in --out.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a non-empty --out folder.")
    ] = False,
) -> None:
    """Train the licence-clean defect inpainter on crops around the train split's defects.

    Example: factory train-inpainter outputs/demo --out outputs/inpainter-demo --preset quick

    Multi-GPU, no code change: accelerate launch --multi_gpu --num_processes 4
    -m factory.inpainter.train outputs/demo --out runs/inp --preset full
    """
    from dataclasses import replace

    from rich.console import Console

    from factory.errors import FactoryError
    from factory.inpainter.train import preset as get_preset
    from factory.inpainter.train import train_inpainter
    from factory.paths import outputs_root, resolve_dataset

    dataset_root = resolve_dataset(dataset)
    out = out or outputs_root() / f"inpainter-{Path(dataset_root).resolve().name}"
    config, options = get_preset(preset)
    if image_size is not None:
        try:
            config = replace(config, image_size=image_size)
        except ValueError as error:
            raise FactoryError(f"train-inpainter: {error}") from None
    overrides = {
        "steps": steps,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "checkpoint_every": checkpoint_every,
        "sample_steps": sample_steps,
        "max_minutes": max_minutes,
    }
    options = replace(
        options,
        **{k: v for k, v in overrides.items() if v is not None},
        seed=seed,
        mixed_precision=mixed_precision,
    )
    summary = train_inpainter(
        dataset_root,
        out,
        config=config,
        options=options,
        resume=resume,
        overwrite=overwrite,
        grid=grid,
        cpu=cpu,
        threads=threads,
    )
    console = Console(stderr=True)
    if not summary.main_process:
        return
    console.print(
        f"Inpainter: {summary.steps_done} steps in {summary.seconds:.0f} s on {summary.device}"
        f" ({summary.crops} crops; masks: {summary.mask_methods})"
        + (" [stopped early: --max-minutes]" if summary.stopped_early else "")
    )
    if summary.grid is not None:
        console.print(
            f"Sample grid: {summary.grid} ({summary.sampling_images_per_second} images/s)"
        )
    typer.echo(str(summary.out))
