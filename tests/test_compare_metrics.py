"""Metric code of `factory compare`: hand-computed AP cases, P/R/F1, bootstrap determinism."""

from __future__ import annotations

import numpy as np
import pytest

from factory.compare.budget import epoch_list, plan_budget
from factory.compare.metrics import (
    ImageDetections,
    average_precision,
    box_fit,
    box_iou_xyxy,
    box_outcomes,
    build_match_table,
    detection_metrics,
    loss_diagnosis,
    map75,
    match_image,
)
from factory.compare.stats import bootstrap_difference, budget_test_note, convergence, verdict
from factory.compare.train import mosaic_closed_epochs
from factory.errors import FactoryError
from factory.seeding import rng_for

BOX = [10.0, 10.0, 20.0, 20.0]


def image(gt, preds) -> ImageDetections:
    """gt: [(class, box)], preds: [(class, score, box)]."""
    return ImageDetections(
        gt_xyxy=np.array([b for _, b in gt], float).reshape(-1, 4),
        gt_class=np.array([c for c, _ in gt], np.int64),
        pred_xyxy=np.array([b for _, _, b in preds], float).reshape(-1, 4),
        pred_score=np.array([s for _, s, _ in preds], float),
        pred_class=np.array([c for c, _, _ in preds], np.int64),
    )


def shifted(box, dx):
    return [box[0] + dx, box[1], box[2] + dx, box[3]]


def test_iou():
    assert box_iou_xyxy([BOX], [BOX])[0, 0] == pytest.approx(1.0)
    # 10x10 boxes overlapping by 5 columns: 50 / 150
    assert box_iou_xyxy([BOX], [shifted(BOX, 5)])[0, 0] == pytest.approx(1 / 3)
    assert box_iou_xyxy([BOX], [shifted(BOX, 20)])[0, 0] == 0.0


def test_perfect_detection_is_ap_one():
    table = build_match_table([image([(0, BOX)], [(0, 0.9, BOX)])], 1)
    metrics = detection_metrics(table, ["a"])
    assert metrics["map50"] == pytest.approx(1.0)
    assert metrics["map50_95"] == pytest.approx(1.0)
    assert metrics["precision"] == metrics["recall"] == metrics["f1"] == pytest.approx(1.0)


def test_half_recall_is_ap_one_half():
    # two objects, one found: precision 1 up to recall 0.5, nothing beyond.
    # COCO 101 points: recall thresholds 0.00..0.50 (51 points) get 1 -> AP = 51/101.
    table = build_match_table([image([(0, BOX), (0, shifted(BOX, 40))], [(0, 0.9, BOX)])], 1)
    metrics = detection_metrics(table, ["a"])
    assert metrics["map50"] == pytest.approx(51 / 101)
    assert metrics["recall"] == pytest.approx(0.5)
    assert metrics["precision"] == pytest.approx(1.0)


def test_false_positive_ranked_first():
    # ranking: FP (0.9), TP (0.8) for one object: precision at recall 1 is 0.5, so every
    # recall threshold gets 0.5 -> AP = 0.5 exactly.
    preds = [(0, 0.9, shifted(BOX, 40)), (0, 0.8, BOX)]
    table = build_match_table([image([(0, BOX)], preds)], 1)
    assert detection_metrics(table, ["a"])["map50"] == pytest.approx(0.5)
    # ranked the other way the FP comes after full recall and costs nothing.
    preds = [(0, 0.7, shifted(BOX, 40)), (0, 0.8, BOX)]
    table = build_match_table([image([(0, BOX)], preds)], 1)
    metrics = detection_metrics(table, ["a"])
    assert metrics["map50"] == pytest.approx(1.0)
    # best F1 is at a threshold above the FP: P = R = 1
    assert metrics["f1"] == pytest.approx(1.0)
    assert 0.7 < metrics["conf"] <= 0.8


def test_iou_thresholds_give_map50_95():
    # IoU 1/3 misses everything; IoU 0.72 (1 column and 2 rows off a 10x10 box? computed):
    gt = [0.0, 0.0, 10.0, 10.0]
    pred = [0.0, 0.0, 10.0, 13.0]  # IoU = 100 / 130 = 0.769
    table = build_match_table([image([(0, gt)], [(0, 0.9, pred)])], 1)
    metrics = detection_metrics(table, ["a"])
    assert metrics["map50"] == pytest.approx(1.0)
    # thresholds 0.50..0.75 (6 of 10) match, 0.80..0.95 do not -> 0.6
    assert metrics["map50_95"] == pytest.approx(0.6)


def test_duplicate_is_false_positive_and_wrong_class_does_not_match():
    tp = match_image(image([(0, BOX)], [(0, 0.9, BOX), (0, 0.8, BOX), (1, 0.95, BOX)]))
    assert tp[:, 0].tolist() == [True, False, False]


def test_greedy_matching_follows_score_order():
    # the higher-scored prediction takes the object even with a lower IoU
    a = shifted(BOX, 2)  # IoU 8/12
    preds = [(0, 0.5, BOX), (0, 0.9, a)]
    tp = match_image(image([(0, BOX)], preds))
    assert tp[:, 0].tolist() == [False, True]


def test_classes_without_test_boxes_are_left_out():
    table = build_match_table([image([(0, BOX)], [(0, 0.9, BOX), (1, 0.9, BOX)])], 2)
    metrics = detection_metrics(table, ["a", "b"])
    assert metrics["map50"] == pytest.approx(1.0)
    assert metrics["per_class"]["b"]["ap50"] is None
    assert metrics["per_class"]["a"]["test_boxes"] == 1


def test_mean_over_classes():
    # class a perfect, class b: FP first then TP -> 0.5; mean 0.75
    img = image(
        [(0, BOX), (1, shifted(BOX, 30))],
        [(0, 0.9, BOX), (1, 0.9, shifted(BOX, 60)), (1, 0.8, shifted(BOX, 30))],
    )
    metrics = detection_metrics(build_match_table([img], 2), ["a", "b"])
    assert metrics["map50"] == pytest.approx(0.75)
    assert metrics["per_class"]["b"]["ap50"] == pytest.approx(0.5)


def test_weights_equal_repeated_images():
    """A bootstrap weight of 2 must equal the image listed twice."""
    rng = np.random.default_rng(0)
    images = []
    for _ in range(4):
        gt = [(int(rng.integers(2)), [*rng.uniform(0, 50, 2), 0, 0]) for _ in range(3)]
        gt = [(c, [b[0], b[1], b[0] + 10, b[1] + 10]) for c, b in gt]
        preds = [(c, float(rng.uniform()), shifted(b, float(rng.uniform(-4, 4)))) for c, b in gt]
        preds += [(1, float(rng.uniform()), [60, 60, 70, 70])]
        images.append(image(gt, preds))
    weights = np.array([[2, 0, 1, 1]])
    table = build_match_table(images, 2)
    repeated = build_match_table([images[0], images[0], images[2], images[3]], 2)
    from factory.compare.metrics import class_ap

    weighted = class_ap(table, weights)[0]
    plain = class_ap(repeated, np.ones((1, 4)))[0]
    np.testing.assert_allclose(weighted, plain)


def test_average_precision_without_predictions():
    ap = average_precision(np.zeros((0, 10), bool), np.zeros((2, 0)), np.array([3, 0]))
    assert ap[0].tolist() == [0.0] * 10
    assert np.isnan(ap[1]).all()


def _tables(seed: int, quality: float):
    rng = rng_for(seed, "tables")
    images = []
    for _ in range(12):
        gt = [(0, BOX), (0, shifted(BOX, 30))]
        preds = [
            (0, float(rng.uniform()), shifted(b, float(rng.normal(0, quality)))) for _, b in gt
        ]
        images.append(image(gt, preds))
    return build_match_table(images, 1)


def test_box_outcomes_separate_wrong_names_from_misses():
    names = ["open", "short", "spur"]
    far = shifted(BOX, 100)
    images = [
        # found under its class (a wrong-class duplicate beside it does not matter)
        image([(0, BOX)], [(0, 0.9, BOX), (1, 0.8, BOX)]),
        # found only as "spur": a wrong name, and the best-overlapping other class names it
        image([(1, BOX)], [(2, 0.9, shifted(BOX, 1)), (0, 0.7, shifted(BOX, 3))]),
        # the right class overlaps too little, and one prediction is on empty board
        image([(2, BOX)], [(2, 0.9, shifted(BOX, 6)), (1, 0.9, far)]),
        # the right prediction scores below the threshold: missed
        image([(0, BOX)], [(0, 0.2, BOX)]),
    ]
    out = box_outcomes(images, conf=0.5, class_names=names)
    assert out["test_boxes"] == 4
    assert (out["found"], out["wrong_class"], out["missed"]) == (0.25, 0.25, 0.5)
    assert out["confusions"] == {"short->spur": 1}
    assert out["background_fp_per_image"] == 0.25  # only the far box; the 6-px shift overlaps


def test_class_blind_map_forgives_only_the_name():
    names = ["a", "b"]
    wrong_name = [image([(0, BOX)], [(1, 0.9, BOX)]), image([(1, BOX)], [(0, 0.9, BOX)])]
    diagnosis = loss_diagnosis(wrong_name, conf=0.5, class_names=names)
    assert detection_metrics(build_match_table(wrong_name, 2), names)["map50_95"] == 0.0
    assert diagnosis["class_blind_map50_95"] == pytest.approx(1.0)
    assert diagnosis["wrong_class"] == 1.0 and diagnosis["found"] == 0.0
    misplaced = [image([(0, BOX)], [(0, 0.9, shifted(BOX, 6))])]
    assert loss_diagnosis(misplaced, 0.5, names)["class_blind_map50"] == 0.0


def grown(box, factor):
    """The box scaled by ``factor`` about its centre."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half_w, half_h = (box[2] - box[0]) * factor / 2, (box[3] - box[1]) * factor / 2
    return [cx - half_w, cy - half_h, cx + half_w, cy + half_h]


def test_box_fit_measures_loose_boxes_at_the_operating_threshold():
    names = ["a", "b"]
    big = [100.0, 100.0, 140.0, 120.0]  # 40 x 20
    images = [
        # 20 % too wide and tall: IoU 1 / 1.44
        image([(0, BOX)], [(0, 0.9, grown(BOX, 1.2))]),
        image([(1, big)], [(1, 0.8, grown(big, 1.2))]),
        # exact, but below the threshold: not counted
        image([(0, BOX)], [(0, 0.3, BOX)]),
        # right place, wrong class: not a match
        image([(1, BOX)], [(0, 0.9, BOX)]),
    ]
    fit = box_fit(images, conf=0.5)
    assert fit["matched"] == 2
    assert fit["width_ratio"] == pytest.approx(1.2)
    assert fit["height_ratio"] == pytest.approx(1.2)
    assert fit["median_iou"] == pytest.approx(1 / 1.44)
    assert box_fit(images, conf=0.2)["matched"] == 3  # the exact one joins: median 1.2 still
    assert box_fit(images[3:], conf=0.5) == {
        "matched": 0, "median_iou": None, "width_ratio": None, "height_ratio": None
    }  # fmt: skip
    assert loss_diagnosis(images, 0.5, names)["width_ratio"] == pytest.approx(1.2)


def test_map75_counts_only_boxes_tight_enough():
    # IoU 1/1.44 = 0.69: a hit at 0.5, a miss at 0.75; the exact box is a hit at both.
    loose = build_match_table([image([(0, BOX)], [(0, 0.9, grown(BOX, 1.2))])], 1)
    exact = build_match_table([image([(0, BOX)], [(0, 0.9, BOX)])], 1)
    assert detection_metrics(loose, ["a"])["map50"] == pytest.approx(1.0)
    assert map75(loose) == 0.0
    assert map75(exact) == pytest.approx(1.0)
    two_classes = build_match_table(
        [
            image(
                [(0, BOX), (1, shifted(BOX, 40))],
                [(0, 0.9, BOX), (1, 0.9, grown(shifted(BOX, 40), 1.2))],
            )
        ],
        3,  # class 2 has no test box: left out of the mean
    )
    assert map75(two_classes) == pytest.approx(0.5)


def test_bootstrap_is_deterministic_and_paired():
    base = [_tables(1, 3.0), _tables(2, 3.0)]
    other = [_tables(3, 0.5), _tables(4, 0.5)]
    first = bootstrap_difference(base, other, resamples=200, seed=0, key="k")
    again = bootstrap_difference(base, other, resamples=200, seed=0, key="k")
    assert first == again
    other_seed = bootstrap_difference(base, other, resamples=200, seed=1, key="k")
    assert other_seed["ci_low"] != first["ci_low"]
    assert first["ci_low"] <= first["difference"] <= first["ci_high"]
    # a model compared with itself: every resample gives exactly 0
    same = bootstrap_difference(base, base, resamples=200, seed=0, key="k")
    assert same["ci_low"] == same["ci_high"] == 0.0


def test_verdict_sentences():
    clear = verdict("real+synthetic", "real", [0.05, 0.04, 0.06], {"ci_low": 0.01, "ci_high": 0.09})
    assert clear["distinguishable"] and "better" in clear["sentence"]
    assert "distinguishable from noise" in clear["sentence"]
    noisy = verdict(
        "real+synthetic", "real", [0.05, -0.02, 0.01], {"ci_low": -0.01, "ci_high": 0.05}
    )
    assert not noisy["distinguishable"]
    assert "NOT distinguishable" in noisy["sentence"] and "contains zero" in noisy["sentence"]
    # a seed whose difference rounds to zero still shows the sign that makes it disagree
    tie = verdict("x", "real", [-0.022, -0.057, 0.000142], {"ci_low": -0.034, "ci_high": -0.018})
    assert not tie["distinguishable"]
    assert "the seeds disagree (-0.022, -0.057, +0.0001)" in tie["sentence"]
    one = verdict("x", "real", [-0.05], {"ci_low": -0.09, "ci_high": -0.01})
    assert not one["distinguishable"] and "single seed" in one["sentence"]
    # seeds restored without their test predictions: no CI, so never distinguishable
    lost = verdict("x", "real", [0.05, 0.04, 0.06], None)
    assert not lost["distinguishable"]
    assert "no bootstrap over test images" in lost["sentence"]
    partial = verdict(
        "x", "real", [0.05, 0.04, 0.06], {"ci_low": 0.01, "ci_high": 0.09}, bootstrap_seeds=[2]
    )
    assert (
        partial["distinguishable"]
        and "95% CI over test images, seed 2 only" in (partial["sentence"])
    )


def test_budget_test_note_flags_a_test_gain_only_against_a_level():
    flagged = budget_test_note((240, 0.421), (480, 0.441), "levelled")
    assert "changed by +0.020 from 240 to 480 images seen" in flagged
    assert "does not bear out the level" in flagged
    assert "bear out" not in budget_test_note((240, 0.421), (480, 0.426), "levelled")
    # climbing on val already says the smaller budget is not enough: nothing to add
    assert "bear out" not in budget_test_note((240, 0.421), (480, 0.441), "climbing")


def test_convergence():
    flat = [[{"map50_95": v} for v in [0.1, 0.3, 0.4, 0.41, 0.41, 0.41, 0.41, 0.41, 0.41, 0.41]]]
    rising = [[{"map50_95": 0.05 * k} for k in range(10)]]
    assert convergence(flat)["status"] == "levelled"
    assert convergence(rising)["status"] == "climbing"
    assert convergence([[{"map50_95": 0.1}]])["status"] == "unknown"


def test_convergence_keeps_the_mosaic_off_jump_apart():
    """Val mAP that is flat with mosaic and jumps once mosaic closes (as in the kept DeepPCB
    runs at 240k) has levelled; the jump is reported on its own. A rise before it still counts."""
    flat_then_jump = [0.1, 0.3, 0.4] + [0.41] * 13 + [0.45, 0.47, 0.48, 0.48]
    curves = [[{"epoch": e, "map50_95": v} for e, v in enumerate(flat_then_jump, start=1)]]
    closed = [17, 18, 19, 20]
    assert convergence(curves)["status"] == "climbing"  # the jump alone, read as learning
    check = convergence(curves, mosaic_closed=closed)
    assert check["status"] == "levelled" and check["gain"] == pytest.approx(0.0)
    assert check["closed_gain"] == pytest.approx(0.07)
    assert "epochs 14-16" in check["note"]  # the last 20% of the 16 epochs with mosaic
    assert (
        "the 4 epochs after, with mosaic off as at the end of any budget, added +0.070"
        in (check["note"])
    )
    rising = [[{"epoch": e, "map50_95": 0.02 * e} for e in range(1, 21)]]
    check = convergence(rising, mosaic_closed=closed)
    assert check["status"] == "climbing" and check["gain"] == pytest.approx(0.06)
    # A training paused before mosaic closed is judged on all its epochs, as before.
    assert convergence([rising[0][:12]], mosaic_closed=closed)["closed_gain"] is None


def test_mosaic_closed_epochs_follow_the_schedule():
    assert mosaic_closed_epochs([{"epochs": 240}]) == list(range(217, 241))
    two_stages = mosaic_closed_epochs([{"epochs": 30}, {"epochs": 70}])
    assert two_stages == [28, 29, 30, *range(94, 101)]
    assert mosaic_closed_epochs([{"epochs": 20}], {"close_mosaic": 5}) == [16, 17, 18, 19, 20]
    assert mosaic_closed_epochs([{"epochs": 20}], {"close_mosaic": 0}) == []
    assert mosaic_closed_epochs([{"epochs": 20}], {"mosaic": 0.0}) == []
    assert mosaic_closed_epochs([{"epochs": 4}]) == []  # round(0.4): mosaic stays on


def test_budget_is_exact_and_lists_balanced():
    budget = plan_budget(1000, 16, largest_arm=300, epochs=3)
    assert budget.epoch_size % 16 == 0
    assert budget.images_seen == budget.epochs * budget.epoch_size >= 1000
    items = [f"i{k}" for k in range(7)]
    entries = epoch_list(items, 32, rng_for(0, "x"))
    counts = [entries.count(i) for i in items]
    assert len(entries) == 32 and set(counts) <= {4, 5}
    assert epoch_list(items, 32, rng_for(0, "x")) == entries
    with pytest.raises(FactoryError, match="no training images"):
        epoch_list([], 16, rng_for(0, "x"))
