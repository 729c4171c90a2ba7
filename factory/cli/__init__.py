"""The ``factory`` command line: a thin typer layer over library functions.

Each area keeps its commands in its own module (``dataset.py``, ``synth.py``, ...), declared
with :func:`command`, which turns a :class:`FactoryError` into one ``error: ...`` line on
stderr and exit code 1. Heavy libraries (torch, ultralytics, diffusers) are imported inside
the commands so that ``factory --help`` stays fast.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import typer

from factory.errors import FactoryError

app = typer.Typer(
    name="factory",
    help="Synthetic-defect data factory: cut real defects, blend them onto clean images, "
    "write balanced YOLO sets, and prove with YOLO training whether they help.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def command(name: str | None = None, **kwargs) -> Callable:
    """Register a typer command whose :class:`FactoryError` becomes one line and exit code 1."""

    def decorator(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args, **kw):
            try:
                return function(*args, **kw)
            except FactoryError as error:
                raise fail(str(error)) from None
            except KeyboardInterrupt:
                raise fail("interrupted; nothing was published") from None

        app.command(name, **kwargs)(wrapper)
        return function

    return decorator


def main() -> None:
    try:
        app()
    except FactoryError as error:  # raised outside a command, e.g. while parsing
        typer.echo(f"error: {error}", err=True)
        sys.exit(1)


# Command modules register themselves on import; the order is the order in `--help`.
from factory.cli import demo, dataset, synth, compare, gallery, inpainter  # noqa: E402, F401, I001
