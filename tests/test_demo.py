"""The demo die dataset: determinism, class mix, exact masks, split balance, lock, CLI."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import factory.demo
from factory.cli import app
from factory.dataset import TestGuard, load_dataset
from factory.demo import CLASS_NAMES, DemoConfig, generate_demo, plan_split
from factory.demo.functional import (
    changed_mask,
    defect_footprint,
    mask_to_xyxy,
    paint_defect,
    render_die,
)
from factory.demo.sampling import SAMPLERS, sample_bridge, sample_layout, sample_open
from factory.io import sha256_file
from factory.seeding import rng_for

runner = CliRunner()
TINY = DemoConfig(
    train_images=6,
    val_images=5,
    test_images=5,
    clean_images=3,
    train_class_counts={"particle": 4, "scratch": 3, "bridge": 2, "open": 1, "stain": 2},
    val_per_class=1,
    test_per_class=1,
)


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    """The full default demo, generated once through the CLI."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--seed", "0"])
    assert result.exit_code == 0, result.output
    assert "demo dataset written to" in result.output
    return out


@pytest.fixture(scope="module")
def demo(demo_root):
    return load_dataset(demo_root)


def test_same_seed_gives_identical_bytes(demo_root, tmp_path):
    again = generate_demo(tmp_path / "again", seed=0)
    first, second = _hashes(demo_root), _hashes(again)
    assert len(first) > 500
    assert first == second


def test_other_seed_gives_other_images(tmp_path):
    a = _hashes(generate_demo(tmp_path / "a", seed=1, config=TINY))
    b = _hashes(generate_demo(tmp_path / "b", seed=2, config=TINY))
    images = [k for k in a if k.startswith("images/")]
    assert images and all(a[k] != b[k] for k in images)


def test_lock_present_and_dataset_loads(demo):
    assert demo.is_locked
    locked = {k for k in demo.test_lock["files"] if k.startswith("images/test/")}
    assert len(locked) == len(demo.split("test")) == DemoConfig().test_images
    assert demo.problems == []
    assert demo.metadata["source"]["format"] == "demo"


def test_split_sizes_and_defects_per_image(demo):
    config = DemoConfig()
    for split in ("train", "val", "test"):
        records = demo.split(split)
        assert len(records) == config.images(split)
        assert all(1 <= len(r.annotations) <= config.max_defects_per_image for r in records)
        assert all(r.width == r.height == config.image_size for r in records)


def test_train_class_mix_is_unbalanced(demo):
    assert demo.class_names == list(CLASS_NAMES)
    counts = demo.class_counts("train")
    assert counts == DemoConfig().train_class_counts
    total = sum(counts.values())
    assert counts["particle"] / total > 0.4
    assert counts["bridge"] / total < 0.12 and counts["open"] / total < 0.12
    assert min(counts.values()) > 0
    assert max(counts.values()) >= 5 * min(counts.values())


def test_val_and_test_are_class_balanced(demo):
    assert set(demo.class_counts("val").values()) == {DemoConfig().val_per_class}
    assert set(demo.class_counts("test").values()) == {DemoConfig().test_per_class}


def test_masks_match_boxes_and_are_the_changed_pixels(demo):
    tolerance = DemoConfig().change_tolerance
    for record in demo.images:
        image = record.read().astype(np.int16)
        reference = record.read_reference().astype(np.int16)
        masks = record.read_instance_masks()
        union = np.zeros(image.shape, bool)
        for annotation, mask in zip(record.annotations, masks, strict=True):
            assert mask is not None and mask.any(), record.key
            box = mask_to_xyxy(mask)
            assert np.allclose(box, annotation.xyxy, atol=1.0), (record.key, box, annotation)
            assert not (mask & union).any(), f"{record.key}: masks overlap"
            union |= mask
            changed = np.abs(image - reference)[mask] >= tolerance
            assert changed.mean() > 0.75, record.key  # the rest: closed pin holes
        difference = np.abs(image - reference)
        # Outside the masks the defect changed nothing above the tolerance, and far from them
        # the image is exactly its clean reference.
        assert (difference[~union] < tolerance).all(), record.key
        near = cv2.dilate(union.astype(np.uint8), np.ones((21, 21), np.uint8)) > 0
        assert (difference[~near] == 0).all(), record.key


def test_box_sizes_are_learnable(demo):
    for record in demo.split("train"):
        for annotation in record.annotations:
            side_min = min(annotation.width, annotation.height)
            side_max = max(annotation.width, annotation.height)
            assert side_min >= DemoConfig().min_box_side
            assert side_max <= 140
            if CLASS_NAMES[annotation.class_id] in ("particle", "bridge", "open"):
                assert side_max <= 45, (record.key, annotation)


def test_bridges_add_metal_and_opens_remove_it(demo):
    """A bridge brightens a gap (new metal); an open darkens a trace (metal removed)."""
    seen = set()
    for record in demo.split("train"):
        image = record.read().astype(float)
        reference = record.read_reference().astype(float)
        for annotation, mask in zip(record.annotations, record.read_instance_masks(), strict=True):
            name = CLASS_NAMES[annotation.class_id]
            change = image[mask].mean() - reference[mask].mean()
            if name == "bridge":
                assert change > 12, record.key
            elif name == "open":
                assert change < -12, record.key
            seen.add(name)
    assert {"bridge", "open"} <= seen


def test_clean_pool_and_references(demo):
    assert len(demo.clean_images) == DemoConfig().clean_images
    assert all(record.reference_path is not None for record in demo.images)
    guard = TestGuard.from_dataset(demo)
    for path in demo.clean_images:
        guard.check_file(path, "background")  # raises on a test near-duplicate
    for record in demo.split("train") + demo.split("val"):
        guard.check_image(record.read_reference(), record.key, "background")


def test_plan_has_exact_counts():
    plan = plan_split(0, "train", DemoConfig())
    flat = [name for classes in plan for name in classes]
    assert {n: flat.count(n) for n in CLASS_NAMES} == DemoConfig().train_class_counts
    assert plan == plan_split(0, "train", DemoConfig())
    assert plan != plan_split(1, "train", DemoConfig())


def test_context_bridge_between_traces_and_open_on_a_trace():
    for index in range(10):
        layout = sample_layout(rng_for(0, "t", index), (256, 256))
        rows = {(t.block, t.row): [] for t in layout.traces}
        for trace in layout.traces:
            rows[(trace.block, trace.row)].append(trace.rect)
        bridge = sample_bridge(rng_for(0, "b", index), layout)
        if bridge is not None:
            xs = [x for x, _ in bridge.polygon_xy]
            ys = [y for _, y in bridge.polygon_xy]
            cx = (min(xs) + max(xs)) / 2
            # The top edge lies inside one trace, the bottom edge inside the next one.
            top = [r for r in (t.rect for t in layout.traces) if r.y0 <= min(ys) < r.y1]
            bottom = [r for r in (t.rect for t in layout.traces) if r.y0 < max(ys) <= r.y1]
            assert any(r.x0 <= cx < r.x1 for r in top) and any(r.x0 <= cx < r.x1 for r in bottom)
        opened = sample_open(rng_for(0, "o", index), layout)
        if opened is not None:
            xs = [x for x, _ in opened.polygon_xy]
            ys = [y for _, y in opened.polygon_xy]
            cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
            hosts = [
                t.rect
                for t in layout.traces
                if t.rect.x0 <= cx < t.rect.x1 and t.rect.y0 <= cy < t.rect.y1
            ]
            assert hosts and min(ys) < hosts[0].y0 and max(ys) > hosts[0].y1


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_pixel_functions_are_pure(name):
    layout = sample_layout(rng_for(3, "layout"), (256, 256))
    reflectance, under = render_die(layout)
    again, _ = render_die(layout)
    assert np.array_equal(reflectance, again)
    params = None
    for k in range(20):
        params = SAMPLERS[name](rng_for(3, name, k), layout)
        if params is not None:
            break
    assert params is not None
    before = reflectance.copy()
    painted = paint_defect(reflectance, under, params)
    assert np.array_equal(reflectance, before)  # input untouched
    assert np.array_equal(painted, paint_defect(reflectance, under, params))
    footprint = defect_footprint(reflectance.shape, params)
    changed = np.abs(painted - reflectance) > 1e-4
    assert changed.any() and (footprint[changed] > 0).all()


def test_changed_mask_and_box():
    before = np.zeros((8, 8), np.uint8)
    after = before.copy()
    after[2:4, 3:6] = 10
    after[0, 0] = 2
    mask = changed_mask(before, after, 4)
    assert mask.sum() == 6
    assert mask_to_xyxy(mask) == (3.0, 2.0, 6.0, 4.0)


def test_cli_refuses_a_non_empty_folder(demo_root):
    before = _hashes(demo_root)
    result = runner.invoke(app, ["demo", "--out", str(demo_root)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {demo_root}: output folder is not empty (pass --overwrite to replace it)\n"
    )
    assert _hashes(demo_root) == before


def test_cli_overwrite_and_default_folder(tmp_path, monkeypatch):
    calls = []

    def tiny_generate(out, *, seed=0, overwrite=False):
        calls.append((Path(out), seed, overwrite))
        return generate_demo(out, seed=seed, overwrite=overwrite, config=TINY)

    monkeypatch.setattr(factory.demo, "generate_demo", tiny_generate)
    monkeypatch.setenv("FACTORY_OUTPUTS", str(tmp_path / "outputs"))
    result = runner.invoke(app, ["demo", "--seed", "5"])
    assert result.exit_code == 0, result.output
    default = tmp_path / "outputs" / "demo"
    assert calls == [(default, 5, False)]
    assert load_dataset(default).is_locked

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "junk.txt").write_text("x")
    result = runner.invoke(app, ["demo", "--out", str(occupied), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert not (occupied / "junk.txt").exists()
    assert (occupied / "data.yaml").is_file()


def test_bad_config_is_a_clear_error(tmp_path):
    from factory.errors import FactoryError

    with pytest.raises(FactoryError, match="test has 5 images for 50 defects"):
        replace(TINY, test_per_class=10)


def test_commands_default_to_the_demo_dataset(tmp_path, monkeypatch):
    """`resolve_dataset(None)` generates the demo under outputs/ once, then reuses it."""
    from factory.paths import resolve_dataset

    calls = []

    def tiny_generate(out, *, seed=0, overwrite=False):
        calls.append(Path(out))
        return generate_demo(out, seed=seed, overwrite=overwrite, config=TINY)

    monkeypatch.setattr(factory.demo, "generate_demo", tiny_generate)
    monkeypatch.setenv("FACTORY_OUTPUTS", str(tmp_path / "outputs"))
    root = resolve_dataset(None)
    assert root == tmp_path / "outputs" / "demo"
    assert load_dataset(root).is_locked
    assert resolve_dataset(None) == root
    assert calls == [root]
