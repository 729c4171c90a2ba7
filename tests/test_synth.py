"""factory synth end to end on tiny generated data: contract, guard, caps, determinism."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from factory.cli import app
from factory.dataset import load_dataset
from factory.dataset.hashing import NEAR_DUPLICATE_BITS, hamming, phash
from factory.io import read_image, read_mask, sha256_file, write_image
from factory.synth import SynthOptions, merge_shards, run_synth
from factory.synth import run as synth_run
from tests.conftest import make_tiny_dataset

OUTPUT_PARTS = ("images", "labels", "masks", "manifest.jsonl", "sources", "data.yaml")


def opts(**kw) -> SynthOptions:
    return SynthOptions(**{"per_class": 4, "max_per_image": 2, **kw})


def tree_bytes(root: Path) -> dict[str, str]:
    files = {}
    for part in OUTPUT_PARTS:
        path = root / part
        paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for p in paths:
            files[str(p.relative_to(root))] = sha256_file(p)
    return files


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_output_contract(tiny: Path, env: Path):
    out = env / "syn"
    summary = run_synth(tiny, out, opts())
    dataset = load_dataset(out)  # loads, and verifies the test lock
    source = load_dataset(tiny)
    assert dataset.test_lock == source.test_lock
    for split in ("val", "test"):
        for kind in ("images", "labels", "masks"):
            for path in sorted((tiny / kind / split).glob("*")):
                assert sha256_file(out / kind / split / path.name) == sha256_file(path)
    real = {p.name for p in (tiny / "images" / "train").iterdir()}
    train = {p.name for p in (out / "images" / "train").iterdir()}
    synthetic = sorted(train - real)
    assert real <= train and synthetic and all(n.startswith("syn_") for n in synthetic)
    records = manifest(out)
    assert [r["id"] + ".png" for r in records] == synthetic
    counts = Counter()
    for record in records:
        assert set(record) >= {"id", "image", "seed", "background", "pastes"}
        assert set(record["background"]) == {"id", "kind", "source", "path"}
        assert (out / record["background"]["path"]).is_file()
        stem = record["id"]
        labels = (out / "labels" / "train" / f"{stem}.txt").read_text().splitlines()
        assert len(labels) == len(record["pastes"])
        instance = read_mask(out / "masks" / "train" / f"{stem}.png")
        image = read_image(out / record["image"])
        for k, (paste, line) in enumerate(zip(record["pastes"], labels, strict=True)):
            for key in (
                "class",
                "class_id",
                "patch_id",
                "source_image",
                "source_xyxy",
                "patch_path",
                "patch_mask_path",
                "mask_method",
                "transform",
                "blend",
                "placement",
                "xyxy",
            ):
                assert key in paste
            assert paste["placement"] in ("context", "random")
            assert (out / paste["patch_path"]).is_file()
            x0, y0, x1, y1 = paste["xyxy"]
            h, w = image.shape[:2]
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
            ys, xs = np.nonzero(instance == k + 1)
            # The label box is the box of the instance mask (the pixels that changed).
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)
            cid, cx = line.split()[:2]
            assert int(cid) == paste["class_id"]
            assert abs(float(cx) * w - (x0 + x1) / 2) < 0.01
            counts[paste["class"]] += 1
    assert counts == Counter(summary.counts_synthetic)
    assert all(v == 4 for v in summary.counts_synthetic.values())
    summary_json = json.loads((out / "summary.json").read_text())
    assert summary_json["counts_before"] == source.class_counts("train")
    assert "acceptance_rate" in summary_json and (out / "synth_report.md").is_file()
    # --blend auto (the default) records its pilot and uses the best-scoring blend.
    pilot = summary_json["blend_pilot"]
    assert pilot["chosen"] == max(pilot["scores"], key=pilot["scores"].get)
    assert {p["blend"] for r in records for p in r["pastes"]} == {pilot["chosen"]}
    assert not list(env.glob(".syn*"))  # no staging left behind


def test_nothing_from_test_images_reaches_the_output(env: Path):
    root = make_tiny_dataset(env / "leaky", per_split={"train": 9, "val": 3, "test": 3})
    # Plant a test image, and a slightly changed copy of one, in the clean pool.
    tests = sorted((root / "images" / "test").iterdir())
    write_image(root / "clean" / "zz_copy.png", read_image(tests[0]))
    noisy = np.clip(read_image(tests[1]).astype(int) + 3, 0, 255).astype(np.uint8)
    write_image(root / "clean" / "zz_noisy.png", noisy)
    out = env / "syn"
    summary = run_synth(root, out, opts(per_class=6))
    assert summary.backgrounds["skipped"] == {"clean image is a test image or near duplicate": 2}
    test_images = [read_image(p) for p in tests]
    test_digests = {sha256_file(p) for p in tests}
    test_stems = {p.stem for p in tests}
    sources = [out / p for p in ("sources/backgrounds", "sources/patches")]
    for folder in sources:
        for path in folder.iterdir():
            if path.name.endswith("_mask.png"):
                continue
            assert sha256_file(path) not in test_digests
            if folder.name == "backgrounds":
                bits = min(hamming(phash(read_image(path)), phash(t)) for t in test_images)
                assert bits > NEAR_DUPLICATE_BITS, path
    for record in manifest(out):
        assert not record["background"]["source"].startswith("images/test")
        for paste in record["pastes"]:
            assert paste["source_image"].startswith("images/train/")
            assert Path(paste["source_image"]).stem not in test_stems


def test_caps_are_honoured(tiny: Path, env: Path):
    out = env / "capped"
    summary = run_synth(
        tiny, out, opts(per_class=10, max_per_image=3, max_patch_reuse=2, max_synthetic_ratio=1.0)
    )
    records = manifest(out)
    assert all(len(r["pastes"]) <= 3 for r in records)
    uses = Counter(p["patch_id"] for r in records for p in r["pastes"])
    assert max(uses.values()) <= 2
    assert len(records) <= 12  # ratio 1.0 x 12 real train images
    # 4 train instances per class x 2 uses = 8 < 10: every class falls short, with the reason.
    for name, item in summary.shortfalls.items():
        assert item["made"] <= 8
        assert any("--max-patch-reuse 2" in reason for reason in item["reasons"]), name
    tight = run_synth(
        tiny, env / "tight", opts(per_class=10, max_per_image=1, max_synthetic_ratio=0.5)
    )
    assert tight.images <= 6
    assert sum(tight.counts_synthetic.values()) <= 6
    assert all(
        any("--max-synthetic-ratio 0.5" in r for r in item["reasons"])
        for item in tight.shortfalls.values()
    )


def test_workers_give_identical_bytes(tiny: Path, env: Path):
    one = env / "one"
    two = env / "two"
    run_synth(tiny, one, opts(per_class=6, workers=1))
    run_synth(tiny, two, opts(per_class=6, workers=2))
    assert tree_bytes(one) == tree_bytes(two)
    other = env / "other"
    run_synth(tiny, other, opts(per_class=6, seed=1))
    assert tree_bytes(other) != tree_bytes(one)


def test_resume_equals_uninterrupted(tiny: Path, env: Path, monkeypatch):
    reference = env / "reference"
    run_synth(tiny, reference, opts(per_class=6))
    out = env / "resumed"
    calls = []
    real_render = synth_run.render_one

    def flaky(index):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(index)
        return real_render(index)

    monkeypatch.setattr(synth_run, "render_one", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_synth(tiny, out, opts(per_class=6))
    assert not out.exists()
    monkeypatch.setattr(synth_run, "render_one", real_render)
    rendered = []
    monkeypatch.setattr(synth_run, "render_one", lambda i: rendered.append(i) or real_render(i))
    summary = run_synth(tiny, out, opts(per_class=6, resume=True))
    assert summary.reused == 3 and not set(rendered) & set(calls)
    assert tree_bytes(out) == tree_bytes(reference)


def test_resume_with_other_options_names_them(tiny: Path, env: Path, monkeypatch):
    from factory.errors import FactoryError

    out = env / "resumed"
    real_render = synth_run.render_one

    def interrupted(index):
        if index == 2:
            raise KeyboardInterrupt
        return real_render(index)

    monkeypatch.setattr(synth_run, "render_one", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_synth(tiny, out, opts(per_class=6, box_margin_scaling="scaled"))
    monkeypatch.setattr(synth_run, "render_one", real_render)
    with pytest.raises(FactoryError) as caught:
        run_synth(tiny, out, opts(per_class=6, resume=True))
    assert "(--box-margin-scaling (then 'scaled', now 'fixed'))" in str(caught.value)
    run_synth(tiny, out, opts(per_class=6, box_margin_scaling="scaled", resume=True))


def test_shards_merge_to_the_same_set(tiny: Path, env: Path):
    reference = env / "reference"
    run_synth(tiny, reference, opts(per_class=6))
    shards = []
    for i in (1, 2):
        shard = env / f"shard{i}"
        run_synth(tiny, shard, opts(per_class=6, shard=(i, 2)))
        shards.append(shard)
    merged = env / "merged"
    merge_shards(tiny, shards, merged, opts(per_class=6))
    assert tree_bytes(merged) == tree_bytes(reference)
    with pytest.raises(Exception, match="samples are missing from the shards"):
        merge_shards(tiny, shards[:1], env / "half", opts(per_class=6))


def test_inpainted_backgrounds_when_no_clean_images(env: Path):
    root = make_tiny_dataset(env / "noclean", clean=0, with_masks=False)
    out = env / "syn"
    summary = run_synth(root, out, opts(per_class=3))
    assert summary.backgrounds["inpainted"] is True
    # Tiny images look alike: the guard refuses any train image that is a near duplicate of
    # a test image; every other train image becomes an inpainted background.
    refused = sum(summary.backgrounds["skipped"].values())
    assert summary.backgrounds["kinds"] == {"inpainted": 9 - refused}
    assert any("inpainting" in note for note in summary.notes)
    assert {r["background"]["kind"] for r in manifest(out)} == {"inpainted"}
    assert "inpaint" in (out / "synth_report.md").read_text()
    methods = summary.bank["mask_methods"]
    assert all("instance-mask" not in m for m in methods.values())


def test_synthetic_only_and_alpha(tiny: Path, env: Path):
    out = env / "alpha"
    run_synth(tiny, out, opts(blend="alpha", synthetic_only=True, placement="random"))
    names = {p.name for p in (out / "images" / "train").iterdir()}
    assert names and all(n.startswith("syn_") for n in names)
    assert {p["blend"] for r in manifest(out) for p in r["pastes"]} == {"alpha"}


def test_min_quality_drops_samples_and_reports(tiny: Path, env: Path):
    everything = run_synth(tiny, env / "all", opts(per_class=6))
    strict = run_synth(tiny, env / "strict", opts(per_class=6, min_quality=1.0))
    assert everything.quality["scored"] == everything.images
    assert strict.quality["dropped"] > 0
    assert strict.images == everything.images - strict.quality["dropped"]
    assert len(manifest(env / "strict")) == strict.images
    for name, item in strict.shortfalls.items():
        assert any("below threshold" in reason for reason in item["reasons"]), name
        assert strict.acceptance_by_class[name] < 1.0


def test_label_margin_is_learned_and_applied(env: Path):
    from factory.synth.bank import label_margin_xy
    from factory.synth.render import pad_box

    mask = np.zeros((20, 20), bool)
    mask[5:10, 6:9] = True
    assert label_margin_xy(mask, (3, 2, 12, 13)) == (3.0, 3.0)
    assert pad_box((1, 5, 10, 18), (2.0, 3.0), (20, 20)) == (0, 2, 12, 20)
    root = make_tiny_dataset(env / "tiny")
    out = env / "padded"
    run_synth(root, out, opts(per_class=3, box_margin=2))
    for record in manifest(out):
        for paste in record["pastes"]:
            h, w = read_image(out / record["image"]).shape[:2]
            # Annotators pad a defect by the same pixels whatever its size: so does a paste.
            assert paste["box_margin_xy"] == [2.0, 2.0]
            assert tuple(paste["xyxy"]) == pad_box(
                paste["changed_xyxy"], paste["box_margin_xy"], (h, w)
            )

    legacy = env / "padded-scaled"
    run_synth(root, legacy, opts(per_class=3, box_margin=2, box_margin_scaling="scaled"))
    for record in manifest(legacy):
        for paste in record["pastes"]:
            scale = paste["transform"]["scale"]
            assert paste["box_margin_xy"] == [round(2 * scale, 2)] * 2
    # Only the labels change: the same pastes at the same places.
    assert [[p["changed_xyxy"] for p in r["pastes"]] for r in manifest(legacy)] == [
        [p["changed_xyxy"] for p in r["pastes"]] for r in manifest(out)
    ]


def test_label_margin_does_not_grow_with_the_paste_scale():
    from factory.synth.bank import PatchInfo
    from factory.synth.plan import ClassGeometry, _plan_paste, label_margin_for

    assert label_margin_for((10.0, 9.5), 1.37, "fixed") == (10.0, 9.5)
    assert label_margin_for((10.0, 9.5), 1.37, "scaled") == (13.7, 13.02)
    # A 10 px defect in a class whose real boxes run from 5 to 40 px: scales 0.5 to 2.
    info = PatchInfo(
        "p0", 0, "dot", "images/train/a.png", (0, 0, 10, 10), (0, 0, 20, 20), "given",
        None, (10, 10), 40, None, 1.0, label_margin_xy=(10.0, 10.0),
    )  # fmt: skip
    geometry = ClassGeometry("dot", (5.0, 40.0), (0.0, 0.0), False, False, "", (10.0, 9.5))
    for scaling in ("fixed", "scaled"):
        options = SynthOptions(box_margin_scaling=scaling)
        plans = [_plan_paste(info, geometry, options, seed) for seed in range(20)]
        assert len({plan.scale for plan in plans}) == 20
        for plan in plans:
            expected = (1.0 if scaling == "fixed" else plan.scale) * np.array([10.0, 9.5])
            assert plan.box_margin_xy == pytest.approx(tuple(expected), abs=0.006)


runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--per-class", "0"], "error: --per-class must be at least 1, got 0"),
        (["--shard", "3/2"], "error: --shard must be i/n with 1 <= i <= n, got '3/2'"),
        (["--shard", "x"], "error: --shard must look like 2/8 (this is shard 2 of 8), got 'x'"),
        (["--placement", "near"], "error: --placement must be context or random, got 'near'"),
        (["--image-format", "tif"], "error: --image-format must be auto or png or jpg, got 'tif'"),
        (["--jpeg-quality", "0"], "error: --jpeg-quality must be in 1..100, got 0"),
        (
            ["--box-margin-scaling", "grow"],
            "error: --box-margin-scaling must be fixed or scaled, got 'grow'",
        ),
        (
            ["--blend", "glue"],
            "error: --blend must be auto or one of poisson-normal, poisson-mixed, alpha",
        ),
    ],
)
def test_cli_option_errors(tiny: Path, env: Path, args, message):
    result = runner.invoke(app, ["synth", str(tiny), "--out", str(env / "o"), *args])
    assert result.exit_code == 1
    assert result.output.strip().startswith(message)


def test_cli_refuses_non_empty_output_and_unlocked_data(tiny: Path, env: Path):
    out = env / "full"
    out.mkdir()
    (out / "x").write_text("x")
    result = runner.invoke(app, ["synth", str(tiny), "--out", str(out)])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: {out}: output folder is not empty (pass --overwrite to replace it)"
    )
    unlocked = make_tiny_dataset(env / "unlocked", lock=False)
    result = runner.invoke(app, ["synth", str(unlocked), "--out", str(env / "u")])
    assert result.exit_code == 1
    assert "dataset has no test lock; run `factory split` first" in result.output


def test_cli_runs(tiny: Path, env: Path):
    result = runner.invoke(
        app, ["synth", str(tiny), "--out", str(env / "cli"), "--per-class", "2", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "synthetic set:" in result.output
    assert (env / "cli" / "gallery" / "index.html").is_file()
    load_dataset(env / "cli")  # the gallery folder does not disturb the dataset


def test_colour_dataset_region_mask_and_geometry_options(env: Path):
    """Colour images end to end; pastes stay in the region mask; --no-flip/--no-turn hold."""
    grey_root = make_tiny_dataset(env / "grey")
    root = env / "colour"
    from factory.dataset import DatasetWriter

    source = load_dataset(grey_root)
    with DatasetWriter(root, source.class_names) as writer:
        for record in source.images:
            image = read_image(record.image_path)
            colour = np.stack([image, np.clip(image.astype(int) + 30, 0, 255), image], axis=2)
            writer.add_image(
                record.split,
                record.stem,
                colour.astype(np.uint8),
                record.annotations,
                instance_masks=record.read_instance_masks(),
            )
        for k, path in enumerate(source.clean_images):
            image = read_image(path)
            writer.add_clean(f"clean_{k}", np.stack([image, image // 2, image], axis=2))
        writer.publish(lock_test=True)
    region = np.zeros((64, 64), np.uint8)
    region[:, :32] = 255
    write_image(env / "region.png", region)
    out = env / "syn"
    run_synth(
        root,
        out,
        opts(per_class=4, region_mask=env / "region.png", no_flip=["all"], no_turn=["scratch"]),
    )
    for record in manifest(out):
        assert read_image(out / record["image"]).shape == (64, 64, 3)
        for paste in record["pastes"]:
            x0, _, x1, _ = paste["xyxy"]
            assert (x0 + x1) / 2 < 32 + 8  # defect centre inside the left half (+ jitter)
            assert not paste["transform"]["flip_h"] and not paste["transform"]["flip_v"]
            if paste["class"] == "scratch":
                assert paste["transform"]["turns_90"] == 0


DEEPPCB = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "deeppcb-trainval"


@pytest.mark.slow
@pytest.mark.skipif(not DEEPPCB.is_dir(), reason="DeepPCB not available")
def test_deeppcb_subset_templates_and_difference_masks(env: Path):
    """Real data: templates of train images are the backgrounds, masks come from |test - temp|."""
    raw, split = env / "pcb_raw", env / "pcb"
    for args in (
        ["import", "deeppcb", str(DEEPPCB), "--out", str(raw), "--limit", "30"],
        ["split", str(raw), "--out", str(split)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    summary = run_synth(split, env / "syn", opts(per_class=3, max_per_image=3))
    assert summary.backgrounds["kinds"].keys() == {"reference"}
    skipped = summary.backgrounds["skipped"]
    assert skipped.get("references of test images (not train)", 0) > 0
    methods = Counter()
    for per_class in summary.bank["mask_methods"].values():
        methods.update(per_class)
    assert methods["reference-diff"] >= 0.9 * sum(methods.values())
    # Binarised boards: pastes are snapped back to black and white (factory.synth.levels).
    assert summary.tone_levels["levels"] == [0, 255]
    # Every DeepPCB class is defined by its layout (an open cuts a trace, a short joins two):
    # each paste checked shows its class's signature; the others were placed again or left out.
    signatures = {n: row["signature"] for n, row in summary.layout_signatures.items()}
    assert signatures["short"] == "dark-joins" and signatures["spur"] == "dark-attached"
    report = (env / "syn" / "synth_report.md").read_text()
    assert "## Layout signatures" in report and "| short | dark-joins |" in report
    train_refs = {f"references/train/{p.name}" for p in (split / "references" / "train").iterdir()}
    checked = 0
    for record in manifest(env / "syn"):
        assert record["background"]["source"] in train_refs
        for paste in record["pastes"]:
            if "layout_signature" in paste:
                checked += 1
                assert paste["layout_signature"] == signatures[paste["class"]]
    assert checked >= 0.5 * sum(summary.counts_synthetic.values())
    assert sum(summary.counts_synthetic.values()) >= 0.6 * 3 * len(summary.counts_synthetic)
    for name, made in summary.counts_synthetic.items():
        if made < 3:  # a class that fell short says why
            assert summary.shortfalls[name]["reasons"], name


def jpeg_copy(source: Path, out: Path, quality: int) -> Path:
    """The same dataset with every image stored as a JPEG of the given quality."""
    import cv2

    from factory.dataset import DatasetWriter

    dataset = load_dataset(source)
    folder = out.parent / f"{out.name}-jpeg-files"
    folder.mkdir(parents=True)

    def jpeg(name: str, image: np.ndarray) -> Path:
        path = folder / f"{name}.jpg"
        path.write_bytes(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1])
        return path

    with DatasetWriter(out, dataset.class_names) as writer:
        for record in dataset.images:
            writer.add_image(
                record.split,
                record.stem,
                jpeg(f"{record.split}_{record.stem}", record.read()),
                record.annotations,
                instance_masks=record.read_instance_masks(),
            )
        for path in dataset.clean_images:
            writer.add_clean(path.stem, jpeg(f"clean_{path.stem}", read_image(path)))
        writer.publish(metadata={"source": {"format": "tiny-jpeg"}}, lock_test=True)
    return out


def test_jpeg_sources_give_jpeg_synthetic_images(env: Path):
    from PIL import Image

    from factory.gallery.synthdir import load_synth_dir
    from factory.synth.encoding import ijg_table, quality_from_table

    assert [quality_from_table(ijg_table(q)) for q in (40, 75, 95)] == [40, 75, 95]
    tiny = make_tiny_dataset(env / "tiny", per_split={"train": 9, "val": 3, "test": 3})
    root = jpeg_copy(tiny, env / "tiny-jpeg", quality=80)
    one, two = env / "one", env / "two"
    summary = run_synth(root, one, opts(per_class=3, blend="alpha"))
    run_synth(root, two, opts(per_class=3, blend="alpha"))
    # JPEG encoding is byte-deterministic (workers 1 vs 2: test_workers_give_identical_bytes).
    assert tree_bytes(one) == tree_bytes(two)
    assert summary.options["image_format"] == "jpg" and summary.options["jpeg_quality"] == 80
    records = manifest(one)
    assert records and all(r["image"] == f"images/train/{r['id']}.jpg" for r in records)
    for record in records:
        path = one / record["image"]
        with Image.open(path) as image:
            assert image.format == "JPEG" and quality_from_table(image.quantization[0]) == 80
        assert (one / "masks" / "train" / f"{record['id']}.png").is_file()  # masks stay PNG
        assert (one / "labels" / "train" / f"{record['id']}.txt").is_file()
    synthetic = [r for r in load_dataset(one).split("train") if r.stem.startswith("syn_")]
    assert len(synthetic) == len(records) and all(r.mask_path for r in synthetic)
    assert len(load_synth_dir(one).records) == len(records)
    # An explicit format wins over the sources'; PNG sources stay PNG under auto.
    png = env / "png"
    run_synth(root, png, opts(per_class=3, blend="alpha", image_format="png"))
    assert all(r["image"].endswith(".png") for r in manifest(png))
    fixed = env / "fixed"
    run_synth(tiny, fixed, opts(per_class=3, blend="alpha", image_format="jpg", jpeg_quality=90))
    with Image.open(fixed / manifest(fixed)[0]["image"]) as image:
        assert quality_from_table(image.quantization[0]) == 90


def short_between_traces(vertical: bool = True):
    """A 40x40 clean context (two dark traces 10 px apart on white) and a short across the
    gap: ``(context, image, defect)``."""
    context = np.full((40, 40), 255, np.uint8)
    context[:, 8:13] = context[:, 23:28] = 0
    defect = np.zeros((40, 40), bool)
    defect[18:22, 13:23] = True
    image = context.copy()
    image[defect] = 0
    if not vertical:
        return context.T.copy(), image.T.copy(), defect.T.copy()
    return context, image, defect


def test_footprint_counts_what_a_short_touches():
    from factory.synth.render import footprint_key, footprint_scores

    context, _, defect = short_between_traces()
    key = footprint_key(defect)
    both = np.full((40, 40), 255, np.uint8)
    both[:, 8:13] = both[:, 23:28] = 0
    one = np.full((40, 40), 255, np.uint8)
    one[:, 8:13] = 0
    score = {
        name: float(footprint_scores(bg < 128, context < 128, key)[40, 40])
        for name, bg in (("both", both), ("one", one))
    }
    # Class-balanced: touching one of the two traces is a poor fit, not a 0.95 one.
    assert score["both"] == pytest.approx(1.0) and score["one"] < 0.8


@pytest.mark.parametrize("alternatives", [((False, False, 1),), ()])
def test_context_placement_turns_a_short_to_bridge_two_traces(alternatives):
    """A short cut between two vertical traces, on a board with only horizontal trace pairs
    and a wide pad: render turns it (an orientation its class allows) and it joins two
    traces; without that freedom no location can."""
    from factory.blend import get_blender
    from factory.synth.bank import Patch
    from factory.synth.plan import PastePlan, SamplePlan
    from factory.synth.render import RenderConfig, render_sample
    from factory.synth.topology import topology_change

    context, image, defect = short_between_traces(vertical=True)
    background = np.full((160, 200), 255, np.uint8)
    background[10:40, :] = 0  # a wide pad: one trace only
    background[100:105, :] = background[115:120, :] = 0  # horizontal traces 10 px apart
    paste = PastePlan(
        patch_id="p",
        class_id=1,
        class_name="short",
        scale=1.0,
        angle_deg=0.0,
        flip_h=False,
        flip_v=False,
        turns=0,
        jitter_seed=None,
        box_margin_xy=(0.0, 0.0),
        placement="context",
        blend="alpha",
        alternatives=alternatives,
    )
    joins = []
    for seed in range(4):
        plan = SamplePlan(0, "syn_000000", seed, "bg", (paste,))
        rendered = render_sample(
            plan,
            background,
            {"p": Patch(None, image, defect, context)},
            {"alpha": get_blender("alpha")},
            RenderConfig(),
        )
        assert rendered.masks, rendered.failures
        change = topology_change(background, rendered.image, rendered.masks[0])
        joins.append(change["joins"])
        if alternatives:
            assert rendered.pastes[0]["orientation"] == [False, False, 1]
            assert rendered.pastes[0]["footprint_score"] > 0.97
    assert all(joins) if alternatives else not any(joins)


def test_bank_published_meanwhile_by_another_run_is_kept(tmp_path, monkeypatch):
    """Two synth runs on the same train files build the same cached bank at once: the one that
    publishes second must keep the first one's bank (which that run is reading), not delete it."""
    from factory.synth import bank as bank_module

    dataset = load_dataset(make_tiny_dataset(tmp_path / "real"))
    cache = tmp_path / "cache"
    first = bank_module.build_bank(dataset, cache)
    published = cache / "bank" / first.key
    marker = published / "still-here"
    marker.write_text("the first run's bank")
    real_is_file = Path.is_file
    calls = {"n": 0}

    def index_missing_on_first_look(path):  # simulate: not published yet when we looked
        if path.name == "index.json" and path.parent == published and calls["n"] == 0:
            calls["n"] += 1
            return False
        return real_is_file(path)

    monkeypatch.setattr(Path, "is_file", index_missing_on_first_look)
    second = bank_module.build_bank(dataset, cache)
    assert calls["n"] == 1 and marker.is_file()  # the published bank was not replaced
    assert second.by_id().keys() == first.by_id().keys()
    assert not list((cache / "bank").glob(".bank-*"))  # our staging copy was cleaned up
