"""``factory import/export/split/audit`` in-process: output, exit codes, exact error lines, and
the input tree left untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factory.cli import app
from factory.io import sha256_file
from tests.test_formats import make_deeppcb_source, make_voc_neu_layout, make_yolo_source
from tests.test_split import unbalanced

runner = CliRunner()


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()
    }


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], terminal_width=200)


def assert_one_line_error(result, expected: str):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stderr == f"error: {expected}\n"


# Each case: how to break a fresh YOLO source, the command, and the exact error line.
def _corrupt_image(src: Path) -> str:
    path = src / "images" / "train" / "train_1.png"
    path.write_bytes(b"\x89PNG\r\n garbage")
    return f"{path}: cannot read image (corrupt or unsupported format)"


def _out_of_range(src: Path) -> str:
    path = src / "labels" / "val" / "val_0.txt"
    path.write_text("0 1.5 0.5 0.2 0.2\n")
    return (
        f"{path} line 1: coordinates 1.5 0.5 0.2 0.2... reach outside the image "
        "(normalised values must lie in [0, 1])"
    )


def _unknown_class(src: Path) -> str:
    path = src / "labels" / "test" / "test_2.txt"
    path.write_text("5 0.5 0.5 0.2 0.2\n")
    return f"{path} line 1: class id 5 is out of range (the source has 2 classes, ids 0..1)"


def _missing_yaml(src: Path) -> str:
    (src / "data.yaml").unlink()
    return (
        f"{src / 'data.yaml'}: missing data.yaml (a YOLO source needs one with 'names' and "
        "'train'/'val'/'test' entries; pass the yaml itself if it has another name)"
    )


def _mismatched_names(src: Path) -> str:
    (src / "labels" / "train" / "train_0.txt").rename(src / "labels" / "train" / "tran_0.txt")
    path = src / "labels" / "train" / "tran_0.txt"
    return f"{path}: label file has no matching image (mismatched image/label names)"


def _empty(src: Path) -> str:
    for split in ("train", "val", "test"):
        for path in (src / "images" / split).iterdir():
            path.unlink()
        for path in (src / "labels" / split).iterdir():
            path.unlink()
    return f"{src}: dataset is empty (no labelled images found)"


@pytest.mark.parametrize(
    "breaker",
    [_corrupt_image, _out_of_range, _unknown_class, _missing_yaml, _mismatched_names, _empty],
)
def test_yolo_import_bad_input(tmp_path: Path, breaker):
    src = tmp_path / "src"
    make_yolo_source(src)
    expected = breaker(src)
    before = tree_digest(src)
    result = invoke("import", "yolo", src, "--out", tmp_path / "out")
    assert_one_line_error(result, expected)
    assert tree_digest(src) == before
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"]  # no staging folder left behind


def test_unknown_import_format(tmp_path: Path):
    result = invoke("import", "labelme", tmp_path, "--out", tmp_path / "out")
    assert_one_line_error(
        result,
        "unknown import format 'labelme'; known formats: coco, deeppcb, maskfolder, voc, yolo",
    )


def test_non_empty_output_needs_overwrite(tmp_path: Path):
    src = tmp_path / "src"
    make_yolo_source(src)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    result = invoke("import", "yolo", src, "--out", out)
    assert_one_line_error(
        result, f"{out}: output folder is not empty (pass --overwrite to replace it)"
    )
    assert (out / "keep.txt").read_text() == "precious"
    result = invoke("import", "yolo", src, "--out", out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert not (out / "keep.txt").exists() and (out / "data.yaml").is_file()


def test_voc_bad_boxes_and_names(tmp_path: Path):
    src = tmp_path / "neu"
    make_voc_neu_layout(src)
    xml = src / "ANNOTATIONS" / "crazing_t0.xml"
    xml.write_text(xml.read_text().replace("<xmax>30</xmax>", "<xmax>300</xmax>"))
    before = tree_digest(src)
    result = invoke("import", "voc", src, "--out", tmp_path / "out")
    assert_one_line_error(
        result, f"{xml}: box (x0=1, y0=2, x1=300, y1=64) reaches outside the 64x64 image"
    )
    xml.write_text(xml.read_text().replace("<xmax>300</xmax>", "<xmax>30</xmax>"))
    (src / "IMAGES" / "patches_t1.jpg").rename(src / "IMAGES" / "patch_t1.jpg")
    result = invoke("import", "voc", src, "--out", tmp_path / "out")
    assert_one_line_error(
        result,
        f"{src / 'ANNOTATIONS' / 'patches_t1.xml'}: no image named patches_t1.* in "
        f"{src / 'IMAGES'} (mismatched image/label names)",
    )
    assert set(tree_digest(src)) - set(before) == {"IMAGES/patch_t1.jpg"}


def test_deeppcb_unknown_type(tmp_path: Path):
    src = make_deeppcb_source(tmp_path / "pcb")
    ann = src / "PCBData" / "group12000" / "12000_not" / "12000001.txt"
    ann.write_text("1 1 8 9 9\n")
    result = invoke("import", "deeppcb", src, "--out", tmp_path / "out")
    assert_one_line_error(
        result,
        f"{ann} line 1: unknown defect type 9 (DeepPCB types are 1..6: open, short, mousebite, "
        "spur, copper, pin-hole)",
    )


def test_import_then_split_then_audit_then_export(tmp_path: Path):
    src = make_deeppcb_source(tmp_path / "pcb", n=12)
    before = tree_digest(src)
    result = invoke("import", "deeppcb", src, "--out", tmp_path / "imported")
    assert result.exit_code == 0, result.output
    assert "mousebite" in result.stdout and "unsplit (all in train)" in result.stdout
    result = invoke(
        "split", tmp_path / "imported", "--out", tmp_path / "split", "--test", "3", "--val", "0.25"
    )
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "┃ class" in line)
    assert all(word in header for word in ("train", "val", "test"))
    assert "Test split locked." in result.stdout
    result = invoke("audit", tmp_path / "split", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stdout holds only JSON
    assert data["lock"] == "locked" and data["images"]["test"] == 3
    result = invoke("export", "coco", tmp_path / "split", "--out", tmp_path / "coco")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "coco" / "annotations" / "instances_test.json").is_file()
    assert tree_digest(src) == before


def test_audit_strict_exit_codes(tmp_path: Path):
    root = unbalanced(tmp_path / "ds")
    result = invoke("audit", root, "--strict")
    assert result.exit_code == 0, result.output
    assert "no problems found" in result.stdout and "Box sizes" in result.stdout
    (root / "labels" / "train" / "im000.txt").write_text("9 0.5 0.5 0.1 0.1\n")
    before = tree_digest(root)
    result = invoke("audit", root)
    assert result.exit_code == 0  # problems are reported, not fatal, without --strict
    assert "unknown_class" in result.stdout
    result = invoke("audit", root, "--strict", "--json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert [p["path"] for p in problems] == ["labels/train/im000.txt"]
    assert tree_digest(root) == before


def test_dataset_commands_on_missing_data_yaml_and_empty(tmp_path: Path):
    folder = tmp_path / "notadataset"
    folder.mkdir()
    for command in ("audit", "split"):
        result = invoke(command, folder, *(["--out", tmp_path / "o"] if command == "split" else []))
        assert_one_line_error(
            result,
            f"{folder / 'data.yaml'}: missing data.yaml (is {folder} a factory dataset? "
            "convert a source with `factory import`)",
        )
    (folder / "data.yaml").write_text("names: [a]\n")
    result = invoke("audit", folder)
    assert_one_line_error(
        result, f"{folder}: dataset is empty (no images under images/train, val or test)"
    )


def test_split_refuses_non_empty_output(tmp_path: Path):
    root = unbalanced(tmp_path / "ds")
    out = tmp_path / "taken"
    out.mkdir()
    (out / "x").write_text("x")
    result = invoke("split", root, "--out", out)
    assert_one_line_error(
        result, f"{out}: output folder is not empty (pass --overwrite to replace it)"
    )


def test_unknown_export_format(tmp_path: Path):
    root = unbalanced(tmp_path / "ds")
    result = invoke("export", "voc", root, "--out", tmp_path / "x")
    assert_one_line_error(result, "unknown export format 'voc'; known formats: coco")
