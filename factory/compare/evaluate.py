"""The one place that reads the test split: predictions, metrics, size and CPU latency.

Predictions are made here (``conf=0.001``, NMS IoU 0.7, at most 300 boxes per image, as
ultralytics' own validation does) and scored by :mod:`factory.compare.metrics`, so that the
statistics can resample test images. Predictions are saved per training (``.npz``), which
is what lets ``--report-only`` recompute everything without a model.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

from factory.compare.machine import cpu_model
from factory.compare.metrics import ImageDetections
from factory.dataset import ImageRecord

PREDICT_CONF = 0.001
PREDICT_IOU = 0.7
PREDICT_MAX_DET = 300


def ground_truth(record: ImageRecord) -> tuple[np.ndarray, np.ndarray]:
    boxes = np.array([a.xyxy for a in record.annotations], float).reshape(-1, 4)
    classes = np.array([a.class_id for a in record.annotations], np.int64)
    return boxes, classes


def predict_test(
    weights: Path, records: list[ImageRecord], imgsz: int, device: str
) -> list[ImageDetections]:
    """Run the model on every test image and pair its boxes with the ground truth."""
    from factory.compare.train import prepare_ultralytics

    prepare_ultralytics()
    from ultralytics import YOLO

    model = YOLO(str(weights))
    out = []
    for record in records:
        result = model.predict(
            str(record.image_path),
            imgsz=imgsz,
            conf=PREDICT_CONF,
            iou=PREDICT_IOU,
            max_det=PREDICT_MAX_DET,
            device=device,
            verbose=False,
        )[0]
        boxes = result.boxes
        gt_xyxy, gt_class = ground_truth(record)
        out.append(
            ImageDetections(
                gt_xyxy=gt_xyxy,
                gt_class=gt_class,
                pred_xyxy=boxes.xyxy.cpu().numpy().astype(float).reshape(-1, 4),
                pred_score=boxes.conf.cpu().numpy().astype(float),
                pred_class=boxes.cls.cpu().numpy().astype(np.int64),
            )
        )
    return out


def save_detections(path: Path, images: list[ImageDetections], keys: list[str]) -> None:
    """All images' boxes in one ``.npz`` (concatenated, with per-image offsets)."""

    def cat(name: str, width: int | None, dtype) -> np.ndarray:
        parts = [np.asarray(getattr(i, name), dtype) for i in images]
        if not parts:
            return np.zeros((0, width) if width else 0, dtype)
        return np.concatenate([p.reshape(-1, width) if width else p for p in parts])

    np.savez_compressed(
        path,
        keys=np.array(keys),
        gt_count=np.array([len(i.gt_class) for i in images], np.int64),
        pred_count=np.array([len(i.pred_score) for i in images], np.int64),
        gt_xyxy=cat("gt_xyxy", 4, float),
        gt_class=cat("gt_class", None, np.int64),
        pred_xyxy=cat("pred_xyxy", 4, float),
        pred_score=cat("pred_score", None, float),
        pred_class=cat("pred_class", None, np.int64),
    )


def load_detections(path: Path) -> tuple[list[ImageDetections], list[str]]:
    with np.load(path) as npz:  # each npz[key] decompresses again: read every array once
        data = {key: npz[key] for key in npz.files}
    gt_end = np.cumsum(data["gt_count"])
    pred_end = np.cumsum(data["pred_count"])
    images = []
    for k in range(len(data["keys"])):
        g0, g1 = (gt_end[k - 1] if k else 0), gt_end[k]
        p0, p1 = (pred_end[k - 1] if k else 0), pred_end[k]
        images.append(
            ImageDetections(
                gt_xyxy=data["gt_xyxy"][g0:g1],
                gt_class=data["gt_class"][g0:g1],
                pred_xyxy=data["pred_xyxy"][p0:p1],
                pred_score=data["pred_score"][p0:p1],
                pred_class=data["pred_class"][p0:p1],
            )
        )
    return images, [str(k) for k in data["keys"]]


def model_size(weights: Path) -> dict:
    """Parameters, fp32 weight size and checkpoint file size."""
    from factory.compare.train import prepare_ultralytics

    prepare_ultralytics()
    from ultralytics import YOLO

    model = YOLO(str(weights))
    params = int(sum(p.numel() for p in model.model.parameters()))
    return {
        "params": params,
        "fp32_mb": params * 4 / 1e6,
        "checkpoint_mb": Path(weights).stat().st_size / 1e6,
    }


def cpu_latency(weights: Path, images: list[Path], imgsz: int, warmup: int = 2) -> dict:
    """Median wall time per image of ``predict`` on the CPU, batch 1, after ``warmup`` runs
    (pre- and post-processing included). Noisy on a shared machine: read it as an order of
    magnitude."""
    from factory.compare.train import prepare_ultralytics

    prepare_ultralytics()
    import torch
    from ultralytics import YOLO

    model = YOLO(str(weights))
    if not images:
        return {"median_ms": None, "images": 0}
    for path in (images * (warmup // max(len(images), 1) + 1))[:warmup]:
        model.predict(str(path), imgsz=imgsz, device="cpu", verbose=False)
    times = []
    for path in images:
        start = time.perf_counter()
        model.predict(str(path), imgsz=imgsz, device="cpu", verbose=False)
        times.append((time.perf_counter() - start) * 1000)
    return {
        "median_ms": statistics.median(times),
        "mean_ms": statistics.fmean(times),
        "images": len(times),
        "torch_threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
    }


def ultralytics_val(weights: Path, data_yaml: Path, imgsz: int, device: str, batch: int) -> dict:
    """Ultralytics' own validation numbers on the test split, for the cross-check only."""
    from factory.compare.train import prepare_ultralytics

    prepare_ultralytics()
    from ultralytics import YOLO

    model = YOLO(str(weights))
    metrics = model.val(
        data=str(data_yaml),
        split="val",
        imgsz=imgsz,
        batch=batch,
        device=device,
        conf=PREDICT_CONF,
        iou=PREDICT_IOU,
        plots=False,
        verbose=False,
        workers=0,
        project=str(Path(data_yaml).parent),
        name="ultralytics-val",
        exist_ok=True,
    )
    return {
        "map50": float(metrics.box.map50),
        "map50_95": float(metrics.box.map),
        "precision": float(metrics.box.mp),
        "recall": float(metrics.box.mr),
    }
