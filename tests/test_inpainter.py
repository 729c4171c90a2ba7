"""The licence-clean inpainter: tiny random-weight models built from config under a fixed seed,
trained for a few steps on the tiny dataset, on CPU, no download."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from factory.cli import app
from factory.errors import FactoryError
from factory.inpainter.data import crop_window_xyxy, load_crops
from factory.inpainter.masks import (
    BlobParams,
    StrokeParams,
    load_mask_library,
    mask_kind_for_class,
    procedural_mask,
)
from factory.inpainter.model import InpainterConfig, build_inpainter, load_inpainter
from factory.inpainter.prompts import load_prompts
from factory.inpainter.sample import inpaint
from factory.inpainter.train import TrainOptions, train_inpainter

REPO = Path(__file__).resolve().parent.parent
TINY = InpainterConfig(
    image_size=16,
    block_out_channels=(8, 16),
    attention_levels=(False, True),
    norm_num_groups=4,
    min_crop=16,
)
TINY_OPTIONS = TrainOptions(
    steps=3, batch_size=4, checkpoint_every=2, sample_steps=2, grid_per_class=1, variants=2
)
runner = CliRunner()


def _weights(model) -> dict:
    return {k: v.detach().clone() for k, v in model.unet.state_dict().items()}


def _crop_and_mask(channels: int = 0):
    rng = np.random.default_rng(1)
    crop = rng.integers(40, 200, (30, 30) if not channels else (30, 30, 3), dtype=np.uint8)
    mask = np.zeros((30, 30), bool)
    mask[10:20, 8:22] = True
    return crop, mask


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    from conftest import make_tiny_dataset

    root = tmp_path_factory.mktemp("inp")
    dataset = make_tiny_dataset(root / "tiny")
    train_inpainter(dataset, root / "model", config=TINY, options=TINY_OPTIONS)
    return dataset, root / "model"


def test_training_saves_a_model_that_reloads(trained):
    _, out = trained
    for name in ("inpainter.json", "unet/config.json", "scheduler/scheduler_config.json"):
        assert (out / name).is_file(), name
    assert (out / "samples.png").is_file()
    assert (out / "checkpoints" / "step_000002" / "step.json").is_file()
    model = load_inpainter(out)
    assert model.class_names == ["particle", "scratch", "stain"]
    assert model.config.image_size == 16 and model.config.channels == 1
    assert model.record["steps"] == 3
    assert model.record["mask_methods"] == {"instance": 9}
    crop, mask = _crop_and_mask()
    out_image = inpaint(model, crop, mask, class_id=1, seed=0, steps=2)
    assert np.array_equal(out_image[~mask], crop[~mask])


def test_resume_continues_exactly_like_an_uninterrupted_run(trained, tmp_path):
    dataset, full = trained
    stopped = tmp_path / "stopped"
    # max_minutes=0 stops after the first step, with a checkpoint.
    early = TrainOptions(**{**TINY_OPTIONS.__dict__, "max_minutes": 0.0})
    summary = train_inpainter(dataset, stopped, config=TINY, options=early, grid=False)
    assert summary.stopped_early and summary.steps_done == 1
    resumed = train_inpainter(
        dataset, stopped, config=TINY, options=TINY_OPTIONS, resume=True, grid=False
    )
    assert resumed.resumed_from == 1 and resumed.steps_done == 3
    a, b = _weights(load_inpainter(full)), _weights(load_inpainter(stopped))
    assert all(np.allclose(a[k].numpy(), b[k].numpy(), atol=1e-6) for k in a)


def test_resume_refuses_other_settings_and_empty_folders(trained, tmp_path):
    dataset, out = trained
    other = TrainOptions(**{**TINY_OPTIONS.__dict__, "batch_size": 2})
    with pytest.raises(
        FactoryError, match=re.escape("cannot resume, the run's settings differ (options)")
    ):
        train_inpainter(dataset, out, config=TINY, options=other, resume=True)
    with pytest.raises(FactoryError) as error:
        train_inpainter(dataset, tmp_path, config=TINY, options=TINY_OPTIONS, resume=True)
    assert str(error.value) == (
        f"{tmp_path}: nothing to resume (no checkpoint under {tmp_path / 'checkpoints'})"
    )


def test_crops_come_from_the_train_split_only(tiny_dataset):
    from factory.dataset.core import load_dataset

    crops = load_crops(
        load_dataset(tiny_dataset), image_size=16, channels=1, context_factor=2.0, min_crop=16,
        variants=2,
    )  # fmt: skip
    assert len(crops) == 18  # 9 train defects x 2 variants; val and test never read
    assert all(source.startswith("train/") for source in crops.sources)
    assert crops.images.shape == (18, 16, 16, 1) and crops.masks.any(axis=(1, 2)).all()


def test_mask_falls_back_to_reference_difference_then_box(tmp_path):
    from conftest import make_tiny_dataset

    from factory.dataset.core import load_dataset
    from factory.inpainter.data import defect_mask

    dataset = load_dataset(make_tiny_dataset(tmp_path / "t", with_masks=False))
    record = dataset.split("train")[0]
    image = record.read()
    annotation = record.annotations[0]
    reference = np.full_like(image, 110)
    x0, y0, x1, y1 = annotation.xyxy_int()
    reference[y0:y1, x0:x1] = image[y0:y1, x0:x1]
    reference[y0 + 2 : y0 + 5, x0 + 2 : x0 + 5] = 255
    mask, method = defect_mask(image, annotation, None, reference)
    assert method == "reference-diff" and 4 <= mask.sum() <= 9
    mask, method = defect_mask(image, annotation, None, None)
    assert method == "box" and mask.sum() == (x1 - x0) * (y1 - y0)
    crops = load_crops(dataset, image_size=16, channels=1, context_factor=2.0, min_crop=16)
    assert crops.mask_methods == {"box": 9}


def test_crop_window_is_square_and_inside_the_image():
    assert crop_window_xyxy((0, 0, 10, 10), (64, 64), context_factor=2.0, min_crop=8) == (
        0, 0, 20, 20,
    )  # fmt: skip
    x0, y0, x1, y1 = crop_window_xyxy((50, 55, 64, 64), (64, 64), context_factor=3.0, min_crop=8)
    assert (x1 - x0, y1 - y0) == (42, 42) and x1 <= 64 and y1 <= 64


@pytest.mark.parametrize("channels", [0, 3])
def test_inpainting_changes_pixels_only_inside_the_mask(channels):
    model = build_inpainter(TINY, ["a", "b"], seed=0)
    crop, mask = _crop_and_mask(channels)
    out = inpaint(model, crop, mask, class_id=0, seed=5, steps=2)
    assert out.shape == crop.shape and out.dtype == np.uint8
    assert np.array_equal(out[~mask], crop[~mask])
    changed = np.any(out != crop, axis=-1) if channels else out != crop
    assert changed[mask].mean() > 0.5
    ys, xs = np.nonzero(changed)  # the box of the changed pixels lies inside the mask's box
    assert (xs.min(), ys.min(), xs.max(), ys.max()) >= (8, 10, 8, 10)
    assert xs.max() <= 21 and ys.max() <= 19


def test_same_seed_same_image_other_seed_other_image():
    model = build_inpainter(TINY, ["a", "b"], seed=0)
    crop, mask = _crop_and_mask()
    first = inpaint(model, crop, mask, class_id=1, seed=7, steps=2)
    again = inpaint(build_inpainter(TINY, ["a", "b"], seed=0), crop, mask, class_id=1, seed=7,
                    steps=2)  # fmt: skip
    other = inpaint(model, crop, mask, class_id=1, seed=8, steps=2)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_batched_inpainting_matches_single_items():
    model = build_inpainter(TINY, ["a", "b"], seed=0)
    crop, mask = _crop_and_mask()
    big = np.pad(crop, 5, mode="reflect")
    big_mask = np.pad(mask, 5)
    batch = inpaint(model, [crop, big], [mask, big_mask], [0, 1], [1, 2], steps=2, batch_size=2)
    singles = [
        inpaint(model, crop, mask, 0, 1, steps=2),
        inpaint(model, big, big_mask, 1, 2, steps=2),
    ]
    for got, expected in zip(batch, singles, strict=True):
        assert np.abs(got.astype(int) - expected).max() <= 1


def test_inpaint_rejects_bad_input():
    model = build_inpainter(TINY, ["a", "b"], seed=0)
    crop, mask = _crop_and_mask()
    with pytest.raises(
        FactoryError, match=re.escape("class id 2 is out of range (model has 2 classes)")
    ):
        inpaint(model, crop, mask, class_id=2, seed=0, steps=2)
    with pytest.raises(FactoryError, match=re.escape("mask is (5, 5), background is (30, 30)")):
        inpaint(model, crop, mask[:5, :5], class_id=0, seed=0, steps=2)


def test_load_inpainter_errors(tmp_path):
    with pytest.raises(FactoryError) as error:
        load_inpainter(tmp_path / "none")
    assert str(error.value) == (
        f"{tmp_path / 'none'}: inpainter folder not found (train one with `factory train-inpainter`)"
    )
    with pytest.raises(FactoryError, match=re.escape("not an inpainter folder (no inpainter.json")):
        load_inpainter(tmp_path)
    (tmp_path / "inpainter.json").write_text(json.dumps({"config": {}, "class_names": ["a"]}))
    with pytest.raises(FactoryError, match="malformed inpainter manifest"):
        load_inpainter(tmp_path)
    manifest = {"config": dataclasses.asdict(TINY), "class_names": ["a"]}
    (tmp_path / "inpainter.json").write_text(json.dumps(manifest))
    with pytest.raises(FactoryError, match="cannot load inpainter weights"):
        load_inpainter(tmp_path)


def test_procedural_masks_are_deterministic_and_inside_the_canvas():
    for kind in ("stroke", "blob"):
        a = procedural_mask(kind, (40, 60), np.random.default_rng(3))
        b = procedural_mask(kind, (40, 60), np.random.default_rng(3))
        c = procedural_mask(kind, (40, 60), np.random.default_rng(4))
        assert a.shape == (40, 60) and a.any() and np.array_equal(a, b)
        assert not np.array_equal(a, c)
    thin = procedural_mask("stroke", (64, 64), np.random.default_rng(0),
                           stroke=StrokeParams(width_range=(1, 1)))  # fmt: skip
    blob = procedural_mask("blob", (64, 64), np.random.default_rng(0),
                           blob=BlobParams(radius_range=(0.3, 0.3)))  # fmt: skip
    assert thin.mean() < 0.05 < blob.mean()
    with pytest.raises(FactoryError, match="unknown mask kind 'ring'"):
        procedural_mask("ring", (8, 8), np.random.default_rng(0))
    assert mask_kind_for_class("scratch") == "stroke" and mask_kind_for_class("particle") == "blob"


def test_shipped_mask_library_loads(tmp_path):
    masks = load_mask_library(REPO / "masks")
    assert len(masks) >= 8 and all(m.any() for _, m in masks)
    with pytest.raises(FactoryError, match="no mask images"):
        load_mask_library(tmp_path)


def test_prompts_file_validation(tmp_path):
    specs = load_prompts(REPO / "prompts" / "default.yaml",
                         ["particle", "scratch", "bridge", "open", "stain"])  # fmt: skip
    assert specs["stain"].strength == 0.9 and specs["scratch"].steps == 30
    bad = tmp_path / "p.yaml"
    bad.write_text("scratch:\n  prompt: a scratch\n  guidance: 3\n")
    with pytest.raises(FactoryError) as error:
        load_prompts(bad)
    assert str(error.value) == (
        f"{bad}: entry 'scratch': unknown key 'guidance' (did you mean 'guidance_scale'?); "
        "allowed: prompt, negative_prompt, strength, guidance_scale, steps"
    )
    bad.write_text("scrach:\n  prompt: a scratch\n")
    with pytest.raises(
        FactoryError, match=re.escape("unknown class 'scrach' (did you mean 'scratch'?)")
    ):
        load_prompts(bad, ["scratch", "stain"])
    bad.write_text("scratch:\n  prompt: a scratch\n  strength: 1.5\n")
    with pytest.raises(FactoryError, match=re.escape("strength should be in (0, 1] but is 1.5")):
        load_prompts(bad)
    bad.write_text("scratch:\n  prompt: a scratch\n")
    with pytest.raises(FactoryError, match=re.escape("no prompt for class(es) stain")):
        load_prompts(bad, ["scratch", "stain"])


def test_cli_trains_and_refuses_a_non_empty_output(tiny_dataset, tmp_path, monkeypatch):
    from factory.inpainter import train

    monkeypatch.setitem(train.PRESETS, "quick", (TINY, TINY_OPTIONS))  # tiny model, fast
    out = tmp_path / "cli-model"
    args = ["train-inpainter", str(tiny_dataset), "--out", str(out), "--steps", "2",
            "--batch-size", "2", "--image-size", "16", "--sample-steps", "1", "--no-grid"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "inpainter.json").is_file() and not (out / "samples.png").exists()
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"error: {out}: output folder is not empty (pass --overwrite to replace it, "
        "or --resume to continue its training)"
    )
    result = runner.invoke(app, [*args[:4], "--preset", "huge"])
    assert result.exit_code == 1
    assert "error: unknown preset 'huge'; choose one of: quick, full" in result.output
    result = runner.invoke(app, [*args[:4], "--image-size", "15"])
    assert result.exit_code == 1
    assert "error: train-inpainter: image_size 15 must be divisible by 2 for 2 levels" in (
        result.output
    )


def test_diffusion_blender_paints_inside_the_mask_and_boxes_follow(trained):
    from factory.blend.diffusion import DiffusionBlender
    from factory.synth.boxes import changed_pixels, mask_to_xyxy

    _, model_dir = trained
    blender = DiffusionBlender(model_dir, steps=2)
    rng = np.random.default_rng(0)
    background = rng.integers(90, 130, (64, 64), dtype=np.uint8)
    core = np.zeros((12, 12), bool)
    core[3:9, 2:10] = True
    blend_mask = np.ones((12, 12), bool)
    for top_left in [(20, 30), (-4, 56)]:  # inside, and reaching past the image edge
        out = blender.blend(background, np.zeros((12, 12), np.uint8), blend_mask, top_left,
                            seed=1, class_name="scratch", core=core)  # fmt: skip
        placed = np.zeros((64, 64), bool)
        x, y = top_left
        grown = np.zeros((14, 14), bool)
        grown[3:11, 2:12] = True  # core grown by one pixel, in patch coordinates offset by 1
        for py, px in zip(*np.nonzero(grown), strict=True):
            yy, xx = y + py - 1, x + px - 1
            if 0 <= yy < 64 and 0 <= xx < 64:
                placed[yy, xx] = True
        assert np.array_equal(out[~placed], background[~placed])
        changed = changed_pixels(out, background, placed, tolerance=0)
        box = mask_to_xyxy(changed)
        assert box is not None
        px0, py0, px1, py1 = mask_to_xyxy(placed)
        assert px0 <= box[0] and py0 <= box[1] and box[2] <= px1 and box[3] <= py1
        again = blender.blend(background, np.zeros((12, 12), np.uint8), blend_mask, top_left,
                              seed=1, class_name="scratch", core=core)  # fmt: skip
        assert np.array_equal(out, again)
    # The synth option names are accepted (get_blender passes SynthOptions.blend_config).
    from factory.blend import get_blender

    alias = get_blender("diffusion", inpainter=str(model_dir), steps=2)
    assert np.array_equal(
        alias.blend(background, core, blend_mask, (20, 30), seed=1, class_name="scratch",
                    core=core),
        blender.blend(background, core, blend_mask, (20, 30), seed=1, class_name="scratch",
                      core=core),
    )  # fmt: skip
    with pytest.raises(FactoryError, match="class 'crack' is not known to this inpainter"):
        blender.blend(background, core, core, (0, 0), seed=0, class_name="crack", core=core)


def test_diffusion_blender_needs_one_generator():
    from factory.blend.diffusion import DiffusionBlender

    with pytest.raises(FactoryError, match="needs exactly one generator: --inpainter DIR"):
        DiffusionBlender()


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_other_prediction_types_train_and_sample(trained, tmp_path, prediction_type):
    dataset, _ = trained
    config = dataclasses.replace(TINY, prediction_type=prediction_type)
    options = dataclasses.replace(TINY_OPTIONS, steps=2)
    train_inpainter(dataset, tmp_path / "m", config=config, options=options, grid=False)
    model = load_inpainter(tmp_path / "m")
    assert model.config.prediction_type == prediction_type
    assert model.ddim().config.prediction_type == prediction_type
    crop, mask = _crop_and_mask()
    out = inpaint(model, crop, mask, class_id=0, seed=0, steps=2)
    assert np.array_equal(out[~mask], crop[~mask])
    with pytest.raises(ValueError, match="prediction_type must be one of"):
        dataclasses.replace(TINY, prediction_type="x0")


def test_synth_cli_with_the_diffusion_method(trained, tmp_path):
    from factory.dataset.core import load_dataset

    dataset, model_dir = trained
    out = tmp_path / "syn"
    result = runner.invoke(app, [
        "synth", str(dataset), "--out", str(out), "--per-class", "2", "--method", "diffusion",
        "--inpainter", str(model_dir), "--no-gallery",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    pastes = [p for r in records for p in r["pastes"]]
    assert pastes and all(p["blend"] == "diffusion" for p in pastes)
    assert load_dataset(out).class_counts("train")  # a canonical dataset
    result = runner.invoke(app, ["synth", str(dataset), "--out", str(tmp_path / "x"),
                                 "--inpainter", str(model_dir)])  # fmt: skip
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "error: --inpainter, --inpaint-model and --prompts need --method diffusion"
    )
