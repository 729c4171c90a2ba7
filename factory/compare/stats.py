"""Seeds, paired differences, a bootstrap over test images, the verdict, convergence."""

from __future__ import annotations

import math

import numpy as np

from factory.compare.metrics import MatchTable, mean_ap
from factory.seeding import rng_for

BOOTSTRAP_CHUNK = 50


def mean_std(values: list[float]) -> dict:
    """Mean and sample standard deviation (0 for a single value)."""
    values = [float(v) for v in values]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {"mean": float(np.mean(values)), "std": std, "n": len(values)}


def bootstrap_difference(
    base: list[MatchTable],
    other: list[MatchTable],
    *,
    resamples: int,
    seed: int,
    key: str,
) -> dict:
    """95% CI of ``mean_seeds(mAP50-95 other) - mean_seeds(mAP50-95 base)`` over test images.

    Each resample draws the test images with replacement (the same draw for every model,
    so the comparison stays paired) and recomputes every model's mAP50-95 from the saved
    matches. Deterministic for a given ``seed`` and ``key``.
    """
    num_images = base[0].num_images
    if any(t.num_images != num_images for t in (*base, *other)):
        raise ValueError("all models must be evaluated on the same test images")
    rng = rng_for(seed, "bootstrap", key)
    weights = rng.multinomial(num_images, np.full(num_images, 1 / num_images), size=resamples)
    diffs = []
    for start in range(0, resamples, BOOTSTRAP_CHUNK):
        chunk = weights[start : start + BOOTSTRAP_CHUNK]
        base_map = np.mean([mean_ap(t, chunk)[1] for t in base], axis=0)
        other_map = np.mean([mean_ap(t, chunk)[1] for t in other], axis=0)
        diffs.append(other_map - base_map)
    diff = np.concatenate(diffs) if diffs else np.zeros(0)
    ones = np.ones((1, num_images))
    point = float(
        np.mean([mean_ap(t, ones)[1][0] for t in other])
        - np.mean([mean_ap(t, ones)[1][0] for t in base])
    )
    return {
        "difference": point,
        "ci_low": float(np.percentile(diff, 2.5)),
        "ci_high": float(np.percentile(diff, 97.5)),
        "resamples": int(resamples),
        "test_images": int(num_images),
    }


def name_seeds(seeds: list[int]) -> str:
    """``seed 2`` or ``seeds 0, 1``."""
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(str(s) for s in seeds)}"


def signed_difference(value: float) -> str:
    """Three decimals, or as many as the first significant digit needs: a seed whose
    difference would print as +0.000 still shows the sign the verdict rule reads."""
    if value == 0 or abs(value) >= 0.0005:
        return f"{value:+.3f}"
    return f"{value:+.{-math.floor(math.log10(abs(value)))}f}"


def verdict(
    arm: str,
    base: str,
    seed_differences: list[float],
    bootstrap: dict | None,
    *,
    bootstrap_seeds: list[int] | None = None,
) -> dict:
    """Whether ``arm`` differs from ``base`` beyond noise, and a sentence saying so.

    Distinguishable means both: the bootstrap 95% CI over test images excludes zero, and
    every seed's paired difference has the sign of the mean (with at least two seeds).
    ``bootstrap`` is None when no paired seed kept its test predictions (a run restored from
    a results.json): then nothing is distinguishable. ``bootstrap_seeds`` names the seeds the
    bootstrap covers when that is fewer than the paired seeds, so the sentence says so.
    """
    mean = float(np.mean(seed_differences)) if seed_differences else 0.0
    seeds_agree = len(seed_differences) >= 2 and all(
        math.copysign(1, d) == math.copysign(1, mean) and d != 0 for d in seed_differences
    )
    direction = "better" if mean > 0 else "worse"
    seeds_text = ", ".join(signed_difference(d) for d in seed_differences)
    if bootstrap is None:
        ci_excludes_zero = False
        ci_text = "no bootstrap over test images (no paired seed kept its test predictions)"
    else:
        low, high = bootstrap["ci_low"], bootstrap["ci_high"]
        ci_excludes_zero = low > 0 or high < 0
        only = f", {name_seeds(bootstrap_seeds)} only" if bootstrap_seeds is not None else ""
        ci_text = f"95% CI over test images{only} [{low:+.3f}, {high:+.3f}]"
    if ci_excludes_zero and seeds_agree:
        sentence = (
            f"`{arm}` is {direction} than `{base}` by {mean:+.3f} mAP50-95 and the difference "
            f"is distinguishable from noise ({ci_text}; every seed agrees: {seeds_text})."
        )
        distinguishable = True
    else:
        reasons = []
        if bootstrap is None:
            reasons.append(ci_text)
        elif not ci_excludes_zero:
            reasons.append(f"the {ci_text} contains zero")
        else:
            reasons.append(f"the {ci_text} excludes zero, but")
        if len(seed_differences) < 2:
            reasons.append("a single seed cannot show seed-to-seed noise")
        elif not seeds_agree:
            reasons.append(f"the seeds disagree ({seeds_text})")
        joined = "; ".join(reasons).replace("but; ", "but ")
        sentence = (
            f"`{arm}` differs from `{base}` by {mean:+.3f} mAP50-95, which is NOT "
            f"distinguishable from noise: {joined}."
        )
        distinguishable = False
    return {
        "distinguishable": distinguishable,
        "direction": direction if distinguishable else "none",
        "mean_difference": mean,
        "sentence": sentence,
    }


# A val mAP50-95 that moves by no more than this (within a training's tail, or from one budget
# to the next) counts as levelled off.
LEVELLED_TOLERANCE = 0.01


def convergence(
    curves: list[list[dict]],
    *,
    tail: float = 0.2,
    tolerance: float = LEVELLED_TOLERANCE,
    mosaic_closed: list[int] | tuple[int, ...] = (),
) -> dict:
    """Has validation mAP50-95 levelled off? Compares the best of the last ``tail`` of the
    epochs with the best before it, on the mean curve over seeds.

    ``mosaic_closed``: the epochs trained with mosaic switched off (``mosaic_closed_epochs``).
    Ultralytics does that for the last 10% of any budget here, and val mAP jumps there
    because the training images change, not because the model is still learning (on the
    kept DeepPCB runs of 120k and more it made most of the tail's rise). So the tail is then
    the last ``tail`` of the epochs *with* mosaic, and the jump after it is reported on its
    own (``closed_gain``), without deciding the status."""
    lengths = [len(c) for c in curves if c]
    if not lengths or min(lengths) < 5:
        return {"status": "unknown", "gain": None, "note": "too few epochs to judge convergence"}
    length = min(lengths)
    used = [c[:length] for c in curves if c]
    mean = np.mean([[p["map50_95"] for p in c] for c in used], axis=0)
    closed = set(mosaic_closed)
    epochs = [p.get("epoch", k + 1) for k, p in enumerate(used[0])]
    with_mosaic = [k for k, epoch in enumerate(epochs) if epoch not in closed]
    if len(with_mosaic) == length or len(with_mosaic) < 5:
        cut = max(1, round(length * (1 - tail)))
        gain = float(mean[cut:].max() - mean[:cut].max())
        where = f"in the last {tail:.0%} of the budget"
        closed_gain = None
    else:
        window = with_mosaic[max(1, round(len(with_mosaic) * (1 - tail))) :]
        start, end = window[0], window[-1] + 1
        gain = float(mean[window].max() - mean[:start].max())
        where = (
            f"in the last {tail:.0%} of the epochs with mosaic (epochs {epochs[start]}-"
            f"{epochs[end - 1]})"
        )
        after = [k for k in range(end, length) if epochs[k] in closed]
        closed_gain = float(mean[after].max() - mean[:end].max()) if after else None
        if after:
            where += (
                f"; the {len(after)} epochs after, with mosaic off as at the end of any budget, "
                f"added {closed_gain:+.3f}"
            )
    if gain > tolerance:
        status, note = "climbing", f"val mAP50-95 still rose by {gain:.3f} {where}"
    else:
        status, note = "levelled", f"val mAP50-95 changed by {gain:+.3f} {where}"
    return {"status": status, "gain": gain, "closed_gain": closed_gain, "note": note}


def budget_convergence(
    points: list[tuple[int, float]], *, tolerance: float = LEVELLED_TOLERANCE
) -> dict:
    """Has real-only levelled off *across budgets*? ``points``: (images seen, mean over seeds
    of the best validation mAP50-95) of separate trainings. Within one training the
    learning-rate schedule decays to its floor at the end of any budget, so a flat tail there
    does not prove convergence; a larger budget that no longer helps does."""
    points = sorted(points)
    if len(points) < 2:
        return {"status": "unknown", "gain": None, "sentence": "one budget only"}
    (small, before), (large, after) = points[-2], points[-1]
    gain = after - before
    trail = "; ".join(f"{seen:,} images: {value:.3f}" for seen, value in points)
    if gain > tolerance:
        return {
            "status": "climbing",
            "gain": gain,
            "sentence": (
                f"real-only best val mAP50-95 by budget: {trail}. It still rose by {gain:+.3f} "
                f"from {small:,} to {large:,} images seen, so real-only had **not levelled off** at "
                f"{small:,} (and {large:,} is not shown to be enough either)."
            ),
        }
    return {
        "status": "levelled",
        "gain": gain,
        "sentence": (
            f"real-only best val mAP50-95 by budget: {trail}. It changed by {gain:+.3f} from "
            f"{small:,} to {large:,} images seen (tolerance {tolerance}), so real-only had "
            f"**levelled off by {small:,} images seen**."
        ),
    }


def budget_test_note(
    before: tuple[int, float],
    after: tuple[int, float],
    status: str,
    *,
    tolerance: float = LEVELLED_TOLERANCE,
) -> str:
    """Real-only's *test* mAP50-95 change between the two largest budgets, ``before`` and
    ``after`` as (images seen, test mean), told to the reader beside the budget check. The
    budget is still chosen on validation; but a test gain past the tolerance at a budget that
    check calls levelled says real-only may still be gaining there, so a comparison at the
    smaller budget may not hold at the larger one, in either direction."""
    (small, small_test), (large, large_test) = before, after
    gain = large_test - small_test
    note = (
        f"For information only (the budget check reads val, never test): real-only test "
        f"mAP50-95 changed by {gain:+.3f} from {small:,} to {large:,} images seen."
    )
    if status == "levelled" and gain > tolerance:
        note += (
            f" That is more than the tolerance ({tolerance}): the test split does not bear out "
            "the level; real-only may still be gaining, and a comparison at the smaller budget "
            "may not hold at the larger one."
        )
    return note
