"""Default locations: everything the factory writes goes under ``outputs/`` unless told otherwise."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

DEMO_SEED = 0


def outputs_root() -> Path:
    """``$FACTORY_OUTPUTS`` when set, else ``outputs/`` in the working directory."""
    return Path(os.environ.get("FACTORY_OUTPUTS", "outputs"))


def default_demo_dir() -> Path:
    return outputs_root() / "demo"


def resolve_dataset(path: Path | None) -> Path:
    """The dataset a command works on: ``path``, or the demo dataset (generated when missing)."""
    if path is not None:
        return Path(path)
    demo = default_demo_dir()
    if not (demo / "data.yaml").is_file():
        from factory.demo import generate_demo

        Console(stderr=True).print(f"No dataset given: generating the demo dataset in {demo} ...")
        generate_demo(demo, seed=DEMO_SEED, overwrite=True)
    return demo
