"""Import DeepPCB: aligned pairs of a defective board image and its defect-free template.

The source folder (or its ``PCBData/`` subfolder) holds ``trainval.txt`` and/or
``test.txt``, whose lines read ``groupX/X/NNNNNNNN.jpg groupX/X_not/NNNNNNNN.txt``: the
image path without its ``_test``/``_temp`` suffix, then the annotation file. The
``_test.jpg`` image is imported with its boxes; the ``_temp.jpg`` template becomes its
paired clean reference (``references/{split}/NNNNNNNN.jpg``). Annotation lines are
``x1 y1 x2 y2 type`` in pixels, separated by spaces or commas, type 1..6 = open, short,
mousebite, spur, copper, pin-hole (class ids 0..5).

``trainval.txt`` goes to train and ``test.txt`` to test (locked by default). With only
``trainval.txt`` the dataset is unsplit: run ``factory split``.
"""

from __future__ import annotations

import re
from pathlib import Path

from factory.dataset.core import Annotation
from factory.dataset.formats.base import SourceItem, SourcePlan, unique_stem
from factory.errors import FactoryError

CLASS_NAMES = ["open", "short", "mousebite", "spur", "copper", "pin-hole"]
LIST_FILES = {"trainval.txt": "train", "train.txt": "train", "val.txt": "val", "test.txt": "test"}


def find_list_root(src: Path) -> Path:
    for folder in (src, src / "PCBData"):
        if folder.is_dir() and any((folder / name).is_file() for name in LIST_FILES):
            return folder
    raise FactoryError(
        f"{src}: no DeepPCB list file found (expected trainval.txt and/or test.txt in it or in "
        "its PCBData/ folder)"
    )


def read_deeppcb_source(src: Path, *, limit: int | None = None) -> SourcePlan:
    if not src.is_dir():
        raise FactoryError(f"{src}: a DeepPCB source must be a folder")
    root = find_list_root(src)
    items: list[SourceItem] = []
    splits_found: set[str] = set()
    taken: dict[str, set[str]] = {}
    for name, split in LIST_FILES.items():
        list_path = root / name
        if not list_path.is_file():
            continue
        lines = [line for line in list_path.read_text().splitlines() if line.strip()]
        if limit is not None:
            lines = lines[:limit]
        splits_found.add(split)
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if len(fields) != 2:
                raise FactoryError(
                    f"{list_path} line {number}: expected 'IMAGE.jpg ANNOTATION.txt', got {line!r}"
                )
            image_base, annotation_rel = root / fields[0], root / fields[1]
            image = image_base.with_name(f"{image_base.stem}_test{image_base.suffix}")
            template = image_base.with_name(f"{image_base.stem}_temp{image_base.suffix}")
            for path in (image, template, annotation_rel):
                if not path.is_file():
                    raise FactoryError(f"{path}: file listed in {list_path.name} not found")
            items.append(
                SourceItem(
                    split=split,
                    stem=unique_stem(image_base.stem, taken.setdefault(split, set())),
                    image=image,
                    annotations=read_annotation_file(annotation_rel),
                    label_path=annotation_rel,
                    reference=template,
                )
            )
    has_split = len(splits_found) > 1 or splits_found != {"train"}
    notes = ["templates (_temp.jpg) imported as paired clean references"]
    if not has_split:
        notes.append("only trainval.txt: all images put in train; run `factory split`")
    return SourcePlan(
        format="deeppcb",
        source=src,
        class_names=list(CLASS_NAMES),
        items=items,
        has_split=has_split,
        notes=notes,
    )


def read_annotation_file(path: Path) -> list[Annotation]:
    annotations = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = [f for f in re.split(r"[\s,]+", line.strip()) if f]
        if not fields:
            continue
        where = f"{path} line {number}"
        if len(fields) != 5:
            raise FactoryError(f"{where}: expected 'x1 y1 x2 y2 type', got {line.strip()!r}")
        try:
            x0, y0, x1, y1 = (float(v) for v in fields[:4])
            kind = int(fields[4])
        except ValueError:
            raise FactoryError(f"{where}: not numbers: {line.strip()!r}") from None
        if not 1 <= kind <= len(CLASS_NAMES):
            raise FactoryError(
                f"{where}: unknown defect type {kind} (DeepPCB types are 1..{len(CLASS_NAMES)}: "
                f"{', '.join(CLASS_NAMES)})"
            )
        annotations.append(
            Annotation(kind - 1, (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        )
    return annotations
