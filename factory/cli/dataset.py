"""CLI commands: dataset (``import``, ``export``, ``split``, ``audit``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from factory.cli import command
from factory.dataset.core import SPLITS
from factory.paths import outputs_root, resolve_dataset

DatasetArg = Annotated[
    Path | None,
    typer.Argument(help="Dataset folder (default: the demo dataset under outputs/)."),
]


def _counts_table(title: str, class_names: list[str], instances: dict, images: dict) -> Table:
    table = Table(title=title)
    table.add_column("class")
    for split in SPLITS:
        table.add_column(split, justify="right")
    for name in class_names:
        table.add_row(name, *(str(instances[split][name]) for split in SPLITS))
    table.add_row("[bold]images[/bold]", *(str(images[split]) for split in SPLITS))
    return table


@command("import")
def import_command(
    format: Annotated[
        str, typer.Argument(help="Source format: yolo, voc, coco, deeppcb or maskfolder.")
    ],
    src: Annotated[Path, typer.Argument(help="Source folder (or data.yaml / COCO JSON file).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output dataset folder (default: outputs/<source name>)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a non-empty output folder.")
    ] = False,
    lock_test: Annotated[
        bool,
        typer.Option(
            "--lock-test/--no-lock-test",
            help="Lock the source's own test split when it has one (default: lock).",
        ),
    ] = True,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="Import only the first N images of each source split."),
    ] = None,
    class_name: Annotated[
        str | None,
        typer.Option("--class-name", help="maskfolder: one class name for every defect."),
    ] = None,
) -> None:
    """Convert a labelled dataset into the canonical (YOLO + factory.json) form.

    Example: factory import deeppcb ../shared/datasets/deeppcb-trainval --out outputs/deeppcb
    """
    from factory.dataset.formats import import_dataset

    out = out or outputs_root() / Path(src).resolve().name
    report = import_dataset(
        format,
        src,
        out,
        overwrite=overwrite,
        lock_test=lock_test,
        limit=limit,
        class_name=class_name,
    )
    console = Console()
    console.print(
        _counts_table(
            f"Imported {report.format}: boxes per class",
            report.class_names,
            report.instances,
            report.images,
        )
    )
    state = (
        "test split kept and locked"
        if report.locked
        else (
            "split as in the source" if report.split_state == "source" else "unsplit (all in train)"
        )
    )
    console.print(f"wrote {report.out}: {report.clean} clean images; {state}.")
    for note in report.notes:
        console.print(f"note: {note}")
    if not report.locked:
        console.print(f"next: factory split {report.out} --out {report.out}-split")


@command("export")
def export_command(
    format: Annotated[str, typer.Argument(help="Target format: coco.")],
    dataset: DatasetArg = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="A .json file (one file) or a folder (annotations/instances_<split>.json "
            "plus images/<split>/).",
        ),
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Export one split only (train, val, test).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output.")
    ] = False,
) -> None:
    """Export a dataset to another format (COCO JSON, one file per split).

    Example: factory export coco outputs/deeppcb-split --out outputs/deeppcb-coco
    """
    from factory.dataset.core import load_dataset
    from factory.dataset.formats import EXPORTERS
    from factory.errors import FactoryError

    exporter = EXPORTERS.get(format.lower())
    if exporter is None:
        raise FactoryError(
            f"unknown export format {format!r}; known formats: {', '.join(sorted(EXPORTERS))}"
        )
    root = resolve_dataset(dataset)
    loaded = load_dataset(root)
    out = out or outputs_root() / f"{loaded.name}-{format.lower()}"
    written = exporter(loaded, out, split=split, overwrite=overwrite)
    for path in written:
        typer.echo(f"wrote {path}")


@command("split")
def split_command(
    dataset: DatasetArg = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output dataset folder (default: outputs/<name>-split)."),
    ] = None,
    test: Annotated[
        str, typer.Option("--test", help="Test images: a count (200) or a fraction (0.15).")
    ] = "0.15",
    val: Annotated[
        str, typer.Option("--val", help="Validation images: a count or a fraction.")
    ] = "0.15",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split.")] = 0,
    keep_test: Annotated[
        bool,
        typer.Option("--keep-test", help="Keep the current (locked) test split; redraw train/val."),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a non-empty output folder.")
    ] = False,
) -> None:
    """Split into train/val/test with a class-balanced test set, and lock the test set.

    Duplicates, near duplicates and image/reference pairs never straddle splits.

    Example: factory split outputs/deeppcb --out outputs/deeppcb-split --test 0.15 --seed 0
    """
    from factory.dataset.split import split_dataset

    root = resolve_dataset(dataset)
    out = out or outputs_root() / f"{root.name}-split"
    report = split_dataset(
        root, out, test=test, val=val, seed=seed, overwrite=overwrite, keep_test=keep_test
    )
    console = Console()
    console.print(
        _counts_table(
            f"Split (seed {seed}): boxes per class",
            report.class_names,
            report.instances,
            report.images,
        )
    )
    console.print(
        f"wrote {out}: {report.groups} groups; {report.grouped_images} images share a group with a "
        "duplicate, near duplicate or reference. Test split locked."
    )
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


@command("audit")
def audit_command(
    dataset: DatasetArg = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (stdout holds only JSON).")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with code 1 when any problem is found.")
    ] = False,
) -> None:
    """Class histogram, box sizes, duplicates, label problems and lock status of a dataset.

    Example: factory audit outputs/deeppcb-split --strict
    """
    from factory.dataset.audit import audit_dataset

    report = audit_dataset(resolve_dataset(dataset))
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_audit(report)
    if strict and not report.ok:
        if not as_json:
            typer.echo(f"error: {len(report.problems)} problem(s) found", err=True)
        raise typer.Exit(code=1)


def _print_audit(report) -> None:
    console = Console()
    table = _counts_table(
        "Boxes per class (images with the class)",
        report.class_names,
        {
            split: {
                name: f"{report.instances[split][name]} ({report.images_with_class[split][name]})"
                for name in report.class_names
            }
            for split in SPLITS
        },
        report.images,
    )
    console.print(f"dataset: {escape(str(report.root))}")
    console.print(table)
    sizes = Table(title="Box sizes in pixels (min / median / max)")
    sizes.add_column("split")
    sizes.add_column("boxes", justify="right")
    for name in ("width", "height", "area"):
        sizes.add_column(name, justify="right")
    for split in SPLITS:
        stats = report.box_stats[split]
        sizes.add_row(
            split,
            str(stats["count"]["boxes"]),
            *(
                f"{stats[k]['min']:g} / {stats[k]['median']:g} / {stats[k]['max']:g}"
                for k in ("width", "height", "area")
            ),
        )
    console.print(sizes)
    console.print(
        f"clean images: {report.clean_images}; test lock: {report.lock}; "
        f"exact duplicate groups: {len(report.exact_duplicates)}; near-duplicate pairs: "
        f"{len(report.near_duplicates)}; conflicting labels: {len(report.conflicting_labels)}"
    )
    if report.problems:
        problems = Table(title=f"{len(report.problems)} problem(s)")
        problems.add_column("kind")
        problems.add_column("file")
        problems.add_column("problem")
        for problem in report.problems[:50]:
            problems.add_row(problem["kind"], escape(problem["path"]), escape(problem["message"]))
        console.print(problems)
        if len(report.problems) > 50:
            console.print(f"... and {len(report.problems) - 50} more (use --json for all)")
    else:
        console.print("[green]no problems found[/green]")
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
