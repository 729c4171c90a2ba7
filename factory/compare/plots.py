"""PNG plots of a comparison, drawn with matplotlib's Agg backend (no fonts downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def training_curves(
    path: Path,
    arms: dict[str, list[list[dict]]],
    title: str,
    *,
    mosaic_closed: list[int] | tuple[int, ...] = (),
) -> Path:
    """Validation mAP50-95 against images seen: thin line per seed, thick mean per arm, and
    the epochs trained with mosaic off (``mosaic_closed``) shaded, since val mAP jumps there
    in any budget."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    _shade_mosaic_closed(ax, arms, set(mosaic_closed))
    for color, (arm, curves) in zip(plt.cm.tab10.colors, arms.items(), strict=False):
        curves = [c for c in curves if c]
        for curve in curves:
            ax.plot(
                [p["images_seen"] for p in curve],
                [p["map50_95"] for p in curve],
                color=color, alpha=0.3, linewidth=0.8,
            )  # fmt: skip
        if curves:
            length = min(len(c) for c in curves)
            x = [p["images_seen"] for p in curves[0][:length]]
            y = np.mean([[p["map50_95"] for p in c[:length]] for c in curves], axis=0)
            ax.plot(x, y, color=color, linewidth=2, label=f"{arm} (mean of {len(curves)})")
    ax.set_xlabel("images seen")
    ax.set_ylabel("val mAP50-95 (real val split)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _shade_mosaic_closed(ax, arms: dict[str, list[list[dict]]], closed: set[int]) -> None:
    """Shade each run of consecutive mosaic-off epochs, from the end of the epoch before."""
    points = {p["epoch"]: p["images_seen"] for c in arms.values() for cv in c for p in cv}
    spans, labelled = [], False
    for epoch in sorted(closed & set(points)):
        if spans and spans[-1][1] == epoch - 1:
            spans[-1][1] = epoch
        else:
            spans.append([epoch, epoch])
    for first, last in spans:
        per_epoch = points[first] / first
        ax.axvspan(
            points[first] - per_epoch, points[last], color="0.85", zorder=0,
            label=None if labelled else "mosaic off",
        )  # fmt: skip
        labelled = True


def per_class_ap(
    path: Path, class_names: list[str], arms: dict[str, dict[str, float | None]], title: str
) -> Path:
    """Grouped bars: mean test AP50-95 per class, one bar per arm."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(class_names) + 2), 4.2), dpi=110)
    width = 0.8 / max(len(arms), 1)
    x = np.arange(len(class_names))
    for k, (arm, values) in enumerate(arms.items()):
        heights = [values.get(name) or 0.0 for name in class_names]
        ax.bar(x + (k - (len(arms) - 1) / 2) * width, heights, width, label=arm)
    ax.set_xticks(x, class_names, rotation=20, fontsize=8)
    ax.set_ylabel("test AP50-95 (mean over seeds)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def metric_vs(
    path: Path, xlabel: str, series: dict[str, list[tuple[float, float, float]]], title: str
) -> Path:
    """Test mAP50-95 (mean with a std error bar) against a swept setting, one line per arm."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for arm, points in series.items():
        points = sorted(points)
        ax.errorbar(
            [p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points],
            marker="o", capsize=3, label=arm,
        )  # fmt: skip
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test mAP50-95 (mean ± std over seeds)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
