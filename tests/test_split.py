"""``split_dataset``: class balance, duplicate grouping, determinism and the test lock."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from factory.dataset import Annotation, DatasetWriter, load_dataset
from factory.dataset.split import parse_amount, split_dataset
from factory.errors import FactoryError
from factory.io import sha256_file

CLASSES = ["common", "medium", "rare"]


def distinct_image(seed: int) -> np.ndarray:
    """A 64x64 image of random 8x8 blocks: different seeds give unrelated perceptual hashes."""
    blocks = np.random.default_rng(seed).integers(0, 256, (8, 8), dtype=np.uint8)
    return cv2.resize(blocks, (64, 64), interpolation=cv2.INTER_NEAREST)


def write_dataset(out: Path, images: list[tuple[str, str, np.ndarray, list[int]]], **kw) -> Path:
    """``images``: (split, stem, pixels, class ids: one 10x10 box per id)."""
    references = kw.pop("references", {})
    with DatasetWriter(out, CLASSES) as writer:
        for split, stem, pixels, classes in images:
            boxes = [
                Annotation(c, (4.0 + 12 * k, 4.0, 14.0 + 12 * k, 14.0))
                for k, c in enumerate(classes)
            ]
            writer.add_image(split, stem, pixels, boxes, reference=references.get(stem))
        for k in range(kw.pop("clean", 0)):
            writer.add_clean(f"clean_{k}", distinct_image(10_000 + k))
        writer.publish(metadata={"source": {"format": "test"}}, lock_test=kw.pop("lock", False))
    return out


def unbalanced(out: Path) -> Path:
    images = []
    for k in range(56):
        classes = [0] if k < 40 else [1] if k < 52 else [2]
        images.append(("train", f"im{k:03d}", distinct_image(k), classes))
    return write_dataset(out, images, clean=2)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_test_set_is_class_balanced_and_complete(tmp_path: Path):
    src = unbalanced(tmp_path / "src")
    before = tree_digest(src)
    report = split_dataset(src, tmp_path / "out", test=12, val=0.2, seed=0)
    assert tree_digest(src) == before
    test = report.instances["test"]
    assert report.images["test"] == 12
    assert all(count > 0 for count in test.values())
    # Balanced, not proportional: proportional would give 40:12:4 -> about 9:2:1.
    assert test["rare"] == 2  # capped at half of its 4 boxes so training keeps the rest
    assert test["medium"] >= 4 and test["common"] <= 6
    assert report.images == {"train": 33, "val": 11, "test": 12}
    assert report.missing_in_test == [] and report.warnings == []
    dataset = load_dataset(tmp_path / "out")
    assert dataset.is_locked
    assert len(dataset.clean_images) == 2
    assert dataset.class_counts("test") == test
    assert dataset.metadata["split"]["seed"] == 0


def test_fractions_and_counts():
    assert parse_amount("0.2", "test") == pytest.approx(0.2)
    assert parse_amount("25", "test") == 25
    for bad in ("abc", "-1", "2.5", "nan"):
        with pytest.raises(FactoryError, match="--test"):
            parse_amount(bad, "test")


def test_same_seed_same_bytes_other_seed_other_split(tmp_path: Path):
    src = unbalanced(tmp_path / "src")
    split_dataset(src, tmp_path / "a", test=0.2, val=0.2, seed=3)
    split_dataset(src, tmp_path / "b", test=0.2, val=0.2, seed=3)
    split_dataset(src, tmp_path / "c", test=0.2, val=0.2, seed=4)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    stems = {
        name: sorted(p.stem for p in (tmp_path / name / "images" / "test").iterdir())
        for name in ("a", "c")
    }
    assert stems["a"] != stems["c"]


def test_duplicates_and_references_never_straddle_splits(tmp_path: Path):
    images = []
    for k in range(30):
        images.append(("train", f"im{k:02d}", distinct_image(k), [k % 3]))
    base = distinct_image(100)
    brighter = np.clip(base.astype(int) + 3, 0, 255).astype(np.uint8)
    other = distinct_image(200)
    images += [
        ("train", "dup_a", base, [0]),
        ("val", "dup_b", base.copy(), [1]),  # exact duplicate, other source split
        ("train", "dup_c", brighter, [2]),  # near duplicate
        ("train", "ref_owner", distinct_image(300), [1]),  # its reference looks like `other`
        ("train", "other", other, [2]),
    ]
    src = write_dataset(tmp_path / "src", images, references={"ref_owner": other.copy()})
    together = [{"dup_a", "dup_b", "dup_c"}, {"ref_owner", "other"}]
    for seed in range(6):
        out = tmp_path / f"out{seed}"
        report = split_dataset(src, out, test=0.3, val=0.3, seed=seed)
        assert report.grouped_images == 5
        where = {r.stem: r.split for r in load_dataset(out).images}
        for group in together:
            assert len({where[stem] for stem in group}) == 1, (seed, group, where)
        assert (out / "references" / where["ref_owner"] / "ref_owner.png").is_file()


def test_split_writes_a_lock_that_breaks_on_change_and_resplit_fixes_it(tmp_path: Path):
    src = unbalanced(tmp_path / "src")
    out = tmp_path / "out"
    split_dataset(src, out, test=10, val=10, seed=0)
    label = sorted((out / "labels" / "test").glob("*.txt"))[0]
    label.write_text("0 0.5 0.5 0.2 0.2\n")
    with pytest.raises(FactoryError, match="locked test file changed"):
        load_dataset(out)
    # Re-splitting explicitly is the way out: it reads the changed data and locks anew.
    split_dataset(out, tmp_path / "again", test=10, val=10, seed=0)
    assert load_dataset(tmp_path / "again").is_locked


def test_keep_test_keeps_the_locked_test_images(tmp_path: Path):
    src = unbalanced(tmp_path / "src")
    split_dataset(src, tmp_path / "first", test=10, val=10, seed=0)
    before = sorted(p.name for p in (tmp_path / "first" / "images" / "test").iterdir())
    report = split_dataset(tmp_path / "first", tmp_path / "second", val=5, seed=9, keep_test=True)
    after = sorted(p.name for p in (tmp_path / "second" / "images" / "test").iterdir())
    assert before == after and report.images["val"] == 5 and report.warnings == []
    redrawn = split_dataset(tmp_path / "first", tmp_path / "redrawn", test=10, val=5, seed=9)
    assert redrawn.warnings == [
        "the source's locked test split was pooled and redrawn (--keep-test keeps it)"
    ]
    with pytest.raises(FactoryError, match="no test split"):
        split_dataset(src, tmp_path / "third", keep_test=True)


def test_pooled_name_clash_is_renamed(tmp_path: Path):
    images = [("train", "same", distinct_image(1), [0]), ("val", "same", distinct_image(2), [1])]
    images += [("train", f"x{k}", distinct_image(10 + k), [k % 3]) for k in range(10)]
    src = write_dataset(tmp_path / "src", images)
    split_dataset(src, tmp_path / "out", test=2, val=0, seed=0)
    assert len(load_dataset(tmp_path / "out").images) == 12


@pytest.mark.parametrize(
    ("test", "val", "message"),
    [
        ("0", "0.1", "gives no test images"),
        ("56", "0", "none left"),
        ("0.5", "0.6", "only 28 are not in test"),
    ],
)
def test_impossible_amounts(tmp_path: Path, test: str, val: str, message: str):
    src = unbalanced(tmp_path / "src")
    with pytest.raises(FactoryError, match=message):
        split_dataset(src, tmp_path / "out", test=test, val=val)
    assert not (tmp_path / "out").exists()


def test_output_inside_source_is_refused(tmp_path: Path):
    src = unbalanced(tmp_path / "src")
    with pytest.raises(FactoryError, match="inside the source"):
        split_dataset(src, src / "split")
