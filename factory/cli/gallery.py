"""CLI commands: gallery (visual QA site) and prune (remove rejected or low-quality samples)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from factory.cli import command


@command("gallery")
def gallery(
    synth_dir: Annotated[Path, typer.Argument(help="Output folder of `factory synth`.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the site (default: SYNTH_DIR/gallery)."),
    ] = None,
    real_per_class: Annotated[
        int, typer.Option(help="Real train examples shown beside each class.")
    ] = 12,
    max_crops: Annotated[
        int, typer.Option(help="Crops per set and class used for KID and the projection plot.")
    ] = 200,
    projection: Annotated[
        str, typer.Option(help="2-D projection: pca, or umap when the umap package is installed.")
    ] = "pca",
    workers: Annotated[int, typer.Option(help="Threads for thumbnails and scoring.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed for the subsets sampled for diagnostics.")] = 0,
) -> None:
    """Build the static review site of a synthetic set: thumbnails, details, diagnostics.

    Example: factory gallery outputs/synth  (then open outputs/synth/gallery/index.html)
    """
    from factory.gallery.site import GalleryOptions, build_gallery

    options = GalleryOptions(
        real_per_class=real_per_class,
        max_crops=max_crops,
        seed=seed,
        workers=workers,
        projection=projection,
    )
    index = build_gallery(synth_dir, out, options=options)
    typer.echo(f"gallery: {index}")


@command("prune")
def prune(
    synth_dir: Annotated[Path, typer.Argument(help="Output folder of `factory synth`.")],
    reject_list: Annotated[
        Path | None,
        typer.Option(
            "--reject-list",
            help="Ids to remove: the gallery's exported rejected.json, a JSON list, "
            "or one id per line.",
        ),
    ] = None,
    min_quality: Annotated[
        float | None,
        typer.Option("--min-quality", help="Also remove samples whose quality score is below Q."),
    ] = None,
    rebuild_gallery: Annotated[
        bool, typer.Option(help="Refresh SYNTH_DIR/gallery when it exists.")
    ] = True,
) -> None:
    """Remove rejected or low-quality samples (images, labels, masks, manifest lines) atomically.

    Removed records and the reason go to SYNTH_DIR/pruned.jsonl.

    Example: factory prune outputs/synth --reject-list ~/Downloads/rejected.json --min-quality 0.3
    """
    from factory.gallery.prune import prune as prune_samples
    from factory.gallery.prune import read_reject_list

    ids = read_reject_list(reject_list) if reject_list is not None else None
    report = prune_samples(
        synth_dir,
        reject_ids=ids,
        reject_source=str(reject_list) if reject_list is not None else "reject list",
        min_quality=min_quality,
        rebuild_gallery=rebuild_gallery,
    )
    table = Table(title="Acceptance per class (pastes kept / pastes)")
    for column in ("class", "pastes", "kept", "acceptance"):
        table.add_column(column)
    for entry in report.per_class:
        rate = "n/a" if entry.rate is None else f"{entry.rate:.1%}"
        table.add_row(Text(entry.name), str(entry.pastes), str(entry.kept), rate)
    Console().print(table)
    typer.echo(
        f"pruned {len(report.removed)} of {report.total} synthetic images; "
        f"{report.kept} kept"
        + (f"; record in {report.synth_dir / 'pruned.jsonl'}" if report.removed else "")
    )
    if report.gallery is not None:
        typer.echo(f"gallery refreshed: {report.gallery}")
