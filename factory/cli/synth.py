"""CLI commands: synth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from factory.cli import command


def _diffusion_config(method: str, inpainter, inpaint_model, prompts) -> dict:
    """The diffusion blender's arguments (added by the inpainter area)."""
    given = {"model_dir": inpainter, "sd_model": inpaint_model, "prompts": prompts}
    given = {k: str(v) for k, v in given.items() if v is not None}
    from factory.synth.options import parse_method

    if given and "diffusion" not in parse_method(method):
        from factory.errors import FactoryError

        raise FactoryError("--inpainter, --inpaint-model and --prompts need --method diffusion")
    return given


@command("synth")
def synth(
    dataset: Annotated[
        Path | None, typer.Argument(help="Canonical dataset (default: the demo dataset).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: outputs/synth/<dataset name>).")
    ] = None,
    per_class: Annotated[int, typer.Option(help="Synthetic instances wanted per class.")] = 100,
    blend: Annotated[
        str,
        typer.Option(
            help="auto (pilot-render with each and keep the best quality score), "
            "poisson-normal, poisson-mixed or alpha."
        ),
    ] = "auto",
    method: Annotated[
        str,
        typer.Option(
            help="poisson (use --blend), alpha, diffusion, or a mix by fractions drawn per "
            "paste, e.g. poisson=0.5,diffusion=0.5 (--blend then picks the poisson share)."
        ),
    ] = "poisson",
    placement: Annotated[
        str, typer.Option(help="context (match the clean surroundings) or random.")
    ] = "context",
    max_per_image: Annotated[int, typer.Option(help="Most pastes in one synthetic image.")] = 4,
    min_per_image: Annotated[int, typer.Option(help="Fewest pastes in one synthetic image.")] = 1,
    max_patch_reuse: Annotated[
        int | None, typer.Option(help="Paste one real defect at most K times.")
    ] = None,
    max_synthetic_ratio: Annotated[
        float | None, typer.Option(help="At most R synthetic images per real train image.")
    ] = None,
    synthetic_only: Annotated[
        bool, typer.Option(help="Train split holds only the synthetic images.")
    ] = False,
    min_quality: Annotated[
        float | None, typer.Option(help="Drop samples whose quality score is below Q (0-1).")
    ] = None,
    backgrounds: Annotated[
        str,
        typer.Option(
            help="auto (clean, references, unlabelled; else inpaint), inpaint, or labelled "
            "(paste onto the real train images, keeping their labels: copy-paste augmentation)."
        ),
    ] = "auto",
    region_mask: Annotated[
        Path | None,
        typer.Option(
            help="Where defects may go (non-zero = allowed): one mask image for every "
            "background, or a folder of masks named after the backgrounds' source files "
            "(<stem>.png); a background without one is used whole."
        ),
    ] = None,
    region_mask_required: Annotated[
        bool,
        typer.Option(help="With a --region-mask folder: leave out backgrounds without a mask."),
    ] = False,
    no_flip: Annotated[
        list[str] | None, typer.Option(help="Class (or 'all') never mirrored; repeatable.")
    ] = None,
    no_turn: Annotated[
        list[str] | None, typer.Option(help="Class (or 'all') never turned by 90 degrees.")
    ] = None,
    turn: Annotated[
        list[str] | None, typer.Option(help="Class allowed 90-degree turns whatever was learned.")
    ] = None,
    box_margin: Annotated[
        str,
        typer.Option(
            help="Pad each changed-pixel box by the dataset's label margin: auto (learned per "
            "class from real labels vs. their masks) or a number of pixels (0 = tight)."
        ),
    ] = "auto",
    box_margin_scaling: Annotated[
        str,
        typer.Option(
            help="fixed: the same margin in pixels around a paste at any scale, as annotators "
            "pad a defect whatever its size; scaled: the margin times the paste's scale (how "
            "sets made before 2026-11-24 were labelled)."
        ),
    ] = "fixed",
    snap_levels: Annotated[
        str,
        typer.Option(
            help="auto: when the train images are bi-level (binarised scans such as DeepPCB), "
            "snap blended pixels back to their two grey levels, so pastes carry no grey halo "
            "the real images never have; off: keep the blend's pixels."
        ),
    ] = "auto",
    layout_check: Annotated[
        str,
        typer.Option(
            help="auto: on near-binary layouts (PCBs, die masks) a paste must do to the layout "
            "what its real instance did (an open still cuts a trace, a short still joins two, "
            "a pin-hole stays inside copper), else it is placed again; off: no check."
        ),
    ] = "auto",
    image_format: Annotated[
        str,
        typer.Option(
            help="auto (like the source train images: JPEG at their estimated quality, or "
            "PNG), png or jpg."
        ),
    ] = "auto",
    jpeg_quality: Annotated[
        int | None,
        typer.Option(help="JPEG quality 1-100 (default: estimated from the sources, else 95)."),
    ] = None,
    inpainter: Annotated[
        Path | None,
        typer.Option(help="--method diffusion: a model folder from `factory train-inpainter`."),
    ] = None,
    inpaint_model: Annotated[
        Path | None,
        typer.Option(help="--method diffusion: a local Stable Diffusion inpainting folder."),
    ] = None,
    prompts: Annotated[
        Path | None, typer.Option(help="Per-class prompts YAML for --inpaint-model.")
    ] = None,
    diffusion_mask: Annotated[
        str,
        typer.Option(
            help="Mask of diffusion pastes: real (the planned patch's mask), library (a shape "
            "from --mask-library) or procedural (strokes/blobs), sized like the class."
        ),
    ] = "real",
    mask_library: Annotated[
        Path | None,
        typer.Option(help="Folder of mask PNGs for --diffusion-mask library (default: masks/)."),
    ] = None,
    no_jitter: Annotated[bool, typer.Option(help="No albumentations jitter of patches.")] = False,
    seed: Annotated[int, typer.Option(help="One seed drives every random choice.")] = 0,
    workers: Annotated[int, typer.Option(help="Rendering processes.")] = 1,
    shard: Annotated[
        str | None, typer.Option(help="Render only shard i/n (e.g. 2/8) into --out.")
    ] = None,
    merge: Annotated[
        list[Path] | None, typer.Option(help="Shard folder to merge into --out; repeatable.")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Keep finished samples of an interrupted run.")
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty --out.")] = False,
    gallery: Annotated[
        bool, typer.Option(help="Build the review site in OUT/gallery when done.")
    ] = True,
) -> None:
    """Paste real defects onto clean backgrounds into a balanced YOLO set with exact boxes.

    Example: factory synth outputs/deeppcb --per-class 200 --workers 2 --out outputs/synth/pcb

    Example: factory synth --method poisson=0.5,diffusion=0.5 --inpainter outputs/inpainter

    Example: factory synth outputs/deeppcb --region-mask masks/pcb --region-mask-required
    """
    from factory.paths import outputs_root, resolve_dataset
    from factory.synth import SynthOptions, merge_shards, run_synth
    from factory.synth.options import parse_shard

    options = SynthOptions(
        per_class=per_class,
        blend=blend,
        method=method,
        placement=placement,
        max_per_image=max_per_image,
        min_per_image=min_per_image,
        max_patch_reuse=max_patch_reuse,
        max_synthetic_ratio=max_synthetic_ratio,
        synthetic_only=synthetic_only,
        seed=seed,
        workers=workers,
        shard=parse_shard(shard),
        resume=resume,
        min_quality=min_quality,
        backgrounds=backgrounds,
        jitter=not no_jitter,
        box_margin=box_margin,
        box_margin_scaling=box_margin_scaling,
        no_flip=list(no_flip or []),
        no_turn=list(no_turn or []),
        turn=list(turn or []),
        region_mask=region_mask,
        region_mask_required=region_mask_required,
        image_format=image_format,
        jpeg_quality=jpeg_quality,
        snap_levels=snap_levels,
        layout_check=layout_check,
        blend_config=_diffusion_config(method, inpainter, inpaint_model, prompts),
        diffusion_mask=diffusion_mask,
        mask_library=mask_library,
    )
    root = resolve_dataset(dataset)
    out = out or outputs_root() / "synth" / root.name
    if merge:
        summary = merge_shards(root, list(merge), out, options, overwrite=overwrite)
    else:
        summary = run_synth(root, out, options, overwrite=overwrite)
    what = f"shard {summary.shard}" if summary.shard else "synthetic set"
    typer.echo(
        f"{what}: {summary.images} images, {summary.pastes} pastes "
        f"(acceptance {summary.acceptance_rate:.0%}) in {summary.seconds:.1f} s -> {out}"
    )
    if len(summary.methods) > 1 or summary.mask_sources:
        made = ", ".join(f"{name} {item['made']}" for name, item in summary.methods.items())
        sources = summary.mask_sources or {}
        masks = ", ".join(f"{name} {count}" for name, count in sources.items())
        typer.echo(f"pastes per method: {made}" + (f"; masks: {masks}" if masks else ""))
    for name, item in summary.shortfalls.items():
        typer.echo(f"short: {name} {item['made']}/{item['target']}: {'; '.join(item['reasons'])}")
    if gallery and summary.shard is None and summary.images:
        from factory.gallery import build_gallery

        typer.echo(f"gallery: {build_gallery(out)}")
