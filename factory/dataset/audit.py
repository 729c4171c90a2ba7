"""``factory audit``: what is in a dataset and what is wrong with it.

:func:`audit_dataset` loads the dataset leniently (``load_dataset(strict=False)``), so bad
labels become findings instead of errors, decodes every image, hashes it, and returns an
:class:`AuditReport`. Its ``problems`` make ``--strict`` fail; ``warnings`` do not.

Problems: unreadable images, bad label lines, boxes out of bounds or of zero area, unknown
class ids, orphan labels, a broken test lock, exact duplicates (anywhere), near duplicates
across splits (a leak between train and test) and exact duplicates whose labels disagree.
Warnings: near duplicates inside one split, images labelling the same box twice, near duplicates whose classes differ (shifted
views of one board legitimately carry different defects), classes with no box in a split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from factory.dataset.core import SPLITS, Dataset, ImageRecord, load_dataset
from factory.dataset.hashing import NEAR_DUPLICATE_BITS
from factory.dataset.split import Fingerprint, fingerprint, near_pairs
from factory.errors import FactoryError
from factory.progress import track

# Two duplicates' boxes match when every coordinate agrees to within this many pixels.
BOX_MATCH_PX = 2.0
# At most this many near-duplicate pairs are listed (and checked for label conflicts).
MAX_NEAR_PAIRS = 10_000


@dataclass
class AuditReport:
    """Everything ``factory audit`` found; ``to_dict()`` is the ``--json`` output."""

    root: Path
    class_names: list[str]
    images: dict[str, int]
    instances: dict[str, dict[str, int]]
    images_with_class: dict[str, dict[str, int]]
    box_stats: dict[str, dict[str, dict[str, float]]]
    clean_images: int
    lock: str  # "locked", "unlocked" or "broken: <reason>"
    exact_duplicates: list[dict] = field(default_factory=list)
    near_duplicates: list[dict] = field(default_factory=list)
    conflicting_labels: list[dict] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {
            "dataset": str(self.root),
            "class_names": self.class_names,
            "images": self.images,
            "clean_images": self.clean_images,
            "lock": self.lock,
            "instances": self.instances,
            "images_with_class": self.images_with_class,
            "box_stats": self.box_stats,
            "exact_duplicates": self.exact_duplicates,
            "near_duplicates": self.near_duplicates,
            "conflicting_labels": self.conflicting_labels,
            "problems": self.problems,
            "warnings": self.warnings,
            "near_duplicate_bits": NEAR_DUPLICATE_BITS,
            "ok": self.ok,
        }


def box_stats(records: list[ImageRecord]) -> dict[str, dict[str, float]]:
    """min/median/max of box width, height and area (pixels) over ``records``."""
    boxes = [a for r in records for a in r.annotations]
    stats: dict[str, dict[str, float]] = {}
    for name, values in (
        ("width", [a.width for a in boxes]),
        ("height", [a.height for a in boxes]),
        ("area", [a.area for a in boxes]),
    ):
        if values:
            array = np.array(values, np.float64)
            stats[name] = {
                "min": round(float(array.min()), 2),
                "median": round(float(np.median(array)), 2),
                "max": round(float(array.max()), 2),
            }
        else:
            stats[name] = {"min": 0.0, "median": 0.0, "max": 0.0}
    stats["count"] = {"boxes": len(boxes)}  # type: ignore[dict-item]
    return stats


def _labels_agree(a: ImageRecord, b: ImageRecord, exact: bool) -> bool:
    if sorted(x.class_id for x in a.annotations) != sorted(x.class_id for x in b.annotations):
        return False
    if not exact or (a.width, a.height) != (b.width, b.height):
        return True
    unmatched = list(b.annotations)
    for box in a.annotations:
        match = next(
            (
                other
                for other in unmatched
                if other.class_id == box.class_id
                and max(abs(p - q) for p, q in zip(box.xyxy, other.xyxy, strict=True))
                <= BOX_MATCH_PX
            ),
            None,
        )
        if match is None:
            return False
        unmatched.remove(match)
    return True


def _made_on(root: Path) -> set[frozenset[str]]:
    """Pairs (synthetic image, real train image it was pasted onto) from a ``factory synth``
    output's manifest (``--backgrounds labelled``); empty for other datasets."""
    manifest = Path(root) / "manifest.jsonl"
    pairs: set[frozenset[str]] = set()
    if not manifest.is_file():
        return pairs
    for line in manifest.read_text().splitlines():
        try:
            record = json.loads(line)
            background = record["background"]
            if background.get("kind") == "labelled-train":
                pairs.add(frozenset((record["image"], background["source"])))
        except (ValueError, KeyError, TypeError):
            continue  # not a synth manifest line: nothing is exempt
    return pairs


def audit_dataset(root: Path | str, *, max_bits: int = NEAR_DUPLICATE_BITS) -> AuditReport:
    """Audit the dataset at ``root`` (never raises for problems in the data itself)."""
    dataset: Dataset = load_dataset(root, strict=False, verify_lock=False)
    root = dataset.root
    problems = [{"path": p.path, "kind": p.kind, "message": p.message} for p in dataset.problems]
    lock = "unlocked"
    if dataset.is_locked:
        from factory.dataset.lock import verify_test_lock

        try:
            verify_test_lock(dataset)
            lock = "locked"
        except FactoryError as error:
            lock = f"broken: {error}"
            problems.append({"path": "factory.json", "kind": "broken_lock", "message": str(error)})
    records: list[ImageRecord] = []
    prints: list[Fingerprint] = []
    for record in track(dataset.images, "Hashing images"):
        try:
            prints.append(fingerprint(record.image_path))
            records.append(record)
        except FactoryError:
            problems.append(
                {
                    "path": str(record.image_path.relative_to(root)),
                    "kind": "unreadable_image",
                    "message": "cannot decode image (corrupt or truncated)",
                }
            )

    def rel(record: ImageRecord) -> str:
        return str(record.image_path.relative_to(root))

    exact: list[dict] = []
    conflicts: list[dict] = []
    by_sha: dict[str, list[int]] = {}
    for index, fp in enumerate(prints):
        by_sha.setdefault(fp.sha256, []).append(index)
    for members in by_sha.values():
        if len(members) < 2:
            continue
        splits = sorted({records[i].split for i in members})
        exact.append(
            {
                "images": [rel(records[i]) for i in members],
                "splits": splits,
                "cross_split": len(splits) > 1,
            }
        )
        first = records[members[0]]
        for other in members[1:]:
            if not _labels_agree(first, records[other], exact=True):
                conflicts.append(
                    {"images": [rel(first), rel(records[other])], "kind": "exact_duplicate"}
                )
    near: list[dict] = []
    warnings: list[str] = []
    unlisted = 0
    derived = _made_on(root)
    expected = 0
    for i, j, bits in near_pairs([fp.phash for fp in prints], max_bits):
        if prints[i].sha256 == prints[j].sha256:
            continue
        if frozenset((rel(records[i]), rel(records[j]))) in derived:
            expected += 1  # a synthetic image and the real image it was pasted onto
            continue
        if len(near) >= MAX_NEAR_PAIRS:  # a set of look-alike images has ~n^2/2 pairs
            unlisted += 1
            continue
        a, b = records[i], records[j]
        cross = a.split != b.split
        near.append(
            {
                "images": [rel(a), rel(b)],
                "bits": bits,
                "splits": sorted({a.split, b.split}),
                "cross_split": cross,
            }
        )
        if not _labels_agree(a, b, exact=False):
            conflicts.append({"images": [rel(a), rel(b)], "kind": "near_duplicate"})
    for group in exact:
        problems.append(
            {
                "path": group["images"][0],
                "kind": "exact_duplicate",
                "message": f"identical files: {', '.join(group['images'])}",
            }
        )
    for pair in near:
        if pair["cross_split"]:
            problems.append(
                {
                    "path": pair["images"][0],
                    "kind": "near_duplicate_across_splits",
                    "message": f"near duplicate of {pair['images'][1]} ({pair['bits']} bits)",
                }
            )
    if unlisted:
        warnings.append(f"{unlisted} more near-duplicate pair(s) not listed")
    if expected:
        warnings.append(
            f"{expected} synthetic image(s) are near duplicates of the real train image they "
            "were pasted onto (--backgrounds labelled), as expected; not counted above"
        )
    within = sum(1 for pair in near if not pair["cross_split"])
    if within:
        warnings.append(f"{within} near-duplicate pair(s) inside one split")
    near_conflicts = sum(1 for c in conflicts if c["kind"] == "near_duplicate")
    if near_conflicts:
        # Near duplicates may be shifted views (DeepPCB) whose labels rightly differ.
        warnings.append(f"{near_conflicts} near-duplicate pair(s) carry different classes")
    for conflict in (c for c in conflicts if c["kind"] == "exact_duplicate"):
        problems.append(
            {
                "path": conflict["images"][0],
                "kind": "conflicting_labels",
                "message": f"{conflict['kind'].replace('_', ' ')} of {conflict['images'][1]} "
                "with different labels",
            }
        )
    repeated = []
    for record in dataset.images:
        boxes = [(a.class_id, *(round(v, 2) for v in a.xyxy)) for a in record.annotations]
        if len(set(boxes)) != len(boxes):
            repeated.append(rel(record))
    if repeated:
        # ultralytics drops such repeats ("duplicate labels removed"), so counts would differ.
        warnings.append(
            f"{len(repeated)} image(s) label the same box twice, e.g. {', '.join(repeated[:3])}"
        )
    images = {split: len(dataset.split(split)) for split in SPLITS}
    instances = {split: dataset.class_counts(split) for split in SPLITS}
    images_with_class = {
        split: {
            name: sum(
                1 for r in dataset.split(split) if any(a.class_id == k for a in r.annotations)
            )
            for k, name in enumerate(dataset.class_names)
        }
        for split in SPLITS
    }
    for split in SPLITS:
        if images[split]:
            absent = [n for n, c in instances[split].items() if c == 0]
            if absent:
                warnings.append(f"{split}: no box of class {', '.join(absent)}")
    return AuditReport(
        root=root,
        class_names=dataset.class_names,
        images=images,
        instances=instances,
        images_with_class=images_with_class,
        box_stats={split: box_stats(dataset.split(split)) for split in SPLITS},
        clean_images=len(dataset.clean_images),
        lock=lock,
        exact_duplicates=exact,
        near_duplicates=near,
        conflicting_labels=conflicts,
        problems=problems,
        warnings=warnings,
    )
