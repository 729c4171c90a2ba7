"""``factory split``: a train/val/test split with a class-balanced, locked test set.

1. Fingerprint every image (and its paired clean reference): SHA-256 of the file and a 64-bit
   perceptual hash. Exact duplicates, near duplicates (hash distance at most
   ``NEAR_DUPLICATE_BITS``) and an image with its reference form one *group* (union-find);
   a group is never split across train/val/test.
2. Pick the test groups greedily, one at a time: the group that best fills each class's
   test target (an equal share of boxes per class, capped at half of the class's boxes so
   that training keeps the rest) without overshooting, ties broken by a seeded shuffle. This
   is iterative stratification on multi-label images, aimed at balance instead of at the
   source's proportions, so rare classes are represented as well as the data allows.
3. Pick the val groups the same way, with targets proportional to what is left.
4. Write the new dataset (files copied byte for byte, clean images carried over) and lock
   its test split.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from factory.dataset.core import SPLITS, Dataset, ImageRecord, load_dataset
from factory.dataset.hashing import NEAR_DUPLICATE_BITS, phash
from factory.dataset.writer import DatasetWriter
from factory.errors import FactoryError
from factory.io import read_image, sha256_file
from factory.progress import track
from factory.seeding import rng_for

# A class may give at most this share of its boxes to the test set.
MAX_TEST_SHARE = 0.5
DEFAULT_TEST = "0.15"
DEFAULT_VAL = "0.15"


@dataclass(frozen=True)
class Fingerprint:
    """Identity of one image file: exact (SHA-256) and perceptual (64-bit DCT hash)."""

    sha256: str
    phash: int


@dataclass
class SplitReport:
    """What ``split_dataset`` wrote: per-split image and box counts, and the grouping."""

    out: Path
    class_names: list[str]
    images: dict[str, int]
    instances: dict[str, dict[str, int]]
    groups: int
    grouped_images: int  # images that share a group with at least one other image
    seed: int
    missing_in_test: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "out": str(self.out),
            "images": self.images,
            "instances": self.instances,
            "groups": self.groups,
            "grouped_images": self.grouped_images,
            "seed": self.seed,
            "missing_in_test": self.missing_in_test,
            "warnings": self.warnings,
        }


def parse_amount(text: str | float | int, name: str) -> float | int:
    """``"0.2"`` is a fraction of the images, ``"200"`` a count."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise FactoryError(f"--{name} must be a count or a fraction, got {text!r}") from None
    if value < 0 or not np.isfinite(value):
        raise FactoryError(f"--{name} must be a count >= 0 or a fraction in [0, 1), got {text}")
    if value < 1:
        return value
    if value != int(value):
        raise FactoryError(f"--{name} must be a whole count or a fraction below 1, got {text}")
    return int(value)


def _to_count(amount: float | int, total: int) -> int:
    return round(amount * total) if isinstance(amount, float) else int(amount)


def fingerprint(path: Path) -> Fingerprint:
    return Fingerprint(sha256_file(path), phash(read_image(path)))


def near_pairs(hashes: list[int], max_bits: int) -> Iterator[tuple[int, int, int]]:
    """Yield index pairs ``(i, j, bits)``, ``i < j``, whose hashes differ in <= ``max_bits``."""
    values = np.array(hashes, dtype=np.uint64)
    for i in range(len(values) - 1):
        bits = np.bitwise_count(values[i + 1 :] ^ values[i])
        for offset in np.flatnonzero(bits <= max_bits):
            yield i, i + 1 + int(offset), int(bits[offset])


def nearest_distances(hashes: list[int]) -> np.ndarray:
    """For each hash, the hamming distance to its nearest other hash (64 when alone)."""
    values = np.array(hashes, dtype=np.uint64)
    out = np.full(len(values), 64, np.int64)
    for i in range(len(values)):
        bits = np.bitwise_count(values ^ values[i]).astype(np.int64)
        bits[i] = 64
        out[i] = bits.min() if len(values) > 1 else 64
    return out


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def duplicate_groups(
    records: list[ImageRecord], *, max_bits: int = NEAR_DUPLICATE_BITS
) -> list[list[int]]:
    """Indices of ``records`` grouped so that duplicates and reference pairs stay together."""
    paths: list[Path] = []
    owner: list[int] = []
    for index, record in enumerate(records):
        paths.append(record.image_path)
        owner.append(index)
        if record.reference_path is not None:
            paths.append(record.reference_path)
            owner.append(index)
    prints = [fingerprint(p) for p in track(paths, "Hashing images")]
    union = _UnionFind(len(records))
    by_sha: dict[str, int] = {}
    for k, fp in enumerate(prints):
        if fp.sha256 in by_sha:
            union.union(owner[by_sha[fp.sha256]], owner[k])
        by_sha.setdefault(fp.sha256, k)
    for i, j, _ in near_pairs([fp.phash for fp in prints], max_bits):
        union.union(owner[i], owner[j])
    groups: dict[int, list[int]] = {}
    for index in range(len(records)):
        groups.setdefault(union.find(index), []).append(index)
    return [groups[key] for key in sorted(groups)]


def select_groups(
    counts: np.ndarray,
    sizes: np.ndarray,
    available: np.ndarray,
    n_images: int,
    target: np.ndarray,
    cap: np.ndarray,
    rank: np.ndarray,
) -> list[int]:
    """Greedy stratified pick of groups (rows of ``counts``: boxes per class) up to ``n_images``.

    At each step the chosen group minimises, in this order: boxes beyond each class's
    ``cap``, the unmet part of ``target``, the spread of ``taken / target`` across classes,
    then ``rank`` (a seeded shuffle). Groups larger than the room left are skipped unless
    nothing has been taken yet.
    """
    taken = np.zeros(counts.shape[1], np.float64)
    chosen: list[int] = []
    free = available.copy()
    images = 0
    safe_target = np.maximum(target, 1e-9)
    while images < n_images:
        room = n_images - images
        candidates = np.flatnonzero(free & (sizes <= room))
        if candidates.size == 0:
            break
        after = taken[None, :] + counts[candidates]
        over = np.maximum(0.0, after - cap[None, :]).sum(axis=1)
        unmet = np.maximum(0.0, target[None, :] - after).sum(axis=1)
        spread = (after / safe_target[None, :]).std(axis=1) if counts.shape[1] > 1 else unmet * 0
        order = np.lexsort((rank[candidates], spread, unmet, over))
        best = int(candidates[order[0]])
        chosen.append(best)
        free[best] = False
        taken += counts[best]
        images += int(sizes[best])
    return chosen


def split_dataset(
    src: Path | str,
    out: Path | str,
    *,
    test: float | int | str = DEFAULT_TEST,
    val: float | int | str = DEFAULT_VAL,
    seed: int = 0,
    overwrite: bool = False,
    keep_test: bool = False,
    max_bits: int = NEAR_DUPLICATE_BITS,
) -> SplitReport:
    """Split the dataset at ``src`` into train/val/test and write it, test-locked, to ``out``.

    ``test`` and ``val`` are image counts (``200``) or fractions (``0.15``) of all images.
    With ``keep_test`` the existing test split is kept (its lock must still hold) and only
    train and val are redrawn (``test`` is then ignored). Deterministic by ``seed``.
    """
    src, out = Path(src), Path(out)
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise FactoryError(f"{out}: output folder lies inside the source dataset {src}")
    test_amount, val_amount = parse_amount(test, "test"), parse_amount(val, "val")
    # Re-splitting is how a user fixes a broken lock, so the lock is verified only when kept.
    dataset = load_dataset(src, verify_lock=keep_test)
    if keep_test and not dataset.split("test"):
        raise FactoryError(f"{src}: --keep-test given but the dataset has no test split")
    from factory.io import check_output_dir

    check_output_dir(out, overwrite=overwrite)
    records = dataset.images
    total = len(records)
    if total < 2:
        raise FactoryError(f"{src}: {total} image(s): too few to split")
    class_count = dataset.num_classes
    groups = duplicate_groups(records, max_bits=max_bits)
    counts = np.zeros((len(groups), class_count), np.float64)
    sizes = np.array([len(g) for g in groups], np.int64)
    kept_test = np.zeros(len(groups), bool)
    for g, members in enumerate(groups):
        for index in members:
            for annotation in records[index].annotations:
                counts[g, annotation.class_id] += 1
            if keep_test and records[index].split == "test":
                kept_test[g] = True
    rank = rng_for(seed, "split", "order").permutation(len(groups)).astype(np.float64)
    warnings: list[str] = []
    if dataset.is_locked and not keep_test:
        warnings.append(
            "the source's locked test split was pooled and redrawn (--keep-test keeps it)"
        )
    assignment = np.full(len(groups), 0, np.int64)  # 0 train, 1 val, 2 test
    if keep_test:
        mixed = [
            records[groups[g][0]].image_path
            for g in np.flatnonzero(kept_test)
            if any(records[i].split != "test" for i in groups[g])
        ]
        if mixed:
            raise FactoryError(
                f"{mixed[0]}: a locked test image has a duplicate outside the test split; "
                "re-split without --keep-test"
            )
        assignment[kept_test] = 2
    else:
        n_test = _to_count(test_amount, total)
        if n_test < 1:
            raise FactoryError(f"--test {test} gives no test images out of {total}")
        if n_test >= total:
            raise FactoryError(f"--test {test} asks for {n_test} of {total} images: none left")
        class_total = counts.sum(axis=0)
        boxes_per_image = class_total.sum() / max(1, total)
        balanced = n_test * boxes_per_image / max(1, class_count)
        cap = np.floor(class_total * MAX_TEST_SHARE)
        target = np.minimum(balanced, cap)
        chosen = select_groups(counts, sizes, np.ones(len(groups), bool), n_test, target, cap, rank)
        assignment[chosen] = 2
    test_images = int(sizes[assignment == 2].sum())
    n_val = _to_count(val_amount, total)
    if n_val + test_images >= total:
        raise FactoryError(
            f"--val {val} asks for {n_val} images but only {total - test_images} are not in test"
        )
    if n_val:
        remaining = assignment == 0
        left = counts[remaining].sum(axis=0)
        share = n_val / max(1, int(sizes[remaining].sum()))
        target = left * share
        cap = np.ceil(left * max(share * 2, MAX_TEST_SHARE))
        chosen = select_groups(counts, sizes, remaining, n_val, target, cap, rank)
        assignment[chosen] = 1
    split_of = {}
    for g, members in enumerate(groups):
        for index in members:
            split_of[index] = SPLITS[int(assignment[g])]
    images, instances = _tally(dataset, records, split_of)
    missing = [name for name in dataset.class_names if instances["test"][name] == 0]
    for name in missing:
        have = int(counts[:, dataset.class_names.index(name)].sum())
        warnings.append(
            f"class {name!r} has no box in the test set ({have} boxes in the whole dataset)"
        )
    if test_images == 0:
        raise FactoryError(f"{src}: no group fits in the test set; use a larger --test")
    _write(dataset, records, split_of, out, overwrite, seed, test, val, keep_test, max_bits)
    grouped = int(sizes[sizes > 1].sum())
    return SplitReport(
        out=out,
        class_names=dataset.class_names,
        images=images,
        instances=instances,
        groups=len(groups),
        grouped_images=grouped,
        seed=seed,
        missing_in_test=missing,
        warnings=warnings,
    )


def _tally(dataset: Dataset, records: list[ImageRecord], split_of: dict[int, str]):
    images = dict.fromkeys(SPLITS, 0)
    instances = {split: dict.fromkeys(dataset.class_names, 0) for split in SPLITS}
    for index, record in enumerate(records):
        split = split_of[index]
        images[split] += 1
        for annotation in record.annotations:
            instances[split][dataset.class_names[annotation.class_id]] += 1
    return images, instances


def _write(dataset, records, split_of, out, overwrite, seed, test, val, keep_test, max_bits):
    with DatasetWriter(out, dataset.class_names, overwrite=overwrite) as writer:
        taken: dict[str, set[str]] = {split: set() for split in SPLITS}
        order = sorted(range(len(records)), key=lambda i: (split_of[i], records[i].key))
        for index in track(order, "Writing split"):
            record = records[index]
            split = split_of[index]
            stem = record.stem
            if stem in taken[split]:  # same name in two source splits, now pooled
                stem = f"{record.stem}__{record.split}"
            taken[split].add(stem)
            masks = record.read_instance_masks() if record.mask_path else None
            writer.add_image(
                split,
                stem,
                record.image_path,
                record.annotations,
                instance_masks=masks,
                reference=record.reference_path,
            )
        for path in dataset.clean_images:
            writer.add_clean(path.stem, path)
        metadata = {
            key: value
            for key, value in dataset.metadata.items()
            if key not in ("test_lock", "split", "format_version")
        }
        metadata["split"] = {
            "state": "factory-split",
            "test_locked": True,
            "seed": seed,
            "test": str(test),
            "val": str(val),
            "keep_test": keep_test,
            "near_duplicate_bits": max_bits,
            "from": str(dataset.root),
        }
        writer.publish(metadata=metadata, lock_test=True)
