"""The one dataset model: a labelled detection set in the YOLO layout plus ``factory.json``.

On disk (the canonical form, which ultralytics trains on directly)::

    DIR/
      data.yaml                     names, and train/val/test image folders (no ``path``:
                                    ultralytics resolves the folders next to the yaml)
      images/{train,val,test}/      the images
      labels/{train,val,test}/      one YOLO txt per image: ``class cx cy w h`` (normalised)
      masks/{split}/<stem>.png      optional instance map, uint16: pixel value k+1 marks the
                                    pixels of the k-th label line of that image, 0 is background
      references/{split}/<stem>.*   optional paired clean reference (e.g. a DeepPCB template)
      clean/                        optional pool of clean, defect-free images
      factory.json                  metadata YOLO cannot hold: source, notes, the test lock

In memory: :class:`Dataset` holds :class:`ImageRecord` items, each with its
:class:`Annotation` boxes in ``xyxy`` pixels. Build new datasets with
:class:`factory.dataset.writer.DatasetWriter`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, UnidentifiedImageError

from factory.errors import FactoryError
from factory.io import list_images, read_image, read_mask

SPLITS = ("train", "val", "test")
METADATA_FILE = "factory.json"
FORMAT_VERSION = 1
# A normalised coordinate this far outside [0, 1] is an error, not rounding.
COORD_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Annotation:
    """One labelled defect: a class id and a box ``(x_min, y_min, x_max, y_max)`` in pixels."""

    class_id: int
    xyxy: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        if len(self.xyxy) != 4:
            raise ValueError(f"xyxy must have 4 numbers, got {self.xyxy!r}")

    @property
    def width(self) -> float:
        return self.xyxy[2] - self.xyxy[0]

    @property
    def height(self) -> float:
        return self.xyxy[3] - self.xyxy[1]

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def xyxy_int(self) -> tuple[int, int, int, int]:
        """Pixel box that covers the float box: floor the minimum, ceil the maximum."""
        x0, y0, x1, y1 = self.xyxy
        return (math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1))


@dataclass(frozen=True)
class ImageRecord:
    """One image of the dataset and everything known about it."""

    image_path: Path
    split: str
    width: int
    height: int
    annotations: tuple[Annotation, ...] = ()
    label_path: Path | None = None
    mask_path: Path | None = None
    reference_path: Path | None = None

    @property
    def stem(self) -> str:
        return self.image_path.stem

    @property
    def key(self) -> str:
        """Unique id inside a dataset: ``split/stem``."""
        return f"{self.split}/{self.stem}"

    def read(self) -> np.ndarray:
        return read_image(self.image_path)

    def read_reference(self) -> np.ndarray | None:
        return read_image(self.reference_path) if self.reference_path else None

    def read_instance_masks(self) -> list[np.ndarray | None]:
        """A boolean ``(H, W)`` mask per annotation (``None`` for all when there is no mask file)."""
        if self.mask_path is None:
            return [None] * len(self.annotations)
        instance_map = read_mask(self.mask_path)
        if instance_map.shape[:2] != (self.height, self.width):
            raise FactoryError(
                f"{self.mask_path}: mask is {instance_map.shape[1]}x{instance_map.shape[0]}, "
                f"image is {self.width}x{self.height}"
            )
        return [instance_map == k + 1 for k in range(len(self.annotations))]


@dataclass(frozen=True)
class Problem:
    """A defect in the data itself, found while loading (reported by ``factory audit``)."""

    path: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class Dataset:
    """A labelled detection dataset (see the module docstring for the on-disk form)."""

    root: Path
    class_names: list[str]
    images: list[ImageRecord]
    clean_images: list[Path] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> list[ImageRecord]:
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return [record for record in self.images if record.split == name]

    @property
    def test_lock(self) -> dict | None:
        return self.metadata.get("test_lock")

    @property
    def is_locked(self) -> bool:
        return bool(self.test_lock)

    def class_counts(self, split: str | None = None) -> dict[str, int]:
        counts = dict.fromkeys(self.class_names, 0)
        for record in self.images if split is None else self.split(split):
            for annotation in record.annotations:
                counts[self.class_names[annotation.class_id]] += 1
        return counts

    def class_id(self, name: str) -> int:
        try:
            return self.class_names.index(name)
        except ValueError:
            raise FactoryError(
                f"unknown class {name!r}; this dataset has: {', '.join(self.class_names)}"
            ) from None


def load_dataset(root: Path | str, *, strict: bool = True, verify_lock: bool = True) -> Dataset:
    """Read and validate a canonical dataset folder.

    With ``strict`` (the default) the first problem raises :class:`FactoryError`; with
    ``strict=False`` problems are collected in ``Dataset.problems`` and the offending
    labels are skipped, which is what ``factory audit`` wants. When the dataset has a
    test lock and ``verify_lock`` is set, the lock is checked before anything is returned.
    """
    root = Path(root)
    if not root.is_dir():
        raise FactoryError(f"{root}: dataset folder not found")
    data_yaml = root / "data.yaml"
    if not data_yaml.is_file():
        raise FactoryError(
            f"{data_yaml}: missing data.yaml (is {root} a factory dataset? "
            "convert a source with `factory import`)"
        )
    class_names = _read_class_names(data_yaml)
    metadata = _read_metadata(root)
    problems: list[Problem] = []

    def report(path: Path, kind: str, message: str) -> None:
        problem = Problem(_relative(path, root), kind, message)
        if strict:
            raise FactoryError(str(problem))
        problems.append(problem)

    images: list[ImageRecord] = []
    for split in SPLITS:
        image_dir = root / "images" / split
        label_dir = root / "labels" / split
        image_paths = list_images(image_dir)
        stems = {p.stem for p in image_paths}
        if len(stems) != len(image_paths):
            raise FactoryError(f"{image_dir}: two images share a file name stem")
        if label_dir.is_dir():
            for label_path in sorted(label_dir.glob("*.txt")):
                if label_path.stem not in stems:
                    report(label_path, "orphan_label", "label file has no matching image")
        for image_path in image_paths:
            size = _image_size(image_path)
            if size is None:
                report(image_path, "unreadable_image", "cannot read image (corrupt or unsupported)")
                continue
            width, height = size
            label_path = label_dir / f"{image_path.stem}.txt"
            annotations = (
                _read_yolo_labels(label_path, width, height, len(class_names), report)
                if label_path.is_file()
                else ()
            )
            mask_path = root / "masks" / split / f"{image_path.stem}.png"
            images.append(
                ImageRecord(
                    image_path=image_path,
                    split=split,
                    width=width,
                    height=height,
                    annotations=annotations,
                    label_path=label_path if label_path.is_file() else None,
                    mask_path=mask_path if mask_path.is_file() else None,
                    reference_path=_find_reference(root / "references" / split, image_path.stem),
                )
            )
    dataset = Dataset(
        root=root,
        class_names=class_names,
        images=images,
        clean_images=list_images(root / "clean"),
        metadata=metadata,
        problems=problems,
    )
    if not images and not dataset.clean_images:
        raise FactoryError(f"{root}: dataset is empty (no images under images/train, val or test)")
    if verify_lock and dataset.is_locked:
        from factory.dataset.lock import verify_test_lock

        verify_test_lock(dataset)
    return dataset


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def read_data_yaml(data_yaml: Path) -> dict:
    """The mapping in a YOLO ``data.yaml``, which must at least hold ``names``."""
    try:
        data = yaml.safe_load(data_yaml.read_text())
    except yaml.YAMLError as error:
        raise FactoryError(f"{data_yaml}: not valid YAML ({error.__class__.__name__})") from None
    if not isinstance(data, dict) or "names" not in data:
        raise FactoryError(f"{data_yaml}: no 'names' list of classes")
    return data


def _read_class_names(data_yaml: Path) -> list[str]:
    names = parse_class_names(read_data_yaml(data_yaml)["names"], data_yaml)
    if len(set(names)) != len(names):
        raise FactoryError(f"{data_yaml}: class names must be unique, got {names}")
    return names


def parse_class_names(names, data_yaml: Path) -> list[str]:
    """A YOLO ``names`` entry (a list, or a dict of ids 0..N-1) as a list of strings."""
    if isinstance(names, dict):
        keys = sorted(names)
        if keys != list(range(len(keys))):
            raise FactoryError(f"{data_yaml}: class ids in 'names' must be 0..N-1, got {keys}")
        names = [names[k] for k in keys]
    if not isinstance(names, list) or not names:
        raise FactoryError(f"{data_yaml}: 'names' must be a non-empty list, got {names!r}")
    return [str(n) for n in names]


def _read_metadata(root: Path) -> dict:
    path = root / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        metadata = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise FactoryError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(metadata, dict):
        raise FactoryError(f"{path}: expected a JSON object")
    return metadata


def _image_size(path: Path) -> tuple[int, int] | None:
    try:
        with Image.open(path) as image:
            return image.size
    # ImportError: once ultralytics is imported, its Image.open patch tries pi-heif on junk.
    except (UnidentifiedImageError, OSError, ValueError, ImportError):
        return None


def _find_reference(folder: Path, stem: str) -> Path | None:
    if not folder.is_dir():
        return None
    for path in list_images(folder):
        if path.stem == stem:
            return path
    return None


def _read_yolo_labels(label_path, width, height, num_classes, report) -> tuple[Annotation, ...]:
    annotations = []
    try:
        lines = label_path.read_text().splitlines()
    except UnicodeDecodeError:
        report(label_path, "bad_label", "label file is not text")
        return ()
    for line_number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"line {line_number}"
        if len(fields) != 5:
            report(
                label_path,
                "bad_label",
                f"{where}: expected 'class cx cy w h' (5 numbers), got {len(fields)} fields "
                "(segmentation polygons belong in `factory import yolo`)",
            )
            continue
        try:
            class_id = int(fields[0])
            cx, cy, w, h = (float(v) for v in fields[1:])
        except ValueError:
            report(label_path, "bad_label", f"{where}: not numbers: {line.strip()!r}")
            continue
        if not 0 <= class_id < num_classes:
            report(
                label_path,
                "unknown_class",
                f"{where}: class id {class_id} is out of range (dataset has {num_classes} classes)",
            )
            continue
        x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        low, high = -COORD_TOLERANCE, 1 + COORD_TOLERANCE
        if (
            not all(math.isfinite(v) for v in (cx, cy, w, h))
            or min(x0, y0) < low
            or max(x1, y1) > high
        ):
            report(
                label_path,
                "out_of_bounds",
                f"{where}: box {cx:g} {cy:g} {w:g} {h:g} reaches outside the image "
                "(normalised coordinates must lie in [0, 1])",
            )
            continue
        if w <= 0 or h <= 0:
            report(label_path, "zero_area", f"{where}: box has zero or negative size ({w:g}x{h:g})")
            continue
        annotations.append(
            Annotation(
                class_id,
                (
                    max(0.0, x0 * width),
                    max(0.0, y0 * height),
                    min(float(width), x1 * width),
                    min(float(height), y1 * height),
                ),
            )
        )
    return tuple(annotations)


def yolo_label_lines(
    annotations: tuple[Annotation, ...] | list[Annotation], width: int, height: int
) -> str:
    """YOLO txt content (``class cx cy w h`` normalised, 6 decimals) for ``annotations``."""
    lines = []
    for a in annotations:
        x0, y0, x1, y1 = a.xyxy
        cx, cy = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height
        w, h = (x1 - x0) / width, (y1 - y0) / height
        lines.append(f"{a.class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return "\n".join(lines) + ("\n" if lines else "")


def read_record_image_and_masks(record: ImageRecord) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """The image and one boolean mask per annotation (``None`` where no mask is stored)."""
    return record.read(), record.read_instance_masks()
