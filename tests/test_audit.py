"""``audit_dataset``: histograms, box statistics, duplicates and every kind of label problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from factory.dataset.audit import audit_dataset
from tests.test_split import distinct_image, write_dataset


def clean_dataset(out: Path, lock: bool = True) -> Path:
    images = []
    for k in range(12):
        split = ("train", "train", "val", "test")[k % 4]
        images.append((split, f"im{k:02d}", distinct_image(k), [k % 3, (k + 1) % 3]))
    return write_dataset(out, images, lock=lock, clean=1)


def kinds(report) -> list[str]:
    return sorted(p["kind"] for p in report.problems)


def test_clean_dataset_has_no_problems(tmp_path: Path):
    report = audit_dataset(clean_dataset(tmp_path / "ds"))
    assert report.ok and report.problems == []
    assert report.lock == "locked"
    assert report.images == {"train": 6, "val": 3, "test": 3}
    assert report.instances["train"] == {"common": 4, "medium": 4, "rare": 4}
    # test images are im03, im07, im11 with classes (0, 1), (1, 2), (2, 0)
    assert report.images_with_class["test"] == {"common": 2, "medium": 2, "rare": 2}
    stats = report.box_stats["train"]
    assert stats["width"] == {"min": 10.0, "median": 10.0, "max": 10.0}
    assert stats["area"]["median"] == 100.0 and stats["count"]["boxes"] == 12
    assert report.clean_images == 1
    data = report.to_dict()
    assert data["ok"] is True and data["exact_duplicates"] == [] and data["near_duplicates"] == []


def test_duplicates_across_splits_and_conflicting_labels(tmp_path: Path):
    base = distinct_image(500)
    images = [
        ("train", "a", base, [0]),
        ("test", "a_copy", base.copy(), [1]),  # exact duplicate, other split, other label
        ("val", "a_bright", np.clip(base.astype(int) + 3, 0, 255).astype(np.uint8), [0]),
        ("train", "b", distinct_image(501), [2]),
        ("train", "b_twin", distinct_image(501), [2]),  # exact duplicate, same labels
    ]
    report = audit_dataset(write_dataset(tmp_path / "ds", images))
    groups = sorted(sorted(g["images"]) for g in report.exact_duplicates)
    assert groups == [
        ["images/test/a_copy.png", "images/train/a.png"],
        ["images/train/b.png", "images/train/b_twin.png"],
    ]
    assert any(g["cross_split"] for g in report.exact_duplicates)
    assert {tuple(sorted(p["splits"])) for p in report.near_duplicates} == {
        ("train", "val"),
        ("test", "val"),
    }
    assert [c["kind"] for c in report.conflicting_labels].count("exact_duplicate") == 1
    assert kinds(report) == [
        "conflicting_labels",
        "exact_duplicate",
        "exact_duplicate",
        "near_duplicate_across_splits",
        "near_duplicate_across_splits",
    ]
    assert not report.ok


def test_label_and_image_problems_are_collected(tmp_path: Path):
    root = clean_dataset(tmp_path / "ds", lock=False)
    labels = root / "labels" / "train"
    (labels / "im00.txt").write_text("0 0.9 0.5 0.4 0.2\n")  # out of bounds
    (labels / "im01.txt").write_text("1 0.5 0.5 0 0.2\n")  # zero area
    (labels / "im04.txt").write_text("7 0.5 0.5 0.1 0.1\n")  # unknown class id
    (labels / "ghost.txt").write_text("0 0.5 0.5 0.1 0.1\n")  # orphan label
    (root / "images" / "train" / "broken.png").write_bytes(b"not an image at all")
    png = (root / "images" / "val" / "im02.png").read_bytes()
    (root / "images" / "val" / "im02.png").write_bytes(png[: len(png) // 2])  # truncated
    report = audit_dataset(root)
    assert kinds(report) == [
        "orphan_label",
        "out_of_bounds",
        "unknown_class",
        "unreadable_image",
        "unreadable_image",
        "zero_area",
    ]
    paths = {p["kind"]: p["path"] for p in report.problems}
    assert paths["unknown_class"] == "labels/train/im04.txt"
    assert paths["orphan_label"] == "labels/train/ghost.txt"
    unreadable = sorted(p["path"] for p in report.problems if p["kind"] == "unreadable_image")
    assert unreadable == ["images/train/broken.png", "images/val/im02.png"]


def test_broken_lock_is_a_problem_not_a_crash(tmp_path: Path):
    root = clean_dataset(tmp_path / "ds")
    sorted((root / "labels" / "test").glob("*.txt"))[0].write_text("0 0.5 0.5 0.2 0.2\n")
    report = audit_dataset(root)
    assert report.lock.startswith("broken:") and "locked test file changed" in report.lock
    assert kinds(report) == ["broken_lock"]


def test_repeated_box_is_a_warning(tmp_path: Path):
    root = clean_dataset(tmp_path / "ds", lock=False)
    label = root / "labels" / "train" / "im00.txt"
    label.write_text(label.read_text() * 2)
    report = audit_dataset(root)
    assert report.ok
    assert report.warnings == ["1 image(s) label the same box twice, e.g. images/train/im00.png"]
