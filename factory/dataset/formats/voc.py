"""Import Pascal VOC XML annotations.

Layouts understood (the XML folder is found anywhere under the source):

* VOC: ``Annotations/*.xml`` + ``JPEGImages/*``; ``ImageSets/Main/{train,val,test}.txt``
  define the split when present.
* NEU-DET: ``IMAGES/`` + ``ANNOTATIONS/`` and ``Validation_Images/`` +
  ``Validation_Annotations/``: the main folders go to train and the validation folders to
  ``val`` (30 images, five per class: too few for a test set, so no test split and no lock;
  run ``factory split`` to make a class-balanced locked test set from everything).
* XML files next to their images.

Otherwise a folder name says the split (``train``, ``val``/``valid``/``validation``,
``test``); a source with no such name is unsplit (everything in train). Class names are the
sorted set of ``<name>`` values. Box coordinates are used as written (``xmin``/``xmax`` as
pixel edges, the common practice of VOC converters). Every XML needs its image and every
image in a paired image folder needs its XML (mismatched names are an error).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from factory.dataset.core import Annotation
from factory.dataset.formats.base import SourceItem, SourcePlan, unique_stem
from factory.errors import FactoryError
from factory.io import list_images

# Annotation folder name (lower case) -> image folder names to look in, in order.
IMAGE_DIR_NAMES = {
    "annotations": ["JPEGImages", "images", "Images", "IMAGES", "imgs"],
    "validation_annotations": ["Validation_Images", "validation_images"],
    "labels": ["images", "Images"],
}


def split_from_name(name: str) -> str | None:
    lowered = name.lower()
    if "test" in lowered:
        return "test"
    if "train" in lowered:  # "trainval" is training data
        return "train"
    if "val" in lowered:
        return "val"
    return None


def read_voc_source(src: Path, *, limit: int | None = None) -> SourcePlan:
    if not src.is_dir():
        raise FactoryError(f"{src}: a VOC source must be a folder holding XML annotations")
    xml_dirs = sorted({p.parent for p in src.rglob("*.xml")})
    if not xml_dirs:
        raise FactoryError(f"{src}: dataset is empty (no VOC .xml annotation files found)")
    image_sets = _image_sets(src)
    parsed: list[tuple[str | None, Path, Path, dict]] = []
    for xml_dir in xml_dirs:
        image_dir = _image_dir_for(xml_dir)
        xml_paths = sorted(xml_dir.glob("*.xml"))
        if limit is not None:
            xml_paths = xml_paths[:limit]
        images_by_stem = {p.stem: p for p in list_images(image_dir)}
        used: set[str] = set()
        dir_split = _split_of_dir(xml_dir, src)
        for xml_path in xml_paths:
            record = _parse_xml(xml_path)
            stem = Path(record["filename"]).stem if record["filename"] else xml_path.stem
            image_path = images_by_stem.get(stem) or images_by_stem.get(xml_path.stem)
            if image_path is None:
                raise FactoryError(
                    f"{xml_path}: no image named {stem}.* in {image_dir} "
                    "(mismatched image/label names)"
                )
            used.add(image_path.stem)
            split = image_sets.get(image_path.stem, dir_split)
            parsed.append((split, xml_path, image_path, record))
        if limit is None and image_dir != xml_dir:
            for stem, image_path in sorted(images_by_stem.items()):
                if stem not in used:
                    raise FactoryError(
                        f"{image_path}: image has no XML annotation in {xml_dir} "
                        "(mismatched image/label names)"
                    )
    class_names = sorted({obj["name"] for _, _, _, r in parsed for obj in r["objects"]})
    if not class_names:
        raise FactoryError(f"{src}: no labelled objects in any XML file")
    has_split = any(split is not None for split, _, _, _ in parsed)
    items: list[SourceItem] = []
    taken: dict[str, set[str]] = {}
    for split, xml_path, image_path, record in parsed:
        split = split or "train"
        annotations = [
            Annotation(class_names.index(obj["name"]), obj["xyxy"]) for obj in record["objects"]
        ]
        items.append(
            SourceItem(
                split=split,
                stem=unique_stem(image_path.stem, taken.setdefault(split, set())),
                image=image_path,
                annotations=annotations,
                label_path=xml_path,
            )
        )
    notes = []
    if not has_split:
        notes.append("source defines no split: all images put in train")
    elif not any(item.split == "test" for item in items):
        notes.append("source has no test split: run `factory split` to make a locked one")
    return SourcePlan(
        format="voc",
        source=src,
        class_names=class_names,
        items=items,
        has_split=has_split,
        notes=notes,
    )


def _image_dir_for(xml_dir: Path) -> Path:
    for name in IMAGE_DIR_NAMES.get(xml_dir.name.lower(), []):
        if (xml_dir.parent / name).is_dir():
            return xml_dir.parent / name
    lowered = xml_dir.name.lower()
    if "annotation" in lowered:
        for sibling in sorted(xml_dir.parent.iterdir()):
            if sibling.is_dir() and sibling.name.lower() == lowered.replace(
                "annotations", "images"
            ):
                return sibling
    return xml_dir


def _split_of_dir(xml_dir: Path, src: Path) -> str | None:
    relative = xml_dir.relative_to(src) if xml_dir != src else Path()
    for part in reversed(relative.parts):
        split = split_from_name(part)
        if split:
            return split
    return None


def _image_sets(src: Path) -> dict[str, str]:
    """stem -> split from VOC ``ImageSets/Main/{train,val,test}.txt`` when present."""
    splits: dict[str, str] = {}
    for folder in sorted(src.rglob("ImageSets")):
        main = folder / "Main"
        for split, names in (
            ("train", ("train", "trainval")),
            ("val", ("val",)),
            ("test", ("test",)),
        ):
            for name in names:
                path = main / f"{name}.txt"
                if path.is_file():
                    for line in path.read_text().split():
                        splits.setdefault(line.strip(), split)
    # trainval also lists the val images: the val file wins.
    for folder in sorted(src.rglob("ImageSets")):
        val = folder / "Main" / "val.txt"
        if val.is_file():
            for line in val.read_text().split():
                splits[line.strip()] = "val"
    return splits


def _parse_xml(xml_path: Path) -> dict:
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as error:
        raise FactoryError(f"{xml_path}: not valid XML ({error})") from None
    if root.tag != "annotation":
        raise FactoryError(f"{xml_path}: not a VOC annotation (root element <{root.tag}>)")
    objects = []
    for obj in root.findall("object"):
        name = (obj.findtext("name") or "").strip()
        box = obj.find("bndbox")
        if not name or box is None:
            raise FactoryError(f"{xml_path}: an <object> lacks <name> or <bndbox>")
        try:
            xyxy = tuple(float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
        except (TypeError, ValueError):
            raise FactoryError(f"{xml_path}: object {name!r} has a non-numeric <bndbox>") from None
        objects.append({"name": name, "xyxy": xyxy})
    return {"filename": (root.findtext("filename") or "").strip(), "objects": objects}
