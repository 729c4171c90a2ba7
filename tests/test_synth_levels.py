"""Bi-level sources (binarised scans): pastes are snapped back to the two grey levels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from factory.cli import app
from factory.dataset import Annotation, DatasetWriter
from factory.io import read_image
from factory.synth import SynthOptions, run_synth
from factory.synth.levels import bilevel_levels, learn_levels, snap_to_levels

runner = CliRunner()
CLASSES = ["copper", "pin-hole"]


def test_bilevel_levels_finds_the_two_levels_of_a_binarised_image():
    image = np.zeros((40, 40), np.uint8)
    image[:, 10:20] = 255
    image[5, 5] = 128  # a stray grey pixel (JPEG ringing) does not matter
    levels, share = bilevel_levels(image)
    assert levels == (0, 255)
    assert share == 1 - 1 / image.size  # the grey pixel is on neither level
    image[:20] = np.arange(40, dtype=np.uint8)[None, :] * 6  # half the image a gradient
    levels, share = bilevel_levels(image)
    assert levels is None and share < 0.9


def test_bilevel_levels_rejects_close_levels_empty_input_and_other_types():
    close = np.full((10, 10), 100, np.uint8)
    close[:, 5:] = 130  # two levels, but too close to be ink and paper
    assert bilevel_levels(close)[0] is None
    assert bilevel_levels(np.zeros(0, np.uint8)) == (None, 0.0)
    assert bilevel_levels(np.full((4, 4), 255, np.uint8))[0] is None  # flat
    with pytest.raises(ValueError, match="uint8"):
        bilevel_levels(np.zeros((4, 4), np.float32))


def test_snap_to_levels_changes_only_the_region_and_only_to_the_levels():
    image = np.full((6, 6, 3), 100, np.uint8)
    image[:, :, 1] = 200
    region = np.zeros((6, 6), bool)
    region[1:3, 1:4] = True
    snapped = snap_to_levels(image, region, (10, 240))
    assert np.array_equal(snapped[~region], image[~region])
    assert set(np.unique(snapped[region][:, 0])) == {10}  # 100 < 125: the low level
    assert set(np.unique(snapped[region][:, 1])) == {240}
    assert np.array_equal(image[1, 1], [100, 200, 100])  # input untouched
    with pytest.raises(ValueError, match="region"):
        snap_to_levels(image, region[:5], (0, 255))


def bilevel_dataset(out: Path, count: int = 8) -> Path:
    """A binarised 'PCB': white traces on black, copper blobs (white) and pin-holes (black)."""
    rng = np.random.default_rng(3)

    def board() -> np.ndarray:
        image = np.zeros((96, 96), np.uint8)
        for x in range(8, 96, 24):
            image[:, x : x + 10] = 255
        return image

    with DatasetWriter(out, CLASSES) as writer:
        index = 0
        for split, n in {"train": count, "val": 2, "test": 2}.items():
            for _ in range(n):
                image, class_id = board(), index % 2
                mask = np.zeros(image.shape, bool)
                if class_id == 0:  # copper: a white blob on the substrate
                    y = int(rng.integers(10, 70))
                    mask[y : y + 9, 20:29] = True
                    image[mask] = 255
                else:  # pin-hole: a black hole in a trace
                    y = int(rng.integers(10, 70))
                    mask[y : y + 5, 34:38] = True
                    image[mask] = 0
                ys, xs = np.nonzero(mask)
                box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
                writer.add_image(
                    split, f"img_{index:03d}", image, [Annotation(class_id, box)],
                    instance_masks=[mask],
                )  # fmt: skip
                index += 1
        for k in range(3):
            writer.add_clean(f"clean_{k}", board())
        writer.publish(metadata={"source": {"format": "bilevel-test"}}, lock_test=True)
    return out


def grey_share(out: Path, key: str) -> tuple[float, int]:
    """Share of grey (not 0/255) pixels inside the blend regions of every paste, and how many
    pastes carry ``key`` in the manifest."""
    grey = total = flagged = 0
    for line in (out / "manifest.jsonl").read_text().splitlines():
        record = json.loads(line)
        image = read_image(out / record["image"])
        for paste in record["pastes"]:
            x0, y0, x1, y1 = paste["xyxy"]
            crop = image[y0:y1, x0:x1]
            grey += int(((crop > 0) & (crop < 255)).sum())
            total += crop.size
            flagged += key in paste
    return grey / max(total, 1), flagged


def test_bilevel_sources_give_bilevel_pastes_and_off_keeps_the_blend(tmp_path: Path):
    source = bilevel_dataset(tmp_path / "pcb")
    assert learn_levels(sorted((source / "images" / "train").iterdir())).levels == (0, 255)
    common = dict(
        per_class=6, max_per_image=2, blend="poisson-normal", image_format="png", workers=1
    )
    snapped = run_synth(source, tmp_path / "snapped", SynthOptions(**common))
    assert snapped.tone_levels["levels"] == [0, 255]
    assert any("bi-level" in note for note in snapped.notes)
    share, flagged = grey_share(tmp_path / "snapped", "snapped_to_levels")
    assert share == 0.0 and flagged == snapped.pastes > 0
    kept = run_synth(source, tmp_path / "kept", SynthOptions(**common, snap_levels="off"))
    assert kept.tone_levels == {"mode": "off", "levels": None}
    share, flagged = grey_share(tmp_path / "kept", "snapped_to_levels")
    assert share > 0.01 and flagged == 0  # Poisson's grey, which the real images never have


def test_grey_sources_are_not_snapped(tiny_dataset: Path, tmp_path: Path):
    summary = run_synth(
        tiny_dataset, tmp_path / "syn", SynthOptions(per_class=2, image_format="png")
    )
    assert summary.tone_levels["levels"] is None
    assert summary.tone_levels["bilevel_share"] < 0.995


def test_cli_rejects_an_unknown_snap_mode(tiny_dataset: Path, tmp_path: Path):
    result = runner.invoke(
        app, ["synth", str(tiny_dataset), "--out", str(tmp_path / "o"), "--snap-levels", "on"]
    )
    assert result.exit_code == 1
    assert "--snap-levels must be auto or off, got 'on'" in result.output
