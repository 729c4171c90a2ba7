"""COCO-style detection metrics as pure functions, built so a bootstrap can reuse the matching.

Matching is per image (greedy by score, per class, as pycocotools does), so it is done once;
every metric is then a function of per-image weights: weight 1 for every image gives the
plain metric, a bootstrap resample gives each image the number of times it was drawn.

Shapes: boxes ``(N, 4)`` as ``xyxy`` pixels, scores ``(N,)``, classes ``(N,)`` ints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IOU_THRESHOLDS = np.round(np.linspace(0.5, 0.95, 10), 2)
AP75_COLUMN = int(np.argmin(np.abs(IOU_THRESHOLDS - 0.75)))  # IoU 0.75 in class_ap's T axis
RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # COCO's 101 recall thresholds
CONF_GRID = np.linspace(0.0, 1.0, 1001)  # thresholds searched for the best F1


@dataclass(frozen=True)
class ImageDetections:
    """Ground truth and predictions of one test image."""

    gt_xyxy: np.ndarray
    gt_class: np.ndarray
    pred_xyxy: np.ndarray
    pred_score: np.ndarray
    pred_class: np.ndarray

    def __post_init__(self) -> None:
        if len(self.gt_xyxy) != len(self.gt_class):
            raise ValueError("gt_xyxy and gt_class differ in length")
        if not len(self.pred_xyxy) == len(self.pred_score) == len(self.pred_class):
            raise ValueError("pred_xyxy, pred_score and pred_class differ in length")


def box_iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(len(a), len(b))`` of two ``xyxy`` box arrays."""
    a = np.asarray(a, float).reshape(-1, 4)
    b = np.asarray(b, float).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_image(image: ImageDetections, iou_thresholds: np.ndarray = IOU_THRESHOLDS) -> np.ndarray:
    """True-positive flags ``(num_pred, num_thresholds)``: pycocotools' greedy matching.

    Per class and threshold, predictions in descending score take the unmatched ground
    truth box of highest IoU, when that IoU is at least the threshold.
    """
    num_pred = len(image.pred_score)
    tp = np.zeros((num_pred, len(iou_thresholds)), bool)
    for pred_idx, _, ious in class_ious(image):
        for t, threshold in enumerate(iou_thresholds):
            tp[pred_idx[greedy_match(ious, threshold) >= 0], t] = True
    return tp


def class_ious(image: ImageDetections):
    """Per predicted class that has ground truth: ``(pred_idx, gt_idx, ious)``, the class's
    predictions in descending score (stable), its ground-truth boxes, and their IoU matrix."""
    for class_id in np.unique(image.pred_class):
        pred_idx = np.nonzero(image.pred_class == class_id)[0]
        gt_idx = np.nonzero(image.gt_class == class_id)[0]
        if not len(gt_idx):
            continue
        pred_idx = pred_idx[np.argsort(-image.pred_score[pred_idx], kind="stable")]
        yield pred_idx, gt_idx, box_iou_xyxy(image.pred_xyxy[pred_idx], image.gt_xyxy[gt_idx])


def greedy_match(ious: np.ndarray, threshold: float) -> np.ndarray:
    """The ground-truth column each prediction takes, or -1: rows of ``ious`` are predictions
    in descending score, and each takes the unmatched ground truth of highest IoU when that
    IoU is at least ``threshold`` (pycocotools' rule)."""
    taken = np.zeros(ious.shape[1], bool)
    matched = np.full(ious.shape[0], -1, np.int64)
    if not ious.size:
        return matched
    # A prediction below the threshold with every box can take none, and leaves the others
    # free: only the rest are walked (most low-score predictions, at a tenth of the cost).
    for row in np.flatnonzero(ious.max(axis=1) >= threshold):
        candidates = np.where(taken, -1.0, ious[row])
        best = int(np.argmax(candidates))
        if candidates[best] >= threshold:
            taken[best] = True
            matched[row] = best
    return matched


@dataclass(frozen=True)
class MatchTable:
    """Every prediction of a test set, matched once, sorted by descending score."""

    num_images: int
    num_classes: int
    det_image: np.ndarray  # (D,) image index of each prediction
    det_class: np.ndarray  # (D,)
    det_score: np.ndarray  # (D,)
    det_tp: np.ndarray  # (D, T) bool
    gt_counts: np.ndarray  # (num_images, num_classes) ground-truth boxes per image and class


def build_match_table(
    images: list[ImageDetections], num_classes: int, iou_thresholds: np.ndarray = IOU_THRESHOLDS
) -> MatchTable:
    det_image, det_class, det_score, det_tp = [], [], [], []
    gt_counts = np.zeros((len(images), num_classes), np.int64)
    for index, image in enumerate(images):
        np.add.at(gt_counts[index], np.asarray(image.gt_class, np.int64), 1)
        det_tp.append(match_image(image, iou_thresholds))
        det_image.append(np.full(len(image.pred_score), index, np.int64))
        det_class.append(np.asarray(image.pred_class, np.int64))
        det_score.append(np.asarray(image.pred_score, float))
    score = np.concatenate(det_score) if det_score else np.zeros(0)
    order = np.argsort(-score, kind="stable")
    return MatchTable(
        num_images=len(images),
        num_classes=num_classes,
        det_image=np.concatenate(det_image)[order] if det_image else np.zeros(0, np.int64),
        det_class=np.concatenate(det_class)[order] if det_class else np.zeros(0, np.int64),
        det_score=score[order],
        det_tp=(
            np.concatenate(det_tp)[order] if det_tp else np.zeros((0, len(iou_thresholds)), bool)
        ),
        gt_counts=gt_counts,
    )


def average_precision(tp: np.ndarray, weights: np.ndarray, num_gt: np.ndarray) -> np.ndarray:
    """COCO 101-point AP for many weightings at once.

    ``tp``: ``(D, T)`` flags of one class's predictions sorted by descending score;
    ``weights``: ``(B, D)`` how many times each prediction counts (its image's draw count);
    ``num_gt``: ``(B,)`` ground-truth boxes of that class under each weighting.
    Returns ``(B, T)``; NaN where ``num_gt`` is 0 (COCO leaves such a class out).

    Only the true-positive rows of each threshold are evaluated: recall changes only there,
    so the first row reaching a recall point is one of them, and a false positive's precision
    is below that of the true positive before it, so the precision envelope's maxima are
    there too. Counts are whole numbers, so the sums are exact and the result is the same
    as evaluating every row (the bootstrap's cost falls from B x D x T to B x (D + T x TPs)).
    """
    weights = np.asarray(weights, float)
    num_gt = np.asarray(num_gt, float)
    num_b, num_t = weights.shape[0], tp.shape[1]
    ap = np.zeros((num_b, num_t))
    seen = np.cumsum(weights, axis=1) if tp.shape[0] else None  # (B, D) predictions so far
    safe_gt = np.maximum(num_gt, 1e-12)[:, None]
    for t in range(num_t):
        rows = np.flatnonzero(tp[:, t])
        if not rows.size:
            continue  # no true positive: AP 0
        ctp = np.cumsum(weights[:, rows], axis=1)  # (B, R)
        total = seen[:, rows]
        precision = np.divide(ctp, total, out=np.zeros_like(ctp), where=total > 0)
        recall = ctp / safe_gt
        # Precision envelope: the best precision at this recall or beyond.
        envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
        # First row whose recall reaches each recall point (pycocotools' searchsorted on the
        # unshifted recalls, so near-ties resolve exactly as there).
        num_r = rows.size
        index = np.stack([np.searchsorted(r, RECALL_POINTS, side="left") for r in recall])
        valid = index < num_r
        picked = np.take_along_axis(envelope, np.minimum(index, num_r - 1), axis=1)
        ap[:, t] = np.where(valid, picked, 0.0).mean(axis=1)
    return np.where(num_gt[:, None] > 0, ap, np.nan)


def class_ap(table: MatchTable, image_weights: np.ndarray) -> np.ndarray:
    """AP per weighting, class and IoU threshold: ``(B, C, T)`` (NaN for absent classes)."""
    image_weights = np.atleast_2d(np.asarray(image_weights, float))
    num_b = image_weights.shape[0]
    out = np.full((num_b, table.num_classes, table.det_tp.shape[1]), np.nan)
    num_gt = image_weights @ table.gt_counts  # (B, C)
    for class_id in range(table.num_classes):
        select = table.det_class == class_id
        weights = image_weights[:, table.det_image[select]]
        out[:, class_id] = average_precision(table.det_tp[select], weights, num_gt[:, class_id])
    return out


def mean_ap(table: MatchTable, image_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mAP50, mAP50-95)``, each ``(B,)``, averaged over the classes present."""
    ap = class_ap(table, image_weights)
    with np.errstate(invalid="ignore"):
        ap50 = np.nanmean(ap[:, :, 0], axis=1) if ap.shape[1] else np.zeros(len(ap))
        ap_all = np.nanmean(ap.mean(axis=2), axis=1) if ap.shape[1] else np.zeros(len(ap))
    return np.nan_to_num(ap50), np.nan_to_num(ap_all)


def best_f1(table: MatchTable) -> dict:
    """Precision, recall and F1 (means over classes with ground truth, IoU 0.5) at the one
    confidence threshold that maximises the mean F1. Precision is 0 where a class has no
    prediction above the threshold."""
    present = np.nonzero(table.gt_counts.sum(axis=0) > 0)[0]
    if not len(present):
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "conf": 0.0}
    precision = np.zeros((len(present), len(CONF_GRID)))
    recall = np.zeros_like(precision)
    for row, class_id in enumerate(present):
        select = table.det_class == class_id
        score = table.det_score[select][::-1]  # ascending
        tp = table.det_tp[select, 0][::-1]
        tp_above = np.concatenate([np.cumsum(tp[::-1])[::-1], [0]])  # tp with score >= s_k
        start = np.searchsorted(score, CONF_GRID, side="left")
        count = len(score) - start
        hits = tp_above[start]
        precision[row] = np.divide(hits, count, out=np.zeros(len(CONF_GRID)), where=count > 0)
        recall[row] = hits / table.gt_counts[:, class_id].sum()
    f1 = np.divide(
        2 * precision * recall,
        precision + recall,
        out=np.zeros_like(precision),
        where=(precision + recall) > 0,
    )
    best = int(np.argmax(f1.mean(axis=0)))
    return {
        "precision": float(precision[:, best].mean()),
        "recall": float(recall[:, best].mean()),
        "f1": float(f1[:, best].mean()),
        "conf": float(CONF_GRID[best]),
    }


def detection_metrics(table: MatchTable, class_names: list[str]) -> dict:
    """Every test metric of one model: mAP50, mAP50-95, P/R/F1 at the best threshold,
    per-class AP50 and AP50-95 (None for classes without test boxes)."""
    weights = np.ones((1, table.num_images))
    ap = class_ap(table, weights)[0]  # (C, T)
    map50, map5095 = mean_ap(table, weights)
    per_class = {}
    for class_id, name in enumerate(class_names):
        present = not np.isnan(ap[class_id, 0])
        per_class[name] = {
            "ap50": float(ap[class_id, 0]) if present else None,
            "ap50_95": float(ap[class_id].mean()) if present else None,
            "test_boxes": int(table.gt_counts[:, class_id].sum()),
        }
    return {
        "map50": float(map50[0]),
        "map50_95": float(map5095[0]),
        **best_f1(table),
        "per_class": per_class,
    }


def class_blind(images: list[ImageDetections]) -> list[ImageDetections]:
    """The same detections with every box of one class: AP then measures finding and
    placing defects, whatever they are called."""
    return [
        ImageDetections(
            gt_xyxy=image.gt_xyxy,
            gt_class=np.zeros_like(image.gt_class),
            pred_xyxy=image.pred_xyxy,
            pred_score=image.pred_score,
            pred_class=np.zeros_like(image.pred_class),
        )
        for image in images
    ]


def scoring_at_least(image: ImageDetections, conf: float) -> ImageDetections:
    """The image with only the predictions whose score is at least ``conf``."""
    keep = np.asarray(image.pred_score) >= conf
    return ImageDetections(
        gt_xyxy=image.gt_xyxy,
        gt_class=image.gt_class,
        pred_xyxy=image.pred_xyxy[keep],
        pred_score=image.pred_score[keep],
        pred_class=image.pred_class[keep],
    )


def box_outcomes(
    images: list[ImageDetections], conf: float, class_names: list[str], iou: float = 0.5
) -> dict:
    """What became of each test box among the predictions scoring at least ``conf``.

    ``found``: a prediction of its class overlaps it at IoU >= ``iou``; ``wrong_class``: only
    predictions of other classes do (the best of them names it in ``confusions``, keyed
    ``"true->predicted"``); ``missed``: none does. Shares of all test boxes. Predictions that
    overlap no test box even at IoU 0.1 are counted as ``background_fp_per_image``.
    """
    found = wrong = missed = background = 0
    confusions: dict[str, int] = {}
    for image in images:
        kept = scoring_at_least(image, conf)
        pred_xyxy, pred_class = kept.pred_xyxy, kept.pred_class
        ious = box_iou_xyxy(image.gt_xyxy, pred_xyxy)  # (G, P)
        if len(pred_xyxy):
            background += int((ious.max(axis=0, initial=0.0) < 0.1).sum())
        for row, true_class in enumerate(image.gt_class):
            hits = ious[row] >= iou
            if (hits & (pred_class == true_class)).any():
                found += 1
            elif hits.any():
                wrong += 1
                best = int(np.argmax(np.where(hits, ious[row], -1.0)))
                key = f"{class_names[int(true_class)]}->{class_names[int(pred_class[best])]}"
                confusions[key] = confusions.get(key, 0) + 1
            else:
                missed += 1
    total = max(found + wrong + missed, 1)
    return {
        "conf": float(conf),
        "test_boxes": found + wrong + missed,
        "found": found / total,
        "wrong_class": wrong / total,
        "missed": missed / total,
        "background_fp_per_image": background / max(len(images), 1),
        "confusions": dict(sorted(confusions.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def matched_boxes(
    images: list[ImageDetections], conf: float, iou: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The predictions scoring at least ``conf`` that match a test box of their class at IoU
    >= ``iou`` (greedy by score, per class): their IoU ``(M,)``, predicted-to-true
    ``(width, height)`` ratio ``(M, 2)`` and class ``(M,)``."""
    ious, ratios, classes = [np.zeros(0)], [np.zeros((0, 2))], [np.zeros(0, np.int64)]
    for image in images:
        kept = scoring_at_least(image, conf)
        for pred_idx, gt_idx, pair_ious in class_ious(kept):
            matched = greedy_match(pair_ious, iou)
            rows = np.flatnonzero(matched >= 0)
            pred = kept.pred_xyxy[pred_idx[rows]]
            true = kept.gt_xyxy[gt_idx[matched[rows]]]
            ious.append(pair_ious[rows, matched[rows]])
            ratios.append((pred[:, 2:] - pred[:, :2]) / np.maximum(true[:, 2:] - true[:, :2], 1e-9))
            classes.append(np.asarray(kept.gt_class, np.int64)[gt_idx[matched[rows]]])
    return np.concatenate(ious), np.concatenate(ratios), np.concatenate(classes)


def box_fit(images: list[ImageDetections], conf: float, iou: float = 0.5) -> dict:
    """How tight a model's boxes are: over :func:`matched_boxes`, the median IoU and the
    median ratio of predicted to true width and height.

    A training set whose labels follow another box convention than the test labels (looser
    or tighter synthetic boxes) shows here as ratios away from 1 and a low IoU, while the
    boxes are still found at IoU 0.5. ``None`` for each median where nothing matched.
    """
    ious, ratios, _ = matched_boxes(images, conf, iou)
    if not ious.size:
        return {"matched": 0, "median_iou": None, "width_ratio": None, "height_ratio": None}
    return {
        "matched": int(ious.size),
        "median_iou": float(np.median(ious)),
        "width_ratio": float(np.median(ratios[:, 0])),
        "height_ratio": float(np.median(ratios[:, 1])),
    }


def map75(table: MatchTable) -> float:
    """Class-aware AP at IoU 0.75, averaged over the classes with test boxes."""
    ap = class_ap(table, np.ones((1, table.num_images)))[0, :, AP75_COLUMN]
    return float(np.nanmean(ap)) if not np.isnan(ap).all() else 0.0


def loss_diagnosis(images: list[ImageDetections], conf: float, class_names: list[str]) -> dict:
    """Where a model loses AP: class-blind mAP (finding and placing defects) beside the
    class-aware one, each test box's outcome at the model's best-F1 threshold, and how tight
    the boxes it finds there are (:func:`box_fit`)."""
    blind_map50, blind_map5095 = mean_ap(
        build_match_table(class_blind(images), 1), np.ones((1, len(images)))
    )
    return {
        "class_blind_map50": float(blind_map50[0]),
        "class_blind_map50_95": float(blind_map5095[0]),
        **box_outcomes(images, conf, class_names),
        **box_fit(images, conf),
    }
