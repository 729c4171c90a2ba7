"""The dataset model, its formats, the split and its test lock, and the audit."""

from factory.dataset.core import (
    SPLITS,
    Annotation,
    Dataset,
    ImageRecord,
    Problem,
    load_dataset,
    yolo_label_lines,
)
from factory.dataset.lock import TestGuard, compute_test_lock, verify_test_lock
from factory.dataset.writer import DatasetWriter

__all__ = [
    "SPLITS",
    "Annotation",
    "Dataset",
    "DatasetWriter",
    "ImageRecord",
    "Problem",
    "TestGuard",
    "compute_test_lock",
    "load_dataset",
    "verify_test_lock",
    "yolo_label_lines",
]
