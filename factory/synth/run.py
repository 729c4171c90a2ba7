"""``run_synth``: bank, backgrounds, plan, render (parallel, resumable, shardable), publish.

Work happens in a staging folder beside the output, ``.<out name>.synth-work/``: the plan
(``plan.json``) and one finished sample per file trio (``samples/<id>.png`` or ``.jpg``, ``.mask.png``,
``.json``, the JSON written last, so its presence means the sample is done). ``--resume``
keeps the finished samples of an interrupted run and renders only the others; since every
sample is a pure function of its plan entry the result equals an uninterrupted run byte for
byte. ``--shard i/n`` renders samples whose index is ``i-1`` modulo ``n`` and publishes the
staging folder itself as ``--out``; ``--merge`` assembles shard folders into the dataset.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import yaml

from factory.dataset.core import METADATA_FILE, Annotation, Dataset, load_dataset, yolo_label_lines
from factory.dataset.lock import TestGuard
from factory.errors import FactoryError
from factory.io import (
    atomic_output_dir,
    check_output_dir,
    read_image,
    read_mask,
    write_image,
    write_json,
)
from factory.paths import outputs_root
from factory.progress import make_progress, track
from factory.synth.backgrounds import BackgroundInfo, collect_backgrounds
from factory.synth.bank import Bank, build_bank
from factory.synth.encoding import DEFAULT_JPEG_QUALITY, SUFFIXES, encode_image, source_encoding
from factory.synth.levels import ToneLevels, learn_levels
from factory.synth.options import AUTO_BLENDS, AUTO_PILOT_SAMPLES, SynthOptions
from factory.synth.plan import Plan, SamplePlan, make_plan
from factory.synth.regions import OUTPUT_FOLDER as REGION_MASK_FOLDER
from factory.synth.regions import (
    RegionCache,
    RegionMasks,
    allowed_pixels,
    match_backgrounds,
    scan_folder,
)
from factory.synth.render import RenderConfig, render_sample
from factory.synth.summary import SynthSummary, report_markdown, summarize
from factory.synth.topology import change_signature, class_signature

PLAN_FILE = "plan.json"
SAMPLES = "samples"


# ---- preparation -----------------------------------------------------------------------------


@dataclass
class Context:
    dataset: Dataset
    bank: Bank
    backgrounds: dict[str, BackgroundInfo]
    background_pool: object
    plan: Plan
    plan_hash: str
    options: SynthOptions
    config: RenderConfig
    class_stats: dict[str, dict] | None
    blend_pilot: dict | None = None
    mask_library: object = None  # factory.synth.shapes.MaskLibrary (--diffusion-mask library)
    regions: RegionMasks | None = None  # --region-mask FOLDER: each background's own mask
    tone: ToneLevels | None = None  # learned grey levels (None with --snap-levels off)
    # --layout-check: per class, the layout signature of its real instances and its share
    # (None with --layout-check off).
    layout: dict[str, dict] | None = None


def prepare(dataset_root: Path, options: SynthOptions) -> Context:
    mask_library = None
    if options.diffusion_mask == "library":  # read first: a bad folder fails before any work
        from factory.synth.shapes import load_library

        mask_library = load_library(options.mask_library_dir())
    dataset = load_dataset(dataset_root)
    folder_masks = None
    if options.region_mask is not None and Path(options.region_mask).is_dir():
        folder_masks = scan_folder(Path(options.region_mask))  # checked before the slow work
    guard = TestGuard.from_dataset(dataset)
    cache_root = Path(options.cache_dir) if options.cache_dir else outputs_root() / "cache"
    bank = build_bank(dataset, cache_root, guard=guard, progress=track)
    pool = collect_backgrounds(dataset, cache_root, guard=guard, mode=options.backgrounds)
    region = regions = None
    if folder_masks is not None:
        regions, kept = match_backgrounds(
            Path(options.region_mask),
            folder_masks,
            pool.backgrounds,
            required=options.region_mask_required,
        )
        if regions.left_out:
            reason = "without a region mask (--region-mask-required)"
            pool = replace(
                pool, backgrounds=kept, skipped={**pool.skipped, reason: len(regions.left_out)}
            )
    elif options.region_mask is not None:
        region = allowed_pixels(read_mask(options.region_mask), options.region_mask)
        sizes = {(b.height, b.width) for b in pool.backgrounds}
        if sizes != {region.shape}:
            raise FactoryError(
                f"{options.region_mask}: region mask is {region.shape[1]}x{region.shape[0]}, "
                f"backgrounds are {', '.join(f'{w}x{h}' for h, w in sorted(sizes))}"
            )
    real_train = len(dataset.split("train"))
    options = resolve_image_format(dataset, options)
    infos = [p.info for p in bank.patches]
    tone = (
        learn_levels([r.image_path for r in dataset.split("train")])
        if options.snap_levels == "auto"
        else None
    )
    layout = learn_layout_signatures(bank) if options.layout_check == "auto" else None
    config = RenderConfig(
        tone_levels=tone.levels if tone is not None else None,
        layout_signatures=tuple(
            (name, row["signature"])
            for name, row in sorted((layout or {}).items())
            if row["signature"] is not None
        ),
        border_margin=options.border_margin,
        overlap_tolerance=options.overlap_tolerance,
        box_tolerance=options.box_tolerance,
        min_changed_fraction=options.min_changed_fraction,
        max_tries=options.max_tries,
        region_mask=region,
        region_holds_defect=regions is not None,
    )
    class_stats = _class_stats(bank, dataset.class_names)
    pilot = None
    if options.blend == "auto" and options.uses_poisson:
        pilot = choose_blend(
            dataset, bank, pool, infos, real_train, options, config, class_stats, regions
        )
        options = replace(options, blend=pilot["chosen"])
    mask_shapes = None
    if mask_library is not None:
        from factory.synth.shapes import library_shapes_for

        names = list(mask_library.masks)
        mask_shapes = {n: library_shapes_for(n, names) for n in dataset.class_names}
    plan = make_plan(
        dataset.class_names,
        infos,
        pool.backgrounds,
        real_train,
        options,
        mask_shapes=mask_shapes,
    )
    digest = hashlib.sha256()
    digest.update(json.dumps(options.plan_dict(), sort_keys=True, default=str).encode())
    digest.update(bank.key.encode())
    if mask_library is not None:  # other shapes under the same names are another plan
        for name, mask in sorted(mask_library.masks.items()):
            digest.update(name.encode() + repr(mask.shape).encode() + np.packbits(mask).tobytes())
    digest.update(json.dumps([s.to_dict() for s in plan.samples], sort_keys=True).encode())
    if regions is not None:  # other masks under the same names are another plan
        digest.update("\n".join(regions.digest_items()).encode())
    if config.tone_levels is not None:  # snapped pixels are other pixels
        digest.update(f"levels {config.tone_levels}".encode())
    if config.layout_signatures:  # pastes that break them are placed again: other pixels
        digest.update(f"layout {config.layout_signatures}".encode())
    return Context(
        dataset,
        bank,
        pool.by_id(),
        pool,
        plan,
        digest.hexdigest()[:24],
        options,
        config,
        class_stats,
        pilot,
        mask_library,
        regions,
        tone,
        layout,
    )


def learn_layout_signatures(bank: Bank) -> dict[str, dict]:
    """Per class, the layout signature its real instances share (None: not defined by its
    layout), that share, and the instances measured (those with a clean context)."""
    by_class: dict[str, list[str]] = {}
    for patch in bank.patches:
        if patch.context is not None:
            by_class.setdefault(patch.info.class_name, []).append(
                change_signature(patch.context, patch.image, patch.mask)
            )
    out = {}
    for name, signatures in sorted(by_class.items()):
        signature, share = class_signature(signatures)
        out[name] = {"signature": signature, "share": round(share, 4), "instances": len(signatures)}
    return out


def resolve_image_format(dataset: Dataset, options: SynthOptions) -> SynthOptions:
    """Fix ``image_format`` (``auto``: like the source train images) and the JPEG quality
    (estimated from the sources' quantisation tables unless given)."""
    image_format, quality = options.image_format, options.jpeg_quality
    if image_format == "auto" or (image_format == "jpg" and quality is None):
        found_format, found_quality = source_encoding(
            [r.image_path for r in dataset.split("train")]
        )
        if image_format == "auto":
            image_format = found_format
        if image_format == "jpg" and quality is None:
            quality = found_quality or DEFAULT_JPEG_QUALITY
    if image_format == "png":
        quality = None
    return replace(options, image_format=image_format, jpeg_quality=quality)


def sample_suffix(options: SynthOptions) -> str:
    return SUFFIXES[options.image_format]


def choose_blend(
    dataset, bank, pool, infos, real_train, options, config, class_stats, regions=None
) -> dict:
    """``--blend auto``: render the first plan samples with every candidate blend and keep
    the one whose pastes score best (mean :func:`factory.quality.score_sample` score).
    For the poisson share of a ``--method`` mix the candidates are the Poisson blends only
    (the pilot renders a Poisson-only plan).

    Deterministic: the pilot is a function of the seed like everything else. Without the
    quality module, Poisson (normal) is used.
    """
    quality = _quality_module()
    if quality is None:
        return {"chosen": "poisson-normal", "scores": {}, "why": "no quality module"}
    from factory.blend import get_blender

    backgrounds = pool.by_id()
    patches = bank.by_id()
    region_cache = RegionCache()
    scores = {}
    mixed = len(options.method_fractions()) > 1
    candidates = tuple(b for b in AUTO_BLENDS if b.startswith("poisson")) if mixed else AUTO_BLENDS
    for blend in candidates:
        if mixed:
            trial = replace(
                options,
                method="poisson",
                blend=blend,
                blend_config={},
                diffusion_mask="real",
                mask_library=None,
            )
        else:
            trial = replace(options, blend=blend)
        plan = make_plan(dataset.class_names, infos, pool.backgrounds, real_train, trial)
        values = []
        for sample in plan.samples[:AUTO_PILOT_SAMPLES]:
            background = read_image(backgrounds[sample.background_id].path)
            blenders = {blend: get_blender(blend, **trial.blend_config)}
            sample_config = config_for(config, regions, sample.background_id, region_cache)
            rendered = render_sample(
                sample,
                background,
                patches,
                blenders,
                sample_config,
                keep_clear_xyxy=kept_boxes(backgrounds[sample.background_id]),
            )
            if not rendered.pastes:
                continue
            stats = None
            if class_stats is not None:
                stats = [class_stats[sample.pastes[p["index"]].class_name] for p in rendered.pastes]
            result = quality.score_sample(
                rendered.image, background, rendered.blend_masks, class_stats=stats
            )
            values.extend(p["score"] for p in result["pastes"])
        scores[blend] = round(float(np.mean(values)), 4) if values else 0.0
    chosen = max(candidates, key=lambda b: scores[b])
    return {
        "chosen": chosen,
        "scores": scores,
        "why": f"best mean quality score over the first {AUTO_PILOT_SAMPLES} samples",
    }


def config_for(
    config: RenderConfig, regions: RegionMasks | None, background_id: str, cache: RegionCache
) -> RenderConfig:
    """The render config of one background: with a mask folder, its own region mask."""
    if regions is None:
        return config
    path = regions.mask_path(background_id)
    return replace(config, region_mask=None if path is None else cache.get(path))


def _quality_module():
    try:
        from factory import quality
    except ImportError:
        return None
    return quality if hasattr(quality, "score_sample") else None


def _class_stats(bank: Bank, class_names: list[str]) -> dict[str, dict] | None:
    quality = _quality_module()
    if quality is None:
        return None
    contrasts: dict[str, list[float]] = {name: [] for name in class_names}
    for patch in bank.patches:
        if patch.info.mask_method != "feathered-box":
            contrasts[patch.info.class_name].append(
                quality.defect_contrast(patch.image, patch.mask)
            )
    return {name: quality.class_contrast_stats(values) for name, values in contrasts.items()}


# ---- rendering (runs in workers) ---------------------------------------------------------------

_STATE: dict = {}


def _init_state(ctx: Context, work: Path) -> None:
    from factory.blend import get_blender

    _STATE.clear()
    # One blender per method the plan uses (a mix builds each once), each given only the
    # blend options it understands.
    configs = ctx.options.blender_configs()
    used = sorted({p.blend for s in ctx.plan.samples for p in s.pastes})
    _STATE.update(
        ctx=ctx,
        work=work,
        patches=ctx.bank.by_id(),
        samples={s.index: s for s in ctx.plan.samples},
        blenders={name: get_blender(name, **configs.get(name, {})) for name in used},
        bg_cache={},
        region_cache=RegionCache(),
    )


def _worker_init(ctx: Context, work: Path) -> None:
    # Each worker builds its blenders once (a model-backed one loads its model here).
    cv2.setNumThreads(1)
    _init_state(ctx, work)


def _background(background_id: str) -> np.ndarray:
    cache = _STATE["bg_cache"]
    if background_id not in cache:
        if len(cache) >= 16:  # keep memory flat however many samples a worker renders
            cache.pop(next(iter(cache)))
        cache[background_id] = read_image(_STATE["ctx"].backgrounds[background_id].path)
    return cache[background_id]


def render_one(index: int) -> dict:
    """Render plan sample ``index`` into the staging folder; return its small record."""
    ctx: Context = _STATE["ctx"]
    work: Path = _STATE["work"]
    sample: SamplePlan = _STATE["samples"][index]
    background = _background(sample.background_id)
    config = config_for(ctx.config, ctx.regions, sample.background_id, _STATE["region_cache"])
    rendered = render_sample(
        sample,
        background,
        _STATE["patches"],
        _STATE["blenders"],
        config,
        mask_library=ctx.mask_library,
        keep_clear_xyxy=kept_boxes(ctx.backgrounds[sample.background_id]),
    )
    quality = _quality_module()
    sample_quality = None
    if quality is not None and rendered.pastes:
        stats = None
        if ctx.class_stats is not None:
            stats = [ctx.class_stats[sample.pastes[p["index"]].class_name] for p in rendered.pastes]
        sample_quality = quality.score_sample(
            rendered.image, background, rendered.blend_masks, class_stats=stats
        )
    dropped = None
    if not rendered.pastes:
        dropped = "every paste failed"
    elif (
        ctx.options.min_quality is not None
        and sample_quality is not None
        and sample_quality["score"] < ctx.options.min_quality
    ):
        dropped = (
            f"quality {sample_quality['score']:.3f} below --min-quality {ctx.options.min_quality:g}"
        )
    record = _manifest_record(ctx, sample, rendered, sample_quality)
    record["_dropped"] = dropped
    record["_failures"] = [list(f) for f in rendered.failures]
    record["_tries"] = rendered.tries
    # The background's own real labels first (--backgrounds labelled), then the pastes.
    record["_labels"] = [list(label) for label in ctx.backgrounds[sample.background_id].kept_labels]
    record["_labels"] += [
        [int(c), *map(int, box)]
        for c, box in zip(rendered.class_ids, rendered.boxes_xyxy, strict=True)
    ]
    folder = work / SAMPLES
    if dropped is None:
        encoded = encode_image(rendered.image, ctx.options.image_format, ctx.options.jpeg_quality)
        _write_atomic_bytes(folder / f"{sample.sample_id}{sample_suffix(ctx.options)}", encoded)
        instance = np.zeros(background.shape[:2], np.uint16)
        for k, mask in enumerate(rendered.masks):
            instance[mask & (instance == 0)] = k + 1
        _write_atomic_image(folder / f"{sample.sample_id}.mask.png", instance)
    tmp = folder / f".{sample.sample_id}.json.tmp"
    tmp.write_text(json.dumps(record, sort_keys=False))
    os.replace(tmp, folder / f"{sample.sample_id}.json")
    return {"index": index, "dropped": dropped}


def kept_boxes(background: BackgroundInfo) -> tuple[tuple[int, int, int, int], ...]:
    """The boxes of a background's own real labels (empty unless --backgrounds labelled)."""
    return tuple(Annotation(c, xyxy).xyxy_int() for c, *xyxy in background.kept_labels)


def _write_atomic_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_atomic_image(path: Path, image: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp.png")
    write_image(tmp, image)
    os.replace(tmp, path)


def _manifest_record(ctx: Context, sample: SamplePlan, rendered, sample_quality) -> dict:
    background = ctx.backgrounds[sample.background_id]
    patches = _STATE["patches"]
    pastes = []
    for k, detail in enumerate(rendered.pastes):
        plan = sample.pastes[detail["index"]]
        info = patches[plan.patch_id].info
        entry = {
            "class": plan.class_name,
            "class_id": plan.class_id,
            "patch_id": plan.patch_id,
            "source_image": info.source_image,
            "source_xyxy": list(info.source_xyxy),
            "patch_path": f"sources/patches/{plan.patch_id}.png",
            "patch_mask_path": f"sources/patches/{plan.patch_id}_mask.png",
            "mask_method": info.mask_method,
            "clean_context": info.context,
            "patch_context_path": (
                f"sources/patches/{plan.patch_id}_context.png" if info.context else None
            ),
            "transform": {
                "scale": detail["scale"],  # render may use the real size to fit the layout
                "angle_deg": plan.angle_deg,
                # The orientation used: render may pick another allowed one to fit the layout.
                "flip_h": detail["orientation"][0],
                "flip_v": detail["orientation"][1],
                "turns_90": detail["orientation"][2],
                "jitter_seed": plan.jitter_seed,
                "jitter": list(_jitter_names()) if plan.jitter_seed is not None else [],
                "top_left_xy": detail["top_left_xy"],
            },
            "blend": plan.blend,
            "placement": "context" if detail["placement"].startswith("context") else "random",
            "placement_fallback": detail["placement"] == "random-fallback",
            "context_weak": detail["placement"] == "context-weak",
            "context_score": detail["context_score"],
            "footprint_score": detail.get("footprint_score"),
            "attempt": detail["attempt"],
            "changed_pixels": detail["changed_pixels"],
            "changed_xyxy": detail["changed_xyxy"],
            "box_margin_xy": detail["box_margin_xy"],
            "xyxy": detail["xyxy"],
        }
        if "snapped_to_levels" in detail:  # only for bi-level images: others keep their bytes
            entry["snapped_to_levels"] = detail["snapped_to_levels"]
        if "layout_signature" in detail:  # only where the layout was checked
            entry["layout_signature"] = detail["layout_signature"]
        if ctx.options.diffusion_mask != "real":
            # Only in runs with drawn masks, so other manifests keep their bytes.
            entry.update(_mask_provenance(plan))
        if sample_quality is not None:
            entry["quality"] = sample_quality["pastes"][k]
        pastes.append(entry)
    record = {
        "id": sample.sample_id,
        "image": f"images/train/{sample.sample_id}{sample_suffix(ctx.options)}",
        "seed": sample.seed,
        "background": {
            "id": background.background_id,
            "kind": background.kind,
            "source": background.source,
            "path": f"sources/backgrounds/{background.background_id}{background.path.suffix.lower()}",
        },
        "pastes": pastes,
    }
    if background.kept_labels:  # only with --backgrounds labelled: other manifests keep bytes
        names = ctx.dataset.class_names
        record["background"]["kept_labels"] = [
            {"class": names[c], "class_id": c, "xyxy": [x0, y0, x1, y1]}
            for c, x0, y0, x1, y1 in background.kept_labels
        ]
    if ctx.regions is not None:  # only with a mask folder, so other manifests keep their bytes
        record["background"]["region_mask"] = ctx.regions.output_path(background.background_id)
    if sample_quality is not None:
        record["quality"] = {k: v for k, v in sample_quality.items() if k != "pastes"}
    return record


def _mask_provenance(plan) -> dict:
    """Where a paste's mask came from: ``real`` (the patch's mask, ``patch_mask_path``),
    ``library`` (``mask_path``: the library mask, cut to its box) or ``procedural`` (kind and seed
    for :func:`factory.synth.shapes.draw_mask`); ``mask_size_px`` is sqrt of its box area
    and ``mask_align_deg`` the long-axis angle it was turned to, both before the paste's own
    flips and rotation (``transform``)."""
    drawn = plan.mask
    if drawn is None:
        return {"mask_source": "real"}
    return {
        "mask_source": drawn.source,
        "mask_shape": drawn.shape,
        "mask_size_px": drawn.size_px,
        "mask_seed": drawn.seed,
        "mask_align_deg": drawn.align_deg,
        "mask_path": f"sources/masks/{drawn.shape}.png" if drawn.source == "library" else None,
    }


def _jitter_names() -> tuple[str, ...]:
    from factory.synth.render import JITTER_TRANSFORMS

    return JITTER_TRANSFORMS


def render_all(ctx: Context, work: Path, indices: list[int], workers: int) -> int:
    """Render ``indices`` (those not finished in ``work``); returns how many were rendered."""
    folder = work / SAMPLES
    folder.mkdir(parents=True, exist_ok=True)
    pending = [i for i in indices if not (folder / f"syn_{i:06d}.json").is_file()]
    if not pending:
        return 0
    _init_state(ctx, work)
    with make_progress() as progress:
        task = progress.add_task("rendering synthetic images", total=len(indices))
        progress.advance(task, len(indices) - len(pending))
        if workers <= 1 or len(pending) == 1:
            for index in pending:
                render_one(index)
                progress.advance(task)
        else:
            # spawn, not fork: OpenCV's thread pool and the progress bar's thread do not
            # survive a fork (workers deadlock); the context is pickled once per worker.
            spawn = multiprocessing.get_context("spawn")
            with spawn.Pool(workers, initializer=_worker_init, initargs=(ctx, work)) as pool:
                for _ in pool.imap_unordered(render_one, pending, chunksize=1):
                    progress.advance(task)
    return len(pending)


# ---- work folder, shards, merge ---------------------------------------------------------------


def work_dir_for(out: Path) -> Path:
    return out.parent / f".{out.name}.synth-work"


def _open_work(work: Path, ctx: Context, resume: bool) -> None:
    plan_file = work / PLAN_FILE
    if work.exists() and not resume:
        shutil.rmtree(work)
    if plan_file.is_file():
        stored = json.loads(plan_file.read_text())
        if stored.get("plan_hash") != ctx.plan_hash:
            changed = ctx.options.differences(stored.get("options", {}))
            what = f" ({'; '.join(changed)})" if changed else ""
            raise FactoryError(
                f"{work}: the unfinished run there used other data, options or seed{what}; "
                "pass the same ones to resume it, or run without --resume to start over"
            )
        return
    work.mkdir(parents=True, exist_ok=True)
    _write_plan(work, ctx, shard=None)


def _write_plan(work: Path, ctx: Context, shard) -> None:
    write_json(
        work / PLAN_FILE,
        {
            "plan_hash": ctx.plan_hash,
            "dataset_root": str(ctx.dataset.root),
            "options": ctx.options.plan_dict(),
            "shard": list(shard) if shard else None,
            "samples": len(ctx.plan.samples),
        },
    )


def shard_indices(count: int, shard: tuple[int, int] | None) -> list[int]:
    """Deterministic slice: shard ``i`` of ``n`` renders indices ``k`` with ``k % n == i - 1``."""
    if shard is None:
        return list(range(count))
    i, n = shard
    return [k for k in range(count) if k % n == i - 1]


def run_synth(
    dataset_root: Path, out: Path, options: SynthOptions, *, overwrite: bool = False
) -> SynthSummary:
    """Make a synthetic training set from ``dataset_root`` into ``out`` (see module doc)."""
    start = time.perf_counter()
    out = Path(out)
    dataset_root = Path(dataset_root)
    if not (options.resume and work_dir_for(out).is_dir()):
        check_output_dir(out, overwrite=overwrite)
    ctx = prepare(dataset_root, options)
    work = work_dir_for(out)
    _open_work(work, ctx, options.resume)
    indices = [s.index for s in ctx.plan.samples]
    indices = shard_indices(len(indices), options.shard)
    rendered_now = render_all(ctx, work, indices, options.workers)
    if options.shard is not None:
        _write_plan(work, ctx, options.shard)
        check_output_dir(out, overwrite=overwrite)
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
        summary = summarize(
            ctx,
            out,
            _records(out, indices),
            indices,
            start,
            rendered_now,
            scored=_quality_module() is not None,
        )
        write_json(out / "shard_summary.json", summary.to_dict())
        return summary
    summary = assemble(ctx, work, out, overwrite, indices, start, rendered_now)
    shutil.rmtree(work, ignore_errors=True)
    return summary


def merge_shards(
    dataset_root: Path,
    shard_dirs: list[Path],
    out: Path,
    options: SynthOptions,
    *,
    overwrite: bool = False,
) -> SynthSummary:
    """Assemble shard folders made with the same data and options into one dataset."""
    start = time.perf_counter()
    out = Path(out)
    check_output_dir(out, overwrite=overwrite)
    ctx = prepare(Path(dataset_root), options)
    work = work_dir_for(out)
    if work.exists():
        shutil.rmtree(work)
    (work / SAMPLES).mkdir(parents=True)
    _write_plan(work, ctx, None)
    for shard_dir in shard_dirs:
        plan_file = Path(shard_dir) / PLAN_FILE
        if not plan_file.is_file():
            raise FactoryError(f"{shard_dir}: not a shard folder (no {PLAN_FILE})")
        if json.loads(plan_file.read_text()).get("plan_hash") != ctx.plan_hash:
            raise FactoryError(
                f"{shard_dir}: shard was made from other data, options or seed "
                "(pass the same dataset and options as for the shards)"
            )
        for path in sorted((Path(shard_dir) / SAMPLES).iterdir()):
            if not path.name.startswith("."):
                shutil.copyfile(path, work / SAMPLES / path.name)
    missing = [
        s.sample_id
        for s in ctx.plan.samples
        if not (work / SAMPLES / f"{s.sample_id}.json").is_file()
    ]
    if missing:
        shutil.rmtree(work, ignore_errors=True)
        raise FactoryError(
            f"{len(missing)} of {len(ctx.plan.samples)} samples are missing from the shards "
            f"(first: {missing[0]}); render every shard i/n before merging"
        )
    summary = assemble(ctx, work, out, overwrite, list(range(len(ctx.plan.samples))), start, 0)
    shutil.rmtree(work, ignore_errors=True)
    return summary


# ---- publishing --------------------------------------------------------------------------------


def _records(work: Path, indices: list[int]):
    """Sample records one at a time (streamed: memory does not grow with the count)."""
    for i in indices:
        yield json.loads((work / SAMPLES / f"syn_{i:06d}.json").read_text())


def assemble(
    ctx: Context, work: Path, out: Path, overwrite, indices, start, rendered_now
) -> SynthSummary:
    dataset = ctx.dataset
    root = dataset.root
    records = _records(work, indices)  # a generator: one record in memory at a time
    with atomic_output_dir(out, overwrite=overwrite) as staging:
        splits = ("val", "test") if ctx.options.synthetic_only else ("train", "val", "test")
        for split in splits:
            for kind in ("images", "labels", "masks", "references"):
                source = root / kind / split
                if source.is_dir():
                    shutil.copytree(source, staging / kind / split)
        for kind in ("images", "labels"):
            for split in ("train", "val", "test"):
                (staging / kind / split).mkdir(parents=True, exist_ok=True)
        used_backgrounds, used_patches, used_masks = set(), set(), set()
        with open(staging / "manifest.jsonl", "w") as manifest:
            for record in records:
                if record["_dropped"] is not None:
                    continue
                sid = record["id"]
                name = Path(record["image"]).name  # syn_XXXXXX.png or .jpg
                shutil.copyfile(work / SAMPLES / name, staging / "images" / "train" / name)
                (staging / "masks" / "train").mkdir(parents=True, exist_ok=True)
                shutil.copyfile(
                    work / SAMPLES / f"{sid}.mask.png", staging / "masks" / "train" / f"{sid}.png"
                )
                image = read_image(work / SAMPLES / name)
                height, width = image.shape[:2]
                annotations = [
                    Annotation(c, (x0, y0, x1, y1)) for c, x0, y0, x1, y1 in record["_labels"]
                ]
                (staging / "labels" / "train" / f"{sid}.txt").write_text(
                    yolo_label_lines(annotations, width, height)
                )
                used_backgrounds.add(record["background"]["id"])
                used_patches.update(p["patch_id"] for p in record["pastes"])
                used_masks.update(p["mask_shape"] for p in record["pastes"] if p.get("mask_path"))
                public = {k: v for k, v in record.items() if not k.startswith("_")}
                manifest.write(json.dumps(public) + "\n")
        for background_id in sorted(used_backgrounds):
            info = ctx.backgrounds[background_id]
            target = (
                staging / "sources" / "backgrounds" / f"{background_id}{info.path.suffix.lower()}"
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(info.path, target)
            region_path = ctx.regions.mask_path(background_id) if ctx.regions else None
            if region_path is not None:
                (staging / REGION_MASK_FOLDER).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(region_path, staging / REGION_MASK_FOLDER / region_path.name)
        for patch_id in sorted(used_patches):
            folder = staging / "sources" / "patches"
            folder.mkdir(parents=True, exist_ok=True)
            for suffix in ("", "_mask", "_context"):
                source = ctx.bank.path / "patches" / f"{patch_id}{suffix}.png"
                if source.is_file():
                    shutil.copyfile(source, folder / f"{patch_id}{suffix}.png")
        for name in sorted(used_masks):  # library masks drawn for diffusion pastes
            folder = staging / "sources" / "masks"
            folder.mkdir(parents=True, exist_ok=True)
            mask = ctx.mask_library.masks[name]
            write_image(folder / f"{name}.png", mask.astype(np.uint8) * 255)
        data = {
            "train": "images/train",
            "val": "images/val",
            "test": "images/test",
            "nc": len(dataset.class_names),
            "names": dict(enumerate(dataset.class_names)),
        }
        (staging / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        metadata = {
            **dataset.metadata,
            "source": {
                "format": "synth",
                "dataset": str(root),
                "origin": dataset.metadata.get("source"),
            },
            "synth": {"options": ctx.options.plan_dict(), "plan_hash": ctx.plan_hash},
        }
        write_json(staging / METADATA_FILE, metadata)
        summary = summarize(
            ctx,
            out,
            _records(work, indices),
            indices,
            start,
            rendered_now,
            scored=_quality_module() is not None,
        )
        # The published folder must load and keep the source's test lock.
        check = load_dataset(staging)
        if check.test_lock != dataset.test_lock:
            raise FactoryError(f"{out}: internal error: the test lock changed while copying")
        summary.seconds = round(time.perf_counter() - start, 2)
        write_json(staging / "summary.json", summary.to_dict())
        (staging / "synth_report.md").write_text(report_markdown(summary))
    return summary
