"""Build a canonical dataset in a staging folder and publish it atomically."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from factory.dataset.core import (
    FORMAT_VERSION,
    METADATA_FILE,
    SPLITS,
    Annotation,
    yolo_label_lines,
)
from factory.errors import FactoryError
from factory.io import check_output_dir, publish_dir, write_image, write_json

ImageSource = Path | np.ndarray


class DatasetWriter:
    """Collects images, labels, masks and references, then publishes the folder in one move.

    Example::

        with DatasetWriter(out, ["particle", "scratch"], overwrite=False) as writer:
            writer.add_image("train", "die_0001", image, [Annotation(0, (4, 5, 20, 22))],
                             instance_masks=[mask])
            writer.publish(metadata={"source": {"format": "demo"}}, lock_test=True)

    Leaving the ``with`` block without ``publish`` (or with an exception) discards everything.
    """

    def __init__(self, out: Path | str, class_names: list[str], *, overwrite: bool = False):
        self.out = Path(out)
        check_output_dir(self.out, overwrite=overwrite)
        if not class_names or len(set(class_names)) != len(class_names):
            raise FactoryError(
                f"class names must be a non-empty list of unique names, got {class_names}"
            )
        self.class_names = list(class_names)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.tmp-", dir=self.out.parent))
        self._stems: dict[str, set[str]] = {split: set() for split in SPLITS}
        self._clean: set[str] = set()
        self.published = False

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc) -> None:
        if not self.published:
            shutil.rmtree(self.staging, ignore_errors=True)

    def add_image(
        self,
        split: str,
        stem: str,
        image: ImageSource,
        annotations: list[Annotation] | tuple[Annotation, ...] = (),
        *,
        instance_masks: list[np.ndarray | None] | None = None,
        reference: ImageSource | None = None,
    ) -> Path:
        """Add one image; a ``Path`` is copied byte for byte, an array is written as PNG.

        ``instance_masks`` holds one boolean ``(H, W)`` mask per annotation (or ``None`` for
        annotations without one); they are stored together as a uint16 instance map.
        """
        if split not in SPLITS:
            raise FactoryError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        if stem in self._stems[split]:
            raise FactoryError(f"two images named {stem!r} in split {split!r}")
        self._stems[split].add(stem)
        width, height = _size_of(image)
        for annotation in annotations:
            self._check_annotation(annotation, width, height, f"{split}/{stem}")
        image_path = self._put(image, Path("images") / split, stem)
        label_path = self.staging / "labels" / split / f"{stem}.txt"
        label_path.parent.mkdir(parents=True, exist_ok=True)
        label_path.write_text(yolo_label_lines(annotations, width, height))
        if instance_masks is not None and any(m is not None for m in instance_masks):
            if len(instance_masks) != len(annotations):
                raise FactoryError(
                    f"{split}/{stem}: {len(instance_masks)} masks for {len(annotations)} boxes"
                )
            instance_map = np.zeros((height, width), np.uint16)
            for k, mask in enumerate(instance_masks):
                if mask is None:
                    continue
                if mask.shape[:2] != (height, width):
                    raise FactoryError(
                        f"{split}/{stem}: mask {k} is {mask.shape[1]}x{mask.shape[0]}, "
                        f"image is {width}x{height}"
                    )
                instance_map[(mask > 0) & (instance_map == 0)] = k + 1
            write_image(self.staging / "masks" / split / f"{stem}.png", instance_map)
        if reference is not None:
            ref_w, ref_h = _size_of(reference)
            if (ref_w, ref_h) != (width, height):
                raise FactoryError(
                    f"{split}/{stem}: reference is {ref_w}x{ref_h}, image is {width}x{height}"
                )
            self._put(reference, Path("references") / split, stem)
        return image_path

    def add_clean(self, stem: str, image: ImageSource) -> Path:
        """Add a clean (defect-free) image to the ``clean/`` pool."""
        if stem in self._clean:
            raise FactoryError(f"two clean images named {stem!r}")
        self._clean.add(stem)
        return self._put(image, Path("clean"), stem)

    def publish(self, *, metadata: dict | None = None, lock_test: bool = False) -> Path:
        """Write ``data.yaml`` and ``factory.json`` and move the folder into place."""
        for split in SPLITS:
            (self.staging / "images" / split).mkdir(parents=True, exist_ok=True)
            (self.staging / "labels" / split).mkdir(parents=True, exist_ok=True)
        data = {
            "train": "images/train",
            "val": "images/val",
            "test": "images/test",
            "nc": len(self.class_names),
            "names": dict(enumerate(self.class_names)),
        }
        (self.staging / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        meta = {"format_version": FORMAT_VERSION, **(metadata or {})}
        meta.pop("test_lock", None)
        if lock_test:
            from factory.dataset.lock import compute_test_lock

            meta["test_lock"] = compute_test_lock(self.staging)
        write_json(self.staging / METADATA_FILE, meta)
        publish_dir(self.staging, self.out)
        self.published = True
        return self.out

    def _put(self, image: ImageSource, folder: Path, stem: str) -> Path:
        target_dir = self.staging / folder
        target_dir.mkdir(parents=True, exist_ok=True)
        if isinstance(image, np.ndarray):
            target = target_dir / f"{stem}.png"
            write_image(target, image)
        else:
            target = target_dir / f"{stem}{Path(image).suffix.lower()}"
            shutil.copyfile(image, target)
        return target

    def _check_annotation(
        self, annotation: Annotation, width: int, height: int, where: str
    ) -> None:
        if not 0 <= annotation.class_id < len(self.class_names):
            raise FactoryError(
                f"{where}: class id {annotation.class_id} is out of range "
                f"({len(self.class_names)} classes)"
            )
        x0, y0, x1, y1 = annotation.xyxy
        if x0 < -0.5 or y0 < -0.5 or x1 > width + 0.5 or y1 > height + 0.5:
            raise FactoryError(
                f"{where}: box {annotation.xyxy} reaches outside the {width}x{height} image"
            )
        if x1 <= x0 or y1 <= y0:
            raise FactoryError(f"{where}: box {annotation.xyxy} has zero area")


def _size_of(image: ImageSource) -> tuple[int, int]:
    if isinstance(image, np.ndarray):
        return image.shape[1], image.shape[0]
    path = Path(image)
    try:
        with Image.open(path) as opened:
            return opened.size
    except (OSError, ValueError, ImportError):  # ImportError: ultralytics' Image.open patch
        raise FactoryError(f"{path}: cannot read image (corrupt or unsupported format)") from None
