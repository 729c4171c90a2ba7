"""factory synth --method as a mix by fractions, and drawn masks for diffusion pastes
(--diffusion-mask library|procedural), on tiny generated data with a tiny random-weight
inpainter (CPU, 2 sampling steps, no download)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from factory.blend import blend_configs
from factory.cli import app
from factory.errors import FactoryError
from factory.io import read_image, read_mask, sha256_file, write_image
from factory.synth import SynthOptions, run_synth
from factory.synth import run as synth_run
from factory.synth.bank import orientation
from factory.synth.options import parse_method
from factory.synth.plan import MaskPlan, PastePlan
from factory.synth.render import pad_box, place_mask
from factory.synth.shapes import (
    align_mask,
    draw_mask,
    drawn_patch,
    library_shapes_for,
    load_library,
    resize_to_size,
)
from tests.conftest import make_tiny_dataset

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny locked dataset and a tiny inpainter trained on it for 3 steps."""
    from factory.inpainter.model import InpainterConfig
    from factory.inpainter.train import TrainOptions, train_inpainter

    root = tmp_path_factory.mktemp("mix")
    dataset = make_tiny_dataset(root / "tiny", per_split={"train": 12, "val": 3, "test": 3})
    config = InpainterConfig(
        image_size=16,
        block_out_channels=(8, 16),
        attention_levels=(False, True),
        norm_num_groups=4,
        min_crop=16,
    )
    options = TrainOptions(steps=3, batch_size=4, checkpoint_every=3, sample_steps=2, variants=2)
    train_inpainter(dataset, root / "model", config=config, options=options, grid=False)
    return dataset, root / "model"


def diffusion_opts(model: Path, **kw) -> SynthOptions:
    base = {
        "per_class": 3,
        "max_per_image": 2,
        "blend": "poisson-normal",
        "blend_config": {"model_dir": str(model), "steps": 2},
    }
    return SynthOptions(**{**base, **kw})


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def tree_bytes(root: Path) -> dict[str, str]:
    """Every published file but the two that hold the run time."""
    skip = {"summary.json", "synth_report.md"}
    return {
        str(p.relative_to(root)): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in skip
    }


# ---- parsing and validation ----------------------------------------------------------------


def test_method_mix_is_parsed_normalised_and_canonical():
    assert parse_method("poisson") == {"poisson": 1.0}
    assert parse_method("diffusion=0.5, poisson=0.5") == {"diffusion": 0.5, "poisson": 0.5}
    assert parse_method("poisson=3,alpha=1") == {"alpha": 0.25, "poisson": 0.75}
    assert SynthOptions(method="poisson=1").method == "poisson"
    third = SynthOptions(method="poisson=1,alpha=1,diffusion=1")
    assert third.method == "alpha=0.333333,diffusion=0.333333,poisson=0.333333"
    assert replace(third, seed=1).method == third.method  # the canonical text parses back
    # Order does not matter: the same mix gives the same plan options.
    assert (
        SynthOptions(method="poisson=0.7,alpha=0.3").plan_dict()
        == SynthOptions(method="alpha=0.3,poisson=0.7").plan_dict()
    )
    mixed = SynthOptions(method="poisson=0.7,alpha=0.3", blend="poisson-mixed")
    assert mixed.blend_fractions() == [("alpha", 0.3), ("poisson-mixed", 0.7)]
    # A single method keeps its old meaning.
    assert SynthOptions(method="alpha").blend == "alpha"
    assert SynthOptions(method="poisson", blend="poisson-mixed").blend_names() == ["poisson-mixed"]


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("poisson=abc", "--method: the fraction of poisson must be a number > 0, got 'abc' in "
                        "'poisson=abc'"),
        ("foo=1", "--method: unknown method 'foo' in 'foo=1'; known: poisson, poisson-normal, "
                  "poisson-mixed, alpha, diffusion"),
        ("poisson=0", "--method: the fraction of poisson must be a number > 0, got '0' in "
                      "'poisson=0'"),
        ("poisson=-1,alpha=2", "--method: the fraction of poisson must be a number > 0, got "
                               "'-1' in 'poisson=-1,alpha=2'"),
        ("poisson=inf", "--method: the fraction of poisson must be a number > 0, got 'inf' in "
                        "'poisson=inf'"),
        ("poisson,alpha", "--method: the fraction of poisson must be a number > 0, got '' in "
                          "'poisson,alpha'"),
        ("poisson=0.5,poisson=0.5", "--method: poisson is given twice in "
                                    "'poisson=0.5,poisson=0.5'"),
        ("poisson=0.5,", "--method must be a method or a mix like poisson=0.5,diffusion=0.5, "
                         "got 'poisson=0.5,'"),
        ("glue", "--method: unknown method 'glue' in 'glue'; known: poisson, poisson-normal, "
                 "poisson-mixed, alpha, diffusion"),
    ],
)  # fmt: skip
def test_bad_method_mix_is_one_clear_error(method, message):
    with pytest.raises(FactoryError) as error:
        SynthOptions(method=method)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"method": "poisson=0.5,alpha=0.5", "blend": "alpha"},
         "--blend must be auto or poisson-normal or poisson-mixed for the poisson share of "
         "--method alpha=0.5,poisson=0.5, got 'alpha'"),
        ({"method": "alpha=0.5,diffusion=0.5", "blend": "poisson-mixed"},
         "--blend poisson-mixed needs a poisson share in --method, got 'alpha=0.5,diffusion=0.5'"),
        ({"method": "poisson", "diffusion_mask": "library"},
         "--diffusion-mask library needs diffusion in --method, got 'poisson'"),
        ({"method": "diffusion", "diffusion_mask": "drawn"},
         "--diffusion-mask must be real or library or procedural, got 'drawn'"),
        ({"method": "diffusion", "mask_library": Path("masks")},
         "--mask-library needs --diffusion-mask library, got 'real'"),
        ({"method": "poisson=0.5,alpha=0.5", "blend_config": {"model_dir": "m"}},
         "blend option 'model_dir' is understood by none of the methods alpha, poisson-normal"),
    ],
)  # fmt: skip
def test_mix_option_errors(kw, message):
    with pytest.raises(FactoryError) as error:
        SynthOptions(**kw)
    assert str(error.value) == message


def test_blend_options_go_to_the_blender_that_understands_them():
    config = {"model_dir": "m", "steps": 2, "feather_px": 1.0}
    assert blend_configs(["alpha", "diffusion", "poisson-normal"], config) == {
        "alpha": {"feather_px": 1.0},
        "diffusion": {"model_dir": "m", "steps": 2},
        "poisson-normal": {},
    }
    assert blend_configs(["diffusion"], config) == {"diffusion": config}  # one: all, as before
    options = SynthOptions(method="alpha=0.5,diffusion=0.5", blend_config={"model_dir": "m"})
    assert options.blender_configs() == {"alpha": {}, "diffusion": {"model_dir": "m"}}


def test_diffusion_config_keys_match_the_blender():
    import inspect

    from factory.blend import _CONFIG_KEYS
    from factory.blend.diffusion import DiffusionBlender

    parameters = set(inspect.signature(DiffusionBlender.__init__).parameters)
    assert set(_CONFIG_KEYS["diffusion"]) == parameters - {"self", "_ignored"}


# ---- the plan and the run ------------------------------------------------------------------


def test_mix_changes_only_each_paste_blend_and_follows_the_fractions(env: Path):
    tiny = make_tiny_dataset(env / "tiny", per_split={"train": 12, "val": 3, "test": 3})
    single = SynthOptions(per_class=20, max_per_image=2, blend="poisson-normal")
    mixed = replace(single, method="alpha=0.3,poisson=0.7")
    plan_single = synth_run.prepare(tiny, single).plan
    plan_mixed = synth_run.prepare(tiny, mixed).plan
    pastes_single = [p for s in plan_single.samples for p in s.pastes]
    pastes_mixed = [p for s in plan_mixed.samples for p in s.pastes]
    assert [replace(p, blend="x") for p in pastes_single] == [
        replace(p, blend="x") for p in pastes_mixed
    ]
    blends = Counter(p.blend for p in pastes_mixed)
    assert set(blends) == {"alpha", "poisson-normal"}
    assert 0.15 <= blends["alpha"] / len(pastes_mixed) <= 0.45  # 0.3 asked, 60 draws

    out = env / "mixed"
    summary = run_synth(tiny, out, mixed)
    made = Counter(p["blend"] for r in manifest(out) for p in r["pastes"])
    assert summary.methods == {
        b: {"planned": blends[b], "made": made[b]} for b in ("alpha", "poisson-normal")
    }
    assert "## Methods" in (out / "synth_report.md").read_text()
    assert json.loads((out / "summary.json").read_text())["methods"] == summary.methods


def test_mix_with_auto_blend_pilots_poisson_only(env: Path):
    tiny = make_tiny_dataset(env / "tiny", per_split={"train": 12, "val": 3, "test": 3})
    ctx = synth_run.prepare(tiny, SynthOptions(per_class=3, method="poisson=0.5,alpha=0.5"))
    assert set(ctx.blend_pilot["scores"]) == {"poisson-normal", "poisson-mixed"}
    assert ctx.options.blend == ctx.blend_pilot["chosen"]
    no_poisson = synth_run.prepare(tiny, SynthOptions(per_class=3, method="alpha=1,diffusion=1"))
    assert no_poisson.blend_pilot is None


def test_diffusion_mix_is_identical_for_1_and_2_workers(data, env: Path):
    dataset, model = data
    options = diffusion_opts(model, method="poisson=0.5,diffusion=0.5", diffusion_mask="procedural")
    one, two = env / "one", env / "two"
    summary = run_synth(dataset, one, options)
    run_synth(dataset, two, replace(options, workers=2))
    assert tree_bytes(one) == tree_bytes(two)
    pastes = [p for r in manifest(one) for p in r["pastes"]]
    assert {p["blend"] for p in pastes} == {"diffusion", "poisson-normal"}
    assert {p["mask_source"] for p in pastes if p["blend"] == "diffusion"} == {"procedural"}
    assert {p["mask_source"] for p in pastes if p["blend"] != "diffusion"} == {"real"}
    assert set(summary.methods) == {"diffusion", "poisson-normal"}
    assert summary.mask_sources == dict(sorted(Counter(p["mask_source"] for p in pastes).items()))


def _drawn_placed(paste: dict, library, hw) -> np.ndarray:
    """The drawn mask of a manifest paste, placed on the image (rebuilt from the record)."""
    transform = paste["transform"]
    plan = PastePlan(
        patch_id=paste["patch_id"],
        class_id=paste["class_id"],
        class_name=paste["class"],
        scale=1.0,
        angle_deg=transform["angle_deg"],
        flip_h=transform["flip_h"],
        flip_v=transform["flip_v"],
        turns=transform["turns_90"],
        jitter_seed=None,
        box_margin_xy=tuple(paste["box_margin_xy"]),
        placement="random",
        blend="diffusion",
        mask=MaskPlan(
            paste["mask_source"],
            paste["mask_shape"],
            paste["mask_size_px"],
            paste["mask_seed"],
            paste["mask_align_deg"],
        ),
    )
    like = np.zeros(hw, np.uint8)
    transformed = drawn_patch(_NoPatch(), plan, library, like)
    return place_mask(transformed.defect, hw, transform["top_left_xy"])


class _NoPatch:
    info = None


@pytest.mark.parametrize("source", ["library", "procedural"])
def test_drawn_masks_hold_every_changed_pixel(data, env: Path, source: str):
    dataset, model = data
    out = env / source
    options = diffusion_opts(model, per_class=2, method="diffusion", diffusion_mask=source)
    summary = run_synth(dataset, out, options)
    library = load_library(REPO / "masks")
    records = manifest(out)
    assert records
    for record in records:
        image = read_image(out / record["image"])
        background = read_image(out / record["background"]["path"])
        instances = read_mask(out / "masks" / "train" / f"{record['id']}.png")
        hw = image.shape[:2]
        allowed = np.zeros(hw, bool)
        for k, paste in enumerate(record["pastes"]):
            assert paste["mask_source"] == source
            kind = "stroke" if paste["class"] == "scratch" else "blob"
            assert paste["mask_shape"].startswith(kind)
            assert (paste["mask_seed"] is None) == (source == "library")
            low, high = summary.geometry[paste["class"]]["size_range"]
            assert max(low, 3.0) - 0.01 <= paste["mask_size_px"] <= max(high, low, 3.0) + 0.01
            # The scratch (a 2x10 bar) is elongated: the shape is turned to its long axis.
            assert (paste["mask_align_deg"] is not None) == (paste["class"] == "scratch")
            if source == "library":
                assert paste["mask_path"] == f"sources/masks/{paste['mask_shape']}.png"
                stored = read_mask(out / paste["mask_path"]) > 0
                assert np.array_equal(stored, library.masks[paste["mask_shape"]])
            drawn = _drawn_placed(paste, library, hw)
            # The label is the changed pixels on the drawn mask, never outside it.
            changed = instances == k + 1
            assert changed.any() and not (changed & ~drawn).any()
            x0, y0, x1, y1 = paste["changed_xyxy"]
            ys, xs = np.nonzero(changed)
            assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            assert tuple(paste["xyxy"]) == pad_box(
                paste["changed_xyxy"], paste["box_margin_xy"], hw
            )
            # The inpainter writes inside the drawn mask grown by its one-pixel margin.
            allowed |= cv2.dilate(drawn.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        assert np.array_equal(image[~allowed], background[~allowed])


# ---- drawn mask pixels -----------------------------------------------------------------------


def test_drawn_masks_are_deterministic_sized_and_matched_to_classes():
    library = load_library(REPO / "masks")
    names = list(library.masks)
    assert library_shapes_for("scratch", names) == [f"stroke_{k:02d}" for k in range(4)]
    assert library_shapes_for("particle", names) == [f"blob_{k:02d}" for k in range(4)]
    assert library_shapes_for("particle", ["particle_a", "blob_00"]) == ["particle_a"]
    assert library_shapes_for("particle", ["x", "y"]) == ["x", "y"]  # no metadata: any shape
    for plan in (MaskPlan("library", "stroke_01", 12.0), MaskPlan("procedural", "blob", 9.0, 7)):
        mask = draw_mask(plan, library)
        assert np.array_equal(mask, draw_mask(plan, library))
        ys, xs = np.nonzero(mask)
        size = np.sqrt((np.ptp(ys) + 1) * (np.ptp(xs) + 1))
        assert abs(size - plan.size_px) <= 0.2 * plan.size_px
    for name in ("stroke_00", "stroke_03", "blob_00"):
        for target in (0.0, 45.0, 90.0, 160.0):
            angle, _ = orientation(align_mask(library.masks[name], target))
            assert min(abs(angle - target), 180 - abs(angle - target)) <= 6
    thin = np.zeros((3, 60), bool)
    thin[1] = True
    shrunk = resize_to_size(thin, 6.0)  # a 1-px line shrunk 3x stays a connected line
    assert shrunk.any(axis=0).all()


@pytest.mark.parametrize("kind", ["missing", "empty", "file", "blank"])
def test_bad_mask_library_is_one_error_line(data, env: Path, kind: str):
    dataset, model = data
    library = env / "lib"
    if kind == "empty":
        library.mkdir()
    elif kind == "file":
        library.write_text("x")
    elif kind == "blank":
        library.mkdir()
        write_image(library / "blank.png", np.zeros((8, 8), np.uint8))
    expected = {
        "missing": f"{library}: mask library folder not found",
        "empty": f"{library}: no mask images (expected PNGs, non-zero = defect)",
        "file": f"{library}: mask library is not a folder",
        "blank": f"{library / 'blank.png'}: mask is empty (no non-zero pixel)",
    }[kind]
    out = env / "out"
    result = runner.invoke(app, [
        "synth", str(dataset), "--out", str(out), "--method", "diffusion", "--inpainter",
        str(model), "--diffusion-mask", "library", "--mask-library", str(library),
        "--no-gallery",
    ])  # fmt: skip
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {expected}"
    assert not out.exists()


# ---- CLI -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--method", "poisson=abc"], "error: --method: the fraction of poisson must be a "
                                      "number > 0, got 'abc' in 'poisson=abc'"),
        (["--method", "foo=1"], "error: --method: unknown method 'foo' in 'foo=1'; known: "
                                "poisson, poisson-normal, poisson-mixed, alpha, diffusion"),
        (["--method", "poisson=0"], "error: --method: the fraction of poisson must be a number "
                                    "> 0, got '0' in 'poisson=0'"),
        (["--method", "poisson=0.5,alpha=0.5", "--inpainter", "m"],
         "error: --inpainter, --inpaint-model and --prompts need --method diffusion"),
        (["--diffusion-mask", "procedural"],
         "error: --diffusion-mask procedural needs diffusion in --method, got 'poisson'"),
    ],
)  # fmt: skip
def test_cli_mix_errors(env: Path, args, line):
    result = runner.invoke(app, ["synth", str(env / "none"), "--out", str(env / "o"), *args])
    assert result.exit_code == 1
    assert result.output.strip() == line


def test_cli_runs_a_mix_with_drawn_library_masks(data, env: Path):
    dataset, model = data
    out = env / "cli"
    result = runner.invoke(app, [
        "synth", str(dataset), "--out", str(out), "--per-class", "2", "--max-per-image", "2",
        "--method", "alpha=0.5,diffusion=0.5", "--inpainter", str(model),
        "--diffusion-mask", "library", "--no-gallery",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    pastes = [p for r in manifest(out) for p in r["pastes"]]
    assert {p["blend"] for p in pastes} == {"alpha", "diffusion"}
    assert {p["mask_source"] for p in pastes} == {"library", "real"}
    blends, sources = Counter(p["blend"] for p in pastes), Counter(p["mask_source"] for p in pastes)
    assert (
        f"pastes per method: alpha {blends['alpha']}, diffusion {blends['diffusion']}; "
        f"masks: library {sources['library']}, real {sources['real']}"
    ) in result.output
    options = json.loads((out / "factory.json").read_text())["synth"]["options"]
    assert options["method"] == "alpha=0.5,diffusion=0.5"
    assert options["diffusion_mask"] == "library"
