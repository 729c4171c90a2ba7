"""CLI commands: demo."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from factory.cli import command
from factory.paths import default_demo_dir


@command("demo")
def demo(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Output folder (default: outputs/demo, or $FACTORY_OUTPUTS/demo)."
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed; the same seed gives the same bytes.")
    ] = 0,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the output folder if it is not empty.")
    ] = False,
) -> None:
    """Generate the built-in demo die-inspection dataset (split, test-locked, with masks).

    Example: factory demo --out outputs/demo --seed 0
    """
    from factory.dataset import load_dataset
    from factory.demo import generate_demo

    out = out if out is not None else default_demo_dir()
    started = time.perf_counter()
    generate_demo(out, seed=seed, overwrite=overwrite)
    elapsed = time.perf_counter() - started
    dataset = load_dataset(out)
    sizes = ", ".join(f"{split} {len(dataset.split(split))}" for split in ("train", "val", "test"))
    typer.echo(
        f"demo dataset written to {out} in {elapsed:.1f} s: {sizes} images, "
        f"{len(dataset.clean_images)} clean dies, classes {', '.join(dataset.class_names)}"
    )
