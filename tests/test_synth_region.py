"""Per-background region masks: ``--region-mask FOLDER`` and ``--region-mask-required``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from factory.cli import app
from factory.io import read_image, read_mask, sha256_file, write_image
from factory.synth import SynthOptions, run_synth
from factory.synth import run as synth_run
from factory.synth.render import defect_inside
from tests.conftest import make_tiny_dataset

runner = CliRunner()
SIZE = 64


def allowed(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[y0:y1, x0:x1] = 255
    return mask


# Three backgrounds get their own (different) region; clean_03 has none.
REGIONS = {
    "clean_00": allowed(0, 0, 30, SIZE),  # left
    "clean_01": allowed(34, 0, SIZE, SIZE),  # right
    "clean_02": allowed(0, 0, SIZE, 30),  # top
}


def mask_folder(env: Path, extra: dict[str, np.ndarray] | None = None) -> Path:
    folder = env / "regions"
    folder.mkdir(exist_ok=True)
    for stem, mask in {**REGIONS, **(extra or {})}.items():
        write_image(folder / f"{stem}.png", mask)
    return folder


def opts(**kw) -> SynthOptions:
    return SynthOptions(**{"per_class": 8, "max_per_image": 2, "blend": "alpha", **kw})


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def tree_bytes(root: Path) -> dict[str, str]:
    skip = {"summary.json", "synth_report.md"}  # they hold the run time
    return {
        str(p.relative_to(root)): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def test_defect_inside_matches_brute_force():
    rng = np.random.default_rng(3)
    region = rng.random((40, 50)) > 0.15
    region[10:30, 5:45] = True
    defect = np.zeros((9, 12), bool)
    defect[2:7, 3:10] = rng.random((5, 7)) > 0.3
    margin = 2
    grid = defect_inside(region, defect, margin)
    ys, xs = np.nonzero(defect)
    dx0, dy0 = xs.min(), ys.min()
    expected = np.zeros_like(grid)
    for r in range(grid.shape[0]):
        for c in range(grid.shape[1]):
            # Grid cell (r, c) puts the defect box's top-left at (margin + c, margin + r).
            y, x = margin + r - dy0, margin + c - dx0
            expected[r, c] = region[ys + y, xs + x].all()
    assert np.array_equal(grid, expected)
    assert expected.any() and not expected.all()


def test_folder_masks_hold_every_paste(tiny: Path, env: Path):
    folder = mask_folder(env, {"stray": allowed(0, 0, 10, 10)})
    out = env / "syn"
    summary = run_synth(tiny, out, opts(blend="auto", region_mask=folder))
    records = manifest(out)
    used = {r["background"]["id"]: r["background"]["region_mask"] for r in records}
    assert used == {
        "clean-clean_00": "sources/region_masks/clean_00.png",
        "clean-clean_01": "sources/region_masks/clean_01.png",
        "clean-clean_02": "sources/region_masks/clean_02.png",
        "clean-clean_03": None,
    }
    for record in records:
        instance = read_mask(out / "masks" / "train" / f"{record['id']}.png")
        assert instance.any()
        relative = record["background"]["region_mask"]
        if relative is not None:
            stem = Path(relative).stem
            assert sha256_file(out / relative) == sha256_file(folder / f"{stem}.png")
            # Every changed (labelled) pixel of every paste is inside this background's region.
            assert not (instance > 0)[REGIONS[stem] == 0].any(), record["id"]
            for paste in record["pastes"]:
                x0, y0, x1, y1 = paste["xyxy"]
                assert REGIONS[stem][y0:y1, x0:x1].any()
        else:
            # Used whole: only the border keeps pastes away.
            border = SynthOptions().border_margin
            ys, xs = np.nonzero(instance)
            assert xs.min() >= border and xs.max() < SIZE - border
            assert ys.min() >= border and ys.max() < SIZE - border
    # clean_03 pastes reach pixels outside clean_00's region (it really is used whole).
    whole = [r for r in records if r["background"]["region_mask"] is None]
    assert any(
        (read_mask(out / "masks" / "train" / f"{r['id']}.png") > 0)[REGIONS["clean_00"] == 0].any()
        for r in whole
    )
    assert not (out / "sources" / "region_masks" / "stray.png").exists()
    regions = summary.backgrounds["region_masks"]
    assert regions == {
        "folder": str(folder),
        "with_mask": 3,
        "whole_image": 1,
        "left_out": 0,
        "unmatched": ["stray.png"],
    }
    assert (
        f"region masks ({folder}): 3 of 4 backgrounds had one, 1 used whole (minus the 4 px border)"
        in summary.notes
    )
    assert "1 region mask file(s) match no background (ignored): stray.png" in summary.notes
    saved = json.loads((out / "summary.json").read_text())
    assert saved["backgrounds"]["region_masks"] == regions
    assert "3 of 4 backgrounds had one" in (out / "synth_report.md").read_text()


def test_required_leaves_out_backgrounds_without_a_mask(tiny: Path, env: Path):
    folder = mask_folder(env)
    out = env / "syn"
    summary = run_synth(tiny, out, opts(region_mask=folder, region_mask_required=True))
    records = manifest(out)
    assert records
    assert {r["background"]["id"] for r in records} == {
        "clean-clean_00",
        "clean-clean_01",
        "clean-clean_02",
    }
    assert all(r["background"]["region_mask"] is not None for r in records)
    assert summary.backgrounds["count"] == 3
    assert summary.backgrounds["skipped"]["without a region mask (--region-mask-required)"] == 1
    assert summary.backgrounds["region_masks"]["left_out"] == 1
    assert summary.backgrounds["region_masks"]["whole_image"] == 0
    assert summary.options["region_mask_required"] is True
    for record in records:
        stem = Path(record["background"]["region_mask"]).stem
        instance = read_mask(out / "masks" / "train" / f"{record['id']}.png")
        assert not (instance > 0)[REGIONS[stem] == 0].any()


def test_workers_give_identical_bytes_with_a_folder(tiny: Path, env: Path):
    folder = mask_folder(env)
    outs = []
    for workers in (1, 2):
        out = env / f"syn_w{workers}"
        run_synth(tiny, out, opts(per_class=6, region_mask=folder, workers=workers))
        outs.append(tree_bytes(out))
    assert outs[0] == outs[1]
    assert any(k.startswith("sources/region_masks/") for k in outs[0])


def test_mask_content_is_part_of_the_plan(tiny: Path, env: Path):
    """Another mask under the same name is another plan (so --resume never mixes them)."""
    folder = mask_folder(env)
    first = synth_run.prepare(tiny, opts(region_mask=folder)).plan_hash
    write_image(folder / "clean_00.png", allowed(0, 0, 20, SIZE))
    second = synth_run.prepare(tiny, opts(region_mask=folder)).plan_hash
    assert first != second


def test_single_image_mask_is_unchanged(tiny: Path, env: Path):
    """One image for every background: centre rule, no manifest key, no copied masks."""
    write_image(env / "left.png", allowed(0, 0, 32, SIZE))
    out = env / "syn"
    summary = run_synth(tiny, out, opts(region_mask=env / "left.png"))
    assert "region_masks" not in summary.backgrounds
    assert not (out / "sources" / "region_masks").exists()
    for record in manifest(out):
        assert set(record["background"]) == {"id", "kind", "source", "path"}
        for paste in record["pastes"]:
            x0, _, x1, _ = paste["xyxy"]
            assert (x0 + x1) / 2 < 32 + 8


def cli(tiny: Path, env: Path, *args: str):
    base = ["synth", str(tiny), "--out", str(env / "o"), "--per-class", "2", "--blend", "alpha"]
    return runner.invoke(app, [*base, *args, "--no-gallery"])


def test_cli_folder_errors(tiny: Path, env: Path):
    folder = mask_folder(env)

    def fails(message: str, *args: str) -> None:
        result = cli(tiny, env, "--region-mask", str(folder), *args)
        assert result.exit_code == 1, result.output
        assert result.output.strip() == f"error: {message}"

    write_image(folder / "clean_00.png", np.full((SIZE // 2, SIZE), 255, np.uint8))
    fails(
        f"{folder / 'clean_00.png'}: region mask is 64x32, its background clean/clean_00.png "
        "is 64x64"
    )
    (folder / "clean_00.png").write_bytes(b"not an image")
    fails(f"{folder / 'clean_00.png'}: cannot read mask (missing, corrupt or unsupported format)")
    write_image(folder / "clean_00.png", np.zeros((SIZE, SIZE), np.uint8))
    fails(
        f"{folder / 'clean_00.png'}: region mask has no allowed pixel (all zero; non-zero marks "
        "where defects may go)"
    )
    write_image(folder / "clean_00.png", REGIONS["clean_00"])
    write_image(folder / "clean_00.jpg", REGIONS["clean_00"])
    fails(f"{folder}: two region masks for 'clean_00': clean_00.jpg and clean_00.png")
    for path in folder.iterdir():
        path.unlink()
    (folder / "notes.txt").write_text("no images here")
    fails(
        f"{folder}: no region mask images in the folder (expected <background file stem>.png, "
        "any of .png .jpg .jpeg .bmp .tif .tiff .webp)"
    )
    write_image(folder / "board_7.png", REGIONS["clean_00"])
    fails(
        f"{folder}: no background has a region mask, and --region-mask-required leaves out "
        "those without one (name masks after the background's source file, e.g. clean_00.png)",
        "--region-mask-required",
    )
    # Without --region-mask-required an unmatched mask is only a note: the run succeeds.
    result = cli(tiny, env, "--region-mask", str(folder))
    assert result.exit_code == 0, result.output


def test_cli_other_errors(tiny: Path, env: Path):
    result = cli(tiny, env, "--region-mask-required")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: --region-mask-required needs --region-mask (a folder of masks)"
    )
    write_image(env / "empty.png", np.zeros((SIZE, SIZE), np.uint8))
    result = cli(tiny, env, "--region-mask", str(env / "empty.png"))
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: {env / 'empty.png'}: region mask has no allowed pixel (all zero; non-zero "
        "marks where defects may go)"
    )


def test_inpainted_backgrounds_match_train_image_stems(env: Path):
    """Inpainted backgrounds go by the stem of the train image they were made from."""
    root = make_tiny_dataset(env / "noclean", clean=0)
    folder = env / "regions"
    folder.mkdir()
    write_image(folder / "img_000.png", allowed(0, 0, 30, SIZE))
    ctx = synth_run.prepare(root, opts(region_mask=folder, region_mask_required=True))
    assert [b.background_id for b in ctx.background_pool.backgrounds] == ["inpainted-img_000"]
    assert ctx.regions.mask_path("inpainted-img_000") == folder / "img_000.png"
    assert read_image(folder / "img_000.png").shape == (SIZE, SIZE)
