"""What a ``factory synth`` run made: ``SynthSummary`` (``summary.json``), built from the
sample records, and ``synth_report.md``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from factory.synth.run import Context


@dataclass
class SynthSummary:
    """What a run produced; ``to_dict()`` is what ``summary.json`` holds."""

    out: Path
    dataset_root: Path
    images: int
    pastes: int
    counts_before: dict[str, int]
    counts_synthetic: dict[str, int]
    counts_after: dict[str, int]
    targets: dict[str, int]
    planned: dict[str, int]
    shortfalls: dict[str, dict]
    acceptance_rate: float
    acceptance_by_class: dict[str, float]
    seconds: float
    backgrounds: dict
    bank: dict
    geometry: dict
    options: dict
    quality: dict | None = None
    blend_pilot: dict | None = None
    shard: str | None = None
    rendered_now: int = 0
    reused: int = 0
    notes: list[str] = field(default_factory=list)
    # Per blend method (the manifest's ``blend``): pastes planned and accepted.
    methods: dict[str, dict] = field(default_factory=dict)
    # Accepted pastes per mask source (only with --diffusion-mask library|procedural).
    mask_sources: dict[str, int] | None = None
    # --snap-levels: the mode, the grey levels learned from the train images (None: not
    # bi-level, nothing snapped) and the share of their pixels on those levels.
    tone_levels: dict | None = None
    # --layout-check: per class, its real instances' layout signature (None: not defined by
    # its layout, not checked), its share and the instances measured; None when off.
    layout_signatures: dict | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["out"] = str(self.out)
        data["dataset_root"] = str(self.dataset_root)
        return data


def summarize(
    ctx: Context,
    out: Path,
    records: Iterable[dict],
    indices: list[int],
    start: float,
    rendered_now: int,
    *,
    scored: bool,
) -> SynthSummary:
    """The summary of a run from its sample records (streamed) and its prepared context.

    ``indices`` are the plan entries this run (or shard) covers, ``start`` its
    ``perf_counter()`` at the start and ``scored`` whether samples carry quality scores.
    """
    names = ctx.dataset.class_names
    synthetic: Counter = Counter()
    made_by_blend: Counter = Counter()
    mask_sources: Counter = Counter()
    failures: dict[str, Counter] = {n: Counter() for n in names}
    kept_count = tries = quality_dropped = layout_checked = 0
    kept_real: Counter = Counter()  # copies of real labels on labelled backgrounds, by class
    quality_values = []
    for r in records:
        tries += r["_tries"]
        for class_name, reason in r["_failures"]:
            failures[class_name][reason] += 1
        if r["_dropped"] is None:
            kept_count += 1
            kept_real.update(k["class"] for k in r["background"].get("kept_labels", ()))
            synthetic.update(p["class"] for p in r["pastes"])
            layout_checked += sum("layout_signature" in p for p in r["pastes"])
            made_by_blend.update(p["blend"] for p in r["pastes"])
            mask_sources.update(p["mask_source"] for p in r["pastes"] if "mask_source" in p)
            if "quality" in r:
                quality_values.append(r["quality"]["score"])
        elif r["pastes"]:
            quality_dropped += "quality" in r["_dropped"]
            for p in r["pastes"]:
                failures[p["class"]][
                    f"sample dropped: {r['_dropped'].split(' below')[0]} below threshold"
                ] += 1
    counts_synthetic = {n: synthetic.get(n, 0) for n in names}
    before = ctx.dataset.class_counts("train")
    # Instances per class in the output train split: real, copies of real ones on labelled
    # backgrounds, and pastes.
    after = {
        n: counts_synthetic[n] + kept_real[n] + (0 if ctx.options.synthetic_only else before[n])
        for n in names
    }
    planned = Counter(p.class_name for i in indices for p in ctx.plan.samples[i].pastes)
    planned_by_blend = Counter(p.blend for i in indices for p in ctx.plan.samples[i].pastes)
    shortfalls = {}
    for n in names:
        target = ctx.plan.targets[n] if ctx.options.shard is None else planned.get(n, 0)
        if counts_synthetic[n] < target:
            reasons = list(ctx.plan.shortfalls[n])
            reasons += [f"{reason} ({count} pastes)" for reason, count in failures[n].most_common()]
            shortfalls[n] = {"target": target, "made": counts_synthetic[n], "reasons": reasons}
    attempted = sum(planned.values())
    made = sum(counts_synthetic.values())
    pool = ctx.background_pool
    kinds = Counter(b.kind for b in pool.backgrounds)
    methods: dict[str, Counter] = {n: Counter() for n in names}
    for p in ctx.bank.patches:
        methods[p.info.class_name][p.info.mask_method] += 1
    notes = []
    regions = None
    if ctx.regions is not None:
        regions = {
            "folder": str(ctx.regions.folder),
            "with_mask": ctx.regions.with_mask,
            "whole_image": len(pool.backgrounds) - ctx.regions.with_mask,
            "left_out": len(ctx.regions.left_out),
            "unmatched": list(ctx.regions.unmatched),
        }
        notes.append(region_note(regions, len(pool.backgrounds), ctx.options.border_margin))
        if ctx.regions.unmatched:
            notes.append(
                f"{len(ctx.regions.unmatched)} region mask file(s) match no background "
                f"(ignored): {', '.join(ctx.regions.unmatched)}"
            )
    if ctx.options.backgrounds == "labelled":
        notes.append(
            "backgrounds are the real train images with their labels kept (--backgrounds "
            f"labelled): the synthetic images also hold {sum(kept_real.values())} copies of real "
            "labelled defects: counted in 'after', not in 'synthetic'"
        )
    if layout_checked:
        layout_failed = sum(
            count
            for counter in failures.values()
            for reason, count in counter.items()
            if reason.startswith("showed another layout")
        )
        defined = ", ".join(
            f"{name} {row['signature']}" for name, row in ctx.layout.items() if row["signature"]
        )
        notes.append(
            f"layout check: {layout_checked} of {sum(synthetic.values())} pastes show the layout "
            f"signature of their class's real instances ({defined}); a paste showing another "
            f"was placed again, and {layout_failed} that showed another in every try were left "
            "out"
        )
    if ctx.tone is not None and ctx.tone.levels is not None:
        low, high = ctx.tone.levels
        notes.append(
            f"the train images are bi-level ({ctx.tone.bilevel_share:.3%} of their pixels at "
            f"grey {low} or {high}): blended pixels were snapped back to those two levels "
            "(--snap-levels off keeps the blend's grey)"
        )
    if pool.inpainted:
        notes.append(
            "the dataset has no clean images: backgrounds were made by inpainting the labelled "
            "defects away from train images"
        )
    return SynthSummary(
        out=out,
        dataset_root=ctx.dataset.root,
        images=kept_count,
        pastes=made,
        counts_before=before,
        counts_synthetic=counts_synthetic,
        counts_after=after,
        targets=ctx.plan.targets,
        planned=dict(ctx.plan.planned),
        shortfalls=shortfalls,
        acceptance_rate=round(made / attempted, 4) if attempted else 0.0,
        acceptance_by_class={
            n: round(counts_synthetic[n] / planned[n], 4) if planned.get(n) else 0.0 for n in names
        },
        seconds=round(time.perf_counter() - start, 2),
        backgrounds={
            "count": len(pool.backgrounds),
            "kinds": dict(kinds),
            "inpainted": pool.inpainted,
            "skipped": pool.skipped,
            **({"region_masks": regions} if regions is not None else {}),
        },
        bank={
            "patches": len(ctx.bank.patches),
            "mask_methods": {n: dict(c) for n, c in methods.items()},
            "too_large_to_place": ctx.plan.unplaceable,
            "skipped": ctx.bank.skipped,
            "cache": str(ctx.bank.path),
        },
        geometry={n: asdict(g) for n, g in ctx.plan.geometry.items()},
        options={**ctx.options.plan_dict(), "workers": ctx.options.workers},
        quality=(
            {
                "scored": len(quality_values),
                "mean": round(float(np.mean(quality_values)), 4) if quality_values else None,
                "min_quality": ctx.options.min_quality,
                "dropped": quality_dropped,
            }
            if scored
            else None
        ),
        blend_pilot=ctx.blend_pilot,
        shard=None
        if ctx.options.shard is None
        else f"{ctx.options.shard[0]}/{ctx.options.shard[1]}",
        rendered_now=rendered_now,
        reused=len(indices) - rendered_now,
        notes=[*notes, f"paste tries: {tries} for {made} accepted pastes"],
        methods={
            b: {"planned": planned_by_blend[b], "made": made_by_blend.get(b, 0)}
            for b in sorted(planned_by_blend)
        },
        mask_sources=(
            dict(sorted(mask_sources.items())) if ctx.options.diffusion_mask != "real" else None
        ),
        tone_levels={
            "mode": ctx.options.snap_levels,
            **(ctx.tone.to_dict() if ctx.tone is not None else {"levels": None}),
        },
        layout_signatures=ctx.layout,
    )


def region_note(regions: dict, count: int, border: int) -> str:
    note = (
        f"region masks ({regions['folder']}): {regions['with_mask']} of {count} backgrounds had one"
    )
    if regions["whole_image"]:
        note += f", {regions['whole_image']} used whole (minus the {border} px border)"
    if regions["left_out"]:
        note += f"; {regions['left_out']} without one left out (--region-mask-required)"
    return note


def report_markdown(summary: SynthSummary) -> str:
    lines = [
        f"# Synthetic set: {summary.out.name}",
        "",
        f"Source dataset: `{summary.dataset_root}`. {summary.images} synthetic images, "
        f"{summary.pastes} pastes, acceptance rate {summary.acceptance_rate:.1%}, "
        f"{summary.seconds:.1f} s.",
        "",
        "| class | real train | target | planned | synthetic | accepted | after |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in summary.counts_before:
        lines.append(
            f"| {name} | {summary.counts_before[name]} | {summary.targets[name]} | "
            f"{summary.planned[name]} | {summary.counts_synthetic[name]} | "
            f"{summary.acceptance_by_class[name]:.0%} | {summary.counts_after[name]} |"
        )
    lines += ["", "## Shortfalls", ""]
    if not summary.shortfalls:
        lines.append("None: every class reached its target.")
    for name, item in summary.shortfalls.items():
        lines.append(
            f"- **{name}**: {item['made']} of {item['target']}: " + "; ".join(item["reasons"])
        )
    lines += [
        "",
        "## Backgrounds",
        "",
        f"{summary.backgrounds['count']} backgrounds: "
        + ", ".join(f"{k} {v}" for k, v in summary.backgrounds["kinds"].items())
        + ".",
    ]
    if summary.backgrounds["skipped"]:
        lines.append(
            "Skipped: "
            + "; ".join(f"{k}: {v}" for k, v in summary.backgrounds["skipped"].items())
            + "."
        )
    lines += [
        "",
        "## Defect bank",
        "",
        f"{summary.bank['patches']} patches. Mask methods per class:",
        "",
    ]
    for name, methods in summary.bank["mask_methods"].items():
        too_large = summary.bank["too_large_to_place"].get(name, 0)
        lines.append(
            f"- {name}: "
            + (", ".join(f"{m} {c}" for m, c in methods.items()) or "none")
            + (f"; {too_large} too large to place" if too_large else "")
        )
    if summary.layout_signatures:
        lines += [
            "",
            "## Layout signatures (--layout-check)",
            "",
            "What each class's real instances do to a near-binary layout; a class whose "
            "instances share one signature (90 %, at least 5) is checked on every paste.",
            "",
            "| class | signature | share | instances |",
            "|---|---|---:|---:|",
        ]
        lines += [
            f"| {name} | {row['signature'] or 'none (not checked)'} | {row['share']:.0%} | "
            f"{row['instances']} |"
            for name, row in summary.layout_signatures.items()
        ]
    lines += ["", "## Transforms learned per class", ""]
    for name, g in summary.geometry.items():
        lines.append(
            f"- {name}: rotation {g['rotate_range'][0]:g}..{g['rotate_range'][1]:g} deg, "
            f"flips {'yes' if g['flip'] else 'no'}, 90-degree turns {'yes' if g['turn'] else 'no'} ({g['why']})"
        )
    if summary.quality:
        lines += [
            "",
            "## Quality",
            "",
            f"Scored samples: {summary.quality['scored']}, mean score "
            f"{summary.quality['mean']}, dropped by --min-quality: {summary.quality['dropped']}.",
        ]
    if summary.blend_pilot:
        pilot = summary.blend_pilot
        scores = ", ".join(f"{k} {v}" for k, v in pilot["scores"].items())
        lines += [
            "",
            "## Blend",
            "",
            f"--blend auto chose **{pilot['chosen']}** ({pilot['why']}): {scores}.",
        ]
    if len(summary.methods) > 1 or summary.mask_sources:
        lines += ["", "## Methods", "", "| blend | planned | accepted |", "|---|---:|---:|"]
        lines += [
            f"| {name} | {item['planned']} | {item['made']} |"
            for name, item in summary.methods.items()
        ]
        if summary.mask_sources:
            lines += [
                "",
                "Mask sources of the accepted pastes: "
                + ", ".join(f"{k} {v}" for k, v in summary.mask_sources.items())
                + ".",
            ]
    if summary.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in summary.notes]
    return "\n".join(lines) + "\n"
