"""Importers (yolo, voc, coco, deeppcb, maskfolder), the COCO exporter and their round trips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from factory.dataset import load_dataset
from factory.dataset.formats import IMPORTERS, export_coco, import_dataset
from factory.dataset.formats.coco import rle_counts_from_string, rle_decode, rle_encode
from factory.errors import FactoryError
from factory.io import write_image
from tests.conftest import paint_defect, tiny_background

DEEPPCB = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "deeppcb-trainval"
NEU = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "neu-det"
if not DEEPPCB.is_dir():
    DEEPPCB = Path("/work/shared/datasets/deeppcb-trainval")
    NEU = Path("/work/shared/datasets/neu-det")


def boxes_of(dataset, split=None):
    records = dataset.images if split is None else dataset.split(split)
    return {
        r.stem: sorted((a.class_id, *(round(v, 3) for v in a.xyxy)) for a in r.annotations)
        for r in records
    }


def assert_boxes_close(a: dict, b: dict, tol: float = 1.0):
    assert a.keys() == b.keys()
    for stem in a:
        assert len(a[stem]) == len(b[stem]), stem
        for box_a, box_b in zip(a[stem], b[stem], strict=True):
            assert box_a[0] == box_b[0]
            assert max(abs(p - q) for p, q in zip(box_a[1:], box_b[1:], strict=True)) <= tol


def make_yolo_source(root: Path, *, segments: bool = False, splits=("train", "val", "test")):
    """A YOLO folder with two classes; returns {split/stem: [(class, xyxy), ...]}."""
    rng = np.random.default_rng(1)
    expected = {}
    for s, split in enumerate(splits):
        for k in range(3):
            stem = f"{split}_{k}"
            image = tiny_background(rng)
            lines = []
            boxes = []
            for j, class_id in enumerate((k % 2, 1 - k % 2)):
                x, y = 6 + 28 * j, 10 + 5 * k + s
                box, _ = paint_defect(image, 2, x, y, 12)  # squares: exact polygons
                x0, y0, x1, y1 = box
                if segments:
                    poly = [x0, y0, x1, y0, x1, y1, x0, y1]
                    lines.append(f"{class_id} " + " ".join(f"{v / 64:.6f}" for v in poly))
                else:
                    cx, cy, w, h = (x0 + x1) / 128, (y0 + y1) / 128, (x1 - x0) / 64, (y1 - y0) / 64
                    lines.append(f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
                boxes.append((class_id, box))
            write_image(root / "images" / split / f"{stem}.png", image)
            label = root / "labels" / split / f"{stem}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("\n".join(lines) + "\n")
            expected[f"{split}/{stem}"] = boxes
    data = {"names": ["particle", "scratch"]}
    data.update({split: f"images/{split}" for split in splits})
    (root / "data.yaml").write_text(yaml.safe_dump(data))
    return expected


def test_registry_lists_the_five_formats():
    assert sorted(IMPORTERS) == ["coco", "deeppcb", "maskfolder", "voc", "yolo"]


def test_unknown_format_lists_known_ones(tmp_path: Path):
    with pytest.raises(FactoryError) as error:
        import_dataset("labelme", tmp_path, tmp_path / "out")
    assert str(error.value) == (
        "unknown import format 'labelme'; known formats: coco, deeppcb, maskfolder, voc, yolo"
    )


def test_yolo_import_keeps_splits_and_locks_test(tmp_path: Path):
    expected = make_yolo_source(tmp_path / "src")
    report = import_dataset("yolo", tmp_path / "src", tmp_path / "out")
    assert report.images == {"train": 3, "val": 3, "test": 3}
    assert report.locked and report.split_state == "source"
    dataset = load_dataset(tmp_path / "out")
    assert dataset.is_locked
    for record in dataset.images:
        want = sorted((c, *b) for c, b in expected[record.key])
        got = sorted((a.class_id, *a.xyxy) for a in record.annotations)
        for w, g in zip(want, got, strict=True):
            assert (
                w[0] == g[0] and max(abs(p - q) for p, q in zip(w[1:], g[1:], strict=True)) <= 1e-3
            )


def test_yolo_no_lock_option_and_data_yaml_file(tmp_path: Path):
    make_yolo_source(tmp_path / "src")
    report = import_dataset(
        "yolo", tmp_path / "src" / "data.yaml", tmp_path / "out", lock_test=False
    )
    assert not report.locked
    assert not load_dataset(tmp_path / "out").is_locked


def test_yolo_segments_become_boxes_and_masks(tmp_path: Path):
    make_yolo_source(tmp_path / "src", segments=True)
    import_dataset("yolo", tmp_path / "src", tmp_path / "out")
    record = load_dataset(tmp_path / "out").split("train")[0]
    masks = record.read_instance_masks()
    for annotation, mask in zip(record.annotations, masks, strict=True):
        ys, xs = np.nonzero(mask)
        x0, y0, x1, y1 = annotation.xyxy
        # fillPoly includes the far edge: the mask spans the box to within one pixel
        assert abs(xs.min() - x0) <= 1 and abs(xs.max() - x1) <= 1
        assert abs(ys.min() - y0) <= 1 and abs(ys.max() - y1) <= 1


def test_yolo_single_image_set_is_unsplit(tmp_path: Path):
    make_yolo_source(tmp_path / "src", splits=("train",))
    report = import_dataset("yolo", tmp_path / "src", tmp_path / "out")
    assert report.split_state == "unsplit" and not report.locked
    meta = json.loads((tmp_path / "out" / "factory.json").read_text())
    assert meta["split"]["state"] == "unsplit"


def test_round_trip_yolo_canonical_coco_canonical(tmp_path: Path):
    make_yolo_source(tmp_path / "src", segments=True)
    import_dataset("yolo", tmp_path / "src", tmp_path / "canon")
    first = load_dataset(tmp_path / "canon")
    written = export_coco(first, tmp_path / "coco")
    assert [p.name for p in written] == [
        "instances_train.json",
        "instances_val.json",
        "instances_test.json",
    ]
    data = json.loads(written[0].read_text())
    assert {"images", "annotations", "categories"} <= data.keys()
    assert all(len(a["bbox"]) == 4 for a in data["annotations"])
    report = import_dataset("coco", tmp_path / "coco", tmp_path / "back")
    assert report.locked
    second = load_dataset(tmp_path / "back")
    assert second.class_names == first.class_names
    for split in ("train", "val", "test"):
        assert_boxes_close(boxes_of(first, split), boxes_of(second, split), tol=1.0)
    for a, b in zip(first.images, second.images, strict=True):
        for mask_a, mask_b in zip(a.read_instance_masks(), b.read_instance_masks(), strict=True):
            assert np.array_equal(mask_a, mask_b)


def test_coco_single_file_export_reimports(tmp_path: Path, tiny_dataset: Path):
    dataset = load_dataset(tiny_dataset)
    export_coco(dataset, tmp_path / "one" / "all.json")
    import_dataset("coco", tmp_path / "one" / "all.json", tmp_path / "back")
    back = load_dataset(tmp_path / "back")
    assert len(back.images) == len(dataset.images)
    with pytest.raises(FactoryError, match="output file exists"):
        export_coco(dataset, tmp_path / "one" / "all.json")


def test_rle_round_trip_and_compressed_strings():
    rng = np.random.default_rng(0)
    mask = rng.random((7, 9)) > 0.6
    mask[0, 0] = True
    counts = rle_encode(mask)
    assert counts[0] == 0  # starts with a zero-length background run
    assert np.array_equal(rle_decode(counts, 9, 7), mask)

    def to_string(cnts):  # pycocotools' rleToString, written from its C source
        out = []
        for i, x in enumerate(cnts):
            if i > 2:
                x -= cnts[i - 2]
            more = True
            while more:
                c = x & 0x1F
                x >>= 5
                more = (x != -1) if (c & 0x10) else (x != 0)
                if more:
                    c |= 0x20
                out.append(chr(c + 48))
        return "".join(out)

    for cnts in (counts, [5, 3, 100, 2, 1000, 7, 3], [0, 63]):
        assert rle_counts_from_string(to_string(cnts)) == cnts


def test_coco_polygon_and_crowd(tmp_path: Path):
    src = tmp_path / "coco"
    image = tiny_background(np.random.default_rng(0))
    write_image(src / "images" / "a.png", image)
    data = {
        "images": [{"id": 7, "file_name": "a.png", "width": 64, "height": 64}],
        "categories": [{"id": 3, "name": "scratch"}, {"id": 1, "name": "particle"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 3, "bbox": [10, 12, 20, 8],
             "segmentation": [[10, 12, 30, 12, 30, 20, 10, 20]], "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 1, "bbox": [40, 40, 5, 5], "iscrowd": 0},
            {"id": 3, "image_id": 7, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 1},
        ],
    }  # fmt: skip
    (src / "train.json").write_text(json.dumps(data))
    report = import_dataset("coco", src / "train.json", tmp_path / "out")
    assert report.split_state == "unsplit"
    dataset = load_dataset(tmp_path / "out")
    assert dataset.class_names == ["particle", "scratch"]  # ascending category id
    (record,) = dataset.images
    got = [
        v
        for a in sorted(record.annotations, key=lambda a: a.class_id)
        for v in (a.class_id, *a.xyxy)
    ]
    assert got == pytest.approx([0, 40, 40, 45, 45, 1, 10, 12, 30, 20], abs=1e-3)
    masks = dict(
        zip([a.class_id for a in record.annotations], record.read_instance_masks(), strict=True)
    )
    assert masks[1][12:21, 10:31].all() and masks[1].sum() == 9 * 21


def make_voc_neu_layout(root: Path, n_train: int = 4, n_val: int = 2):
    rng = np.random.default_rng(2)
    for folder_images, folder_xml, count, prefix in (
        ("IMAGES", "ANNOTATIONS", n_train, "t"),
        ("Validation_Images", "Validation_Annotations", n_val, "v"),
    ):
        for k in range(count):
            name = ("crazing", "patches")[k % 2]
            stem = f"{name}_{prefix}{k}"
            write_image(root / folder_images / f"{stem}.jpg", tiny_background(rng))
            xml = root / folder_xml / f"{stem}.xml"
            xml.parent.mkdir(parents=True, exist_ok=True)
            xml.write_text(
                f"<annotation><filename>{stem}.jpg</filename><size><width>64</width>"
                f"<height>64</height></size><object><name>{name}</name><bndbox><xmin>{k + 1}"
                f"</xmin><ymin>2</ymin><xmax>{k + 30}</xmax><ymax>64</ymax></bndbox></object>"
                "</annotation>"
            )


def test_voc_neu_layout_validation_goes_to_val(tmp_path: Path):
    make_voc_neu_layout(tmp_path / "neu")
    report = import_dataset("voc", tmp_path / "neu", tmp_path / "out")
    assert report.images == {"train": 4, "val": 2, "test": 0}
    assert report.class_names == ["crazing", "patches"]
    assert not report.locked
    record = load_dataset(tmp_path / "out").split("train")[1]
    assert record.stem == "crazing_t2"
    assert record.annotations[0].xyxy == pytest.approx((3.0, 2.0, 32.0, 64.0), abs=1e-3)


def test_voc_imagesets_define_splits(tmp_path: Path):
    src = tmp_path / "VOC"
    rng = np.random.default_rng(3)
    for k in range(4):
        write_image(src / "JPEGImages" / f"im{k}.jpg", tiny_background(rng))
        (src / "Annotations").mkdir(parents=True, exist_ok=True)
        (src / "Annotations" / f"im{k}.xml").write_text(
            f"<annotation><filename>im{k}.jpg</filename><object><name>dog</name><bndbox>"
            "<xmin>3</xmin><ymin>4</ymin><xmax>20</xmax><ymax>30</ymax></bndbox></object>"
            "</annotation>"
        )
    (src / "ImageSets" / "Main").mkdir(parents=True)
    (src / "ImageSets" / "Main" / "trainval.txt").write_text("im0\nim1\nim2\n")
    (src / "ImageSets" / "Main" / "val.txt").write_text("im2\n")
    (src / "ImageSets" / "Main" / "test.txt").write_text("im3\n")
    report = import_dataset("voc", src, tmp_path / "out")
    assert report.images == {"train": 2, "val": 1, "test": 1}
    assert report.locked


def make_deeppcb_source(root: Path, n: int = 3, separator: str = " ", test: int = 0):
    rng = np.random.default_rng(4)
    pcb = root / "PCBData"
    for list_name, count, offset in (("trainval.txt", n, 0), ("test.txt", test, 100)):
        if not count:
            continue
        lines = []
        for k in range(offset, offset + count):
            stem = f"{12000000 + k}"
            template = tiny_background(rng)
            image = template.copy()
            box, _ = paint_defect(image, 0, 10 + k % 5, 20, 10)
            write_image(pcb / "group12000" / "12000" / f"{stem}_test.jpg", image)
            write_image(pcb / "group12000" / "12000" / f"{stem}_temp.jpg", template)
            ann = pcb / "group12000" / "12000_not" / f"{stem}.txt"
            ann.parent.mkdir(parents=True, exist_ok=True)
            x0, y0, x1, y1 = (int(v) for v in box)
            ann.write_text(
                separator.join(str(v) for v in (x0, y0, x1, y1, 1 + k % 6)) + "\n"
                + separator.join(str(v) for v in (1, 1, 8, 9, 6)) + "\n"
            )  # fmt: skip
            lines.append(f"group12000/12000/{stem}.jpg group12000/12000_not/{stem}.txt")
        (pcb / list_name).write_text("\n".join(lines))
    return root


@pytest.mark.parametrize("separator", [" ", ","])
def test_deeppcb_pairs_and_separators(tmp_path: Path, separator: str):
    make_deeppcb_source(tmp_path / "pcb", separator=separator)
    report = import_dataset("deeppcb", tmp_path / "pcb", tmp_path / "out")
    assert report.split_state == "unsplit" and not report.locked
    dataset = load_dataset(tmp_path / "out")
    assert dataset.class_names == ["open", "short", "mousebite", "spur", "copper", "pin-hole"]
    record = dataset.split("train")[1]
    assert record.stem == "12000001"
    assert sorted(a.class_id for a in record.annotations) == [1, 5]
    assert record.reference_path is not None and record.reference_path.name == "12000001.jpg"
    assert record.read_reference().shape == record.read().shape


def test_deeppcb_test_list_is_kept_and_locked(tmp_path: Path):
    make_deeppcb_source(tmp_path / "pcb", test=2)
    report = import_dataset("deeppcb", tmp_path / "pcb", tmp_path / "out")
    assert report.images == {"train": 3, "val": 0, "test": 2}
    assert report.locked and load_dataset(tmp_path / "out").is_locked


def make_maskfolder_source(root: Path):
    rng = np.random.default_rng(5)
    for cls in ("blowhole", "crack"):
        for k in range(3):
            image = tiny_background(rng)
            mask = np.zeros((64, 64), np.uint8)
            if k < 2:  # two components in the first two images, the third is clean
                mask[5:10, 5:12] = 255
                mask[30:40, 40:44] = 255
            write_image(root / cls / "images" / f"{cls}{k}.jpg", image)
            write_image(root / cls / "masks" / f"{cls}{k}.png", mask)


def test_maskfolder_components_classes_and_clean(tmp_path: Path):
    make_maskfolder_source(tmp_path / "mt")
    report = import_dataset("maskfolder", tmp_path / "mt", tmp_path / "out")
    assert report.class_names == ["blowhole", "crack"]
    assert report.images["train"] == 4 and report.clean == 2
    dataset = load_dataset(tmp_path / "out")
    record = dataset.split("train")[0]
    got = sorted(a.xyxy for a in record.annotations)
    assert got[0] == pytest.approx((5, 5, 12, 10), abs=1e-3)
    assert got[1] == pytest.approx((40, 30, 44, 40), abs=1e-3)
    masks = record.read_instance_masks()
    assert sorted(int(m.sum()) for m in masks) == [35, 40]
    assert len(dataset.clean_images) == 2


def test_maskfolder_flat_needs_class_name(tmp_path: Path):
    src = tmp_path / "flat"
    image = tiny_background(np.random.default_rng(6))
    mask = np.zeros((64, 64), np.uint8)
    mask[3:9, 3:9] = 1
    write_image(src / "Part0.jpg", image)
    write_image(src / "Part0_label.bmp", mask)
    with pytest.raises(FactoryError, match="pass --class-name"):
        import_dataset("maskfolder", src, tmp_path / "out")
    report = import_dataset("maskfolder", src, tmp_path / "out", class_name="defect")
    assert report.class_names == ["defect"] and report.images["train"] == 1


# ---------------------------------------------------------------- real data (small subsets)


@pytest.mark.slow
@pytest.mark.skipif(not DEEPPCB.is_dir(), reason="shared DeepPCB not present")
def test_real_deeppcb_subset_imports_and_ultralytics_reads_it(tmp_path: Path):
    import os

    os.environ.setdefault("YOLO_OFFLINE", "1")
    report = import_dataset("deeppcb", DEEPPCB, tmp_path / "pcb", limit=12)
    assert report.images["train"] == 12
    assert sum(report.instances["train"].values()) >= 12 * 3
    dataset = load_dataset(tmp_path / "pcb")
    assert all(r.reference_path is not None for r in dataset.images)
    assert all(r.width == 640 and r.height == 640 for r in dataset.images)
    from factory.dataset.split import split_dataset

    split_dataset(tmp_path / "pcb", tmp_path / "split", test=3, val=3, seed=0)
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(str(tmp_path / "split" / "data.yaml"))
    assert data["nc"] == 6 and data["names"][5] == "pin-hole"
    yolo = YOLODataset(img_path=data["train"], data=data, task="detect", augment=False)
    assert len(yolo.labels) == 6
    ours = {r.stem: len(r.annotations) for r in load_dataset(tmp_path / "split").split("train")}
    theirs = {Path(lb["im_file"]).stem: len(lb["cls"]) for lb in yolo.labels}
    assert ours == theirs


@pytest.mark.slow
@pytest.mark.skipif(not NEU.is_dir(), reason="shared NEU-DET not present")
def test_real_neu_det_subset_imports(tmp_path: Path):
    src = tmp_path / "neu"
    names = ["crazing_1", "inclusion_1", "patches_1", "pitted_surface_1", "rolled-in_scale_1",
             "scratches_1"]  # fmt: skip
    for folder_images, folder_xml in (("IMAGES", "ANNOTATIONS"),):
        (src / folder_images).mkdir(parents=True)
        (src / folder_xml).mkdir(parents=True)
        for name in names:
            shutil.copy(NEU / folder_images / f"{name}.jpg", src / folder_images)
            shutil.copy(NEU / folder_xml / f"{name}.xml", src / folder_xml)
    val_xml = sorted((NEU / "Validation_Annotations").glob("*.xml"))[:2]
    (src / "Validation_Images").mkdir()
    (src / "Validation_Annotations").mkdir()
    for xml in val_xml:
        shutil.copy(xml, src / "Validation_Annotations")
        shutil.copy(NEU / "Validation_Images" / f"{xml.stem}.jpg", src / "Validation_Images")
    report = import_dataset("voc", src, tmp_path / "out")
    assert report.class_names == [
        "crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches"
    ]  # fmt: skip
    assert report.images == {"train": 6, "val": 2, "test": 0}
    dataset = load_dataset(tmp_path / "out")
    assert all((r.width, r.height) == (200, 200) for r in dataset.images)
    assert all(r.annotations for r in dataset.images)


def test_coco_unknown_category_and_missing_image(tmp_path: Path):
    src = tmp_path / "coco"
    write_image(src / "a.png", tiny_background(np.random.default_rng(0)))
    data = {
        "images": [{"id": 1, "file_name": "a.png"}],
        "categories": [{"id": 1, "name": "particle"}],
        "annotations": [{"id": 5, "image_id": 1, "category_id": 4, "bbox": [1, 1, 5, 5]}],
    }
    (src / "val.json").write_text(json.dumps(data))
    with pytest.raises(FactoryError) as error:
        import_dataset("coco", src, tmp_path / "out")
    assert str(error.value) == (
        f"{src / 'val.json'}: annotation 5 of a.png has unknown category id 4 (known: [1])"
    )
    data["annotations"][0]["category_id"] = 1
    data["images"][0]["file_name"] = "b.png"
    (src / "val.json").write_text(json.dumps(data))
    with pytest.raises(FactoryError, match=r"image 'b.png' not found .*mismatched"):
        import_dataset("coco", src, tmp_path / "out")


def test_maskfolder_orphan_mask_and_size_mismatch(tmp_path: Path):
    make_maskfolder_source(tmp_path / "mt")
    orphan = tmp_path / "mt" / "crack" / "masks" / "lonely.png"
    write_image(orphan, np.zeros((64, 64), np.uint8))
    with pytest.raises(FactoryError) as error:
        import_dataset("maskfolder", tmp_path / "mt", tmp_path / "out")
    assert str(error.value) == f"{orphan}: mask has no matching image (mismatched names)"
    orphan.unlink()
    small = tmp_path / "mt" / "crack" / "masks" / "crack0.png"
    write_image(small, np.zeros((32, 32), np.uint8))
    with pytest.raises(FactoryError, match=r"mask is 32x32, image crack0\.jpg is 64x64"):
        import_dataset("maskfolder", tmp_path / "mt", tmp_path / "out")


def test_source_not_found_and_output_inside_source(tmp_path: Path):
    with pytest.raises(FactoryError, match="source not found"):
        import_dataset("voc", tmp_path / "nope", tmp_path / "out")
    make_voc_neu_layout(tmp_path / "neu")
    with pytest.raises(FactoryError, match="output folder lies inside the source"):
        import_dataset("voc", tmp_path / "neu", tmp_path / "neu" / "out")


def test_import_is_byte_identical_when_repeated(tmp_path: Path):
    from factory.io import sha256_file

    make_deeppcb_source(tmp_path / "pcb", test=2)
    digests = []
    for name in ("a", "b"):
        import_dataset("deeppcb", tmp_path / "pcb", tmp_path / name)
        root = tmp_path / name
        digests.append(
            {str(p.relative_to(root)): sha256_file(p) for p in root.rglob("*") if p.is_file()}
        )
    assert digests[0] == digests[1]


def test_maskfolder_magnetic_tile_layout(tmp_path: Path):
    """MT_<class>/Imgs/<stem>.jpg with the mask as <stem>.png beside it; MT_Free is all clean."""
    rng = np.random.default_rng(7)
    for cls, defect in (("MT_Blowhole", True), ("MT_Free", False)):
        for k in range(2):
            mask = np.zeros((64, 64), np.uint8)
            if defect:
                mask[10:20, 10:14] = 255
            write_image(tmp_path / "mt" / cls / "Imgs" / f"exp{k}.jpg", tiny_background(rng))
            write_image(tmp_path / "mt" / cls / "Imgs" / f"exp{k}.png", mask)
    report = import_dataset("maskfolder", tmp_path / "mt", tmp_path / "out")
    assert report.class_names == ["MT_Blowhole"]
    assert report.images["train"] == 2 and report.clean == 2
