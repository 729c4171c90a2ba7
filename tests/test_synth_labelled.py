"""``--backgrounds labelled``: pastes onto the real train images, their own labels kept."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from factory.cli import app
from factory.io import read_image, sha256_file
from factory.synth import SynthOptions, run_synth

runner = CliRunner()


def opts(**kw) -> SynthOptions:
    return SynthOptions(
        **{"per_class": 8, "max_per_image": 2, "blend": "alpha", "backgrounds": "labelled", **kw}
    )


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def yolo_to_xyxy(line: str, width: int, height: int) -> tuple[int, list[float]]:
    c, cx, cy, w, h = line.split()
    cx, cy, w, h = float(cx) * width, float(cy) * height, float(w) * width, float(h) * height
    return int(c), [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def intersection(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


def test_real_labels_are_kept_and_pastes_keep_clear_of_them(tiny: Path, env: Path):
    out = env / "syn"
    summary = run_synth(tiny, out, opts(image_format="png"))
    records = manifest(out)
    assert records and summary.pastes > 0
    kept_total = 0
    for record in records:
        background = record["background"]
        assert background["kind"] == "labelled-train"
        assert background["source"].startswith("images/train/")  # never val or test
        source_image = read_image(tiny / background["source"])
        source_labels = (
            (tiny / background["source"].replace("images/", "labels/", 1))
            .with_suffix(".txt")
            .read_text()
            .splitlines()
        )
        lines = (out / "labels" / "train" / f"{record['id']}.txt").read_text().splitlines()
        kept = background["kept_labels"]
        kept_total += len(kept)
        # The background's real label lines come first, unchanged; then one line per paste.
        assert lines[: len(kept)] == source_labels
        assert len(lines) == len(kept) + len(record["pastes"])
        image = read_image(out / record["image"])
        height, width = image.shape[:2]
        changed = np.abs(image.astype(int) - source_image.astype(int)) > 0
        if changed.ndim == 3:
            changed = changed.any(axis=2)
        for label in kept:
            x0, y0, x1, y1 = (round(v) for v in label["xyxy"])
            assert not changed[y0:y1, x0:x1].any(), "a paste covered a real defect"
            for paste in record["pastes"]:
                assert intersection(paste["xyxy"], label["xyxy"]) == 0
        for line, paste in zip(lines[len(kept) :], record["pastes"], strict=True):
            class_id, xyxy = yolo_to_xyxy(line, width, height)
            assert class_id == paste["class_id"]
            assert np.allclose(xyxy, paste["xyxy"], atol=0.01)
    assert kept_total > 0
    assert f"{kept_total} copies of real labelled defects" in " ".join(summary.notes)
    # "after" counts what the output train split really holds: real, kept copies, pastes.
    in_train = Counter(
        int(line.split()[0])
        for path in (out / "labels" / "train").glob("*.txt")
        for line in path.read_text().splitlines()
    )
    names = list(summary.counts_after)
    assert {names[c]: n for c, n in in_train.items()} == {
        k: v for k, v in summary.counts_after.items() if v
    }


def test_workers_give_identical_bytes(tiny: Path, env: Path):
    digests = []
    for workers in (1, 2):
        out = env / f"syn_w{workers}"
        run_synth(tiny, out, opts(per_class=6, workers=workers))
        digests.append(
            {
                str(p.relative_to(out)): sha256_file(p)
                for p in sorted(out.rglob("*"))
                if p.is_file() and p.name not in {"summary.json", "synth_report.md"}
            }
        )
    assert digests[0] == digests[1]


def test_cli_takes_labelled_and_rejects_unknown_modes(tiny: Path, env: Path):
    ok = runner.invoke(
        app,
        [
            "synth", str(tiny), "--out", str(env / "cli"), "--per-class", "4",
            "--backgrounds", "labelled", "--blend", "alpha",
        ],
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert manifest(env / "cli")[0]["background"]["kind"] == "labelled-train"
    bad = runner.invoke(
        app, ["synth", str(tiny), "--out", str(env / "bad"), "--backgrounds", "labeled"]
    )
    assert bad.exit_code == 1
    assert "--backgrounds must be auto or inpaint or labelled, got 'labeled'" in bad.output
    assert "Traceback" not in bad.output


def test_gallery_draws_the_kept_real_labels(tiny: Path, env: Path):
    from factory.gallery import build_gallery
    from tests.test_gallery import page_data

    out = env / "syn"
    run_synth(tiny, out, opts(per_class=4))
    data = page_data(build_gallery(out))
    records = manifest(out)
    assert [s["kept"] for s in data["samples"]] == [
        [
            {"c": k["class_id"], "xyxy": [round(v, 1) for v in k["xyxy"]]}
            for k in r["background"]["kept_labels"]
        ]
        for r in records
    ]
    assert any(s["kept"] for s in data["samples"])


def test_audit_expects_a_synthetic_image_to_resemble_its_background(tiny: Path, env: Path):
    from factory.dataset.audit import audit_dataset

    out = env / "syn"
    run_synth(tiny, out, opts(per_class=4))
    derived = {frozenset((r["image"], r["background"]["source"])) for r in manifest(out)}

    def flagged(report) -> set[frozenset[str]]:
        pairs = [p["images"] for p in report.near_duplicates]
        pairs += [c["images"] for c in report.conflicting_labels]
        return {frozenset(p) for p in pairs}

    report = audit_dataset(out)
    assert not flagged(report) & derived
    assert any("as expected; not counted above" in w for w in report.warnings)
    # Without the manifest the same pairs are ordinary near duplicates.
    (out / "manifest.jsonl").rename(out / "manifest.moved")
    assert flagged(audit_dataset(out)) & derived
