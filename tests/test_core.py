from pathlib import Path

import numpy as np
import pytest

from factory.dataset import Annotation, DatasetWriter, TestGuard, load_dataset
from factory.errors import FactoryError
from factory.io import read_image
from tests.conftest import make_tiny_dataset, tiny_background


def test_load_round_trip(tiny_dataset: Path):
    dataset = load_dataset(tiny_dataset)
    assert dataset.class_names == ["particle", "scratch", "stain"]
    assert [len(dataset.split(s)) for s in ("train", "val", "test")] == [9, 3, 3]
    assert len(dataset.clean_images) == 4
    record = dataset.split("train")[0]
    masks = record.read_instance_masks()
    ys, xs = np.nonzero(masks[0])
    x0, y0, x1, y1 = record.annotations[0].xyxy
    assert abs(xs.min() - x0) <= 1 and abs(xs.max() + 1 - x1) <= 1
    assert abs(ys.min() - y0) <= 1 and abs(ys.max() + 1 - y1) <= 1
    assert dataset.is_locked


def test_changed_test_file_breaks_lock(tiny_dataset: Path):
    label = sorted((tiny_dataset / "labels" / "test").glob("*.txt"))[0]
    label.write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(FactoryError, match="locked test file changed"):
        load_dataset(tiny_dataset)


def test_added_test_file_breaks_lock(tiny_dataset: Path):
    image = read_image(sorted((tiny_dataset / "images" / "train").iterdir())[0])
    from factory.io import write_image

    write_image(tiny_dataset / "images" / "test" / "sneaky.png", image)
    with pytest.raises(FactoryError, match="added to the locked test split"):
        load_dataset(tiny_dataset)


def test_guard_refuses_test_images_and_near_duplicates(tiny_dataset: Path):
    dataset = load_dataset(tiny_dataset)
    guard = TestGuard.from_dataset(dataset)
    test_path = dataset.split("test")[0].image_path
    with pytest.raises(FactoryError, match="locked test image"):
        guard.check_file(test_path, "background")
    noisy = np.clip(read_image(test_path).astype(int) + 2, 0, 255).astype(np.uint8)
    with pytest.raises(FactoryError, match="near duplicate"):
        guard.check_image(noisy, "noisy copy", "background")
    other = tiny_background(np.random.default_rng(99))
    other[20:40, 20:40] = 0
    guard.check_image(np.rot90(other).copy(), "other", "background")


def test_writer_refuses_non_empty_output(tmp_path: Path):
    out = make_tiny_dataset(tmp_path / "a")
    with pytest.raises(FactoryError, match="not empty"):
        DatasetWriter(out, ["x"])


def test_writer_discards_on_error(tmp_path: Path):
    out = tmp_path / "never"
    with pytest.raises(FactoryError), DatasetWriter(out, ["x"]) as writer:
        writer.add_image("train", "a", np.zeros((8, 8), np.uint8), [Annotation(3, (0, 0, 2, 2))])
    assert not out.exists()
    assert not list(tmp_path.iterdir())
