"""Importers from other dataset formats into the canonical form, and the COCO exporter.

Each importer is a function ``read_<format>_source(src, *, limit=None, ...) -> SourcePlan``
that only reads; :func:`import_dataset` looks it up in :data:`IMPORTERS` and publishes the
plan with :func:`~factory.dataset.formats.base.write_plan`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from factory.dataset.formats.base import ImportReport, SourcePlan, check_source, write_plan
from factory.dataset.formats.coco import export_coco, read_coco_source
from factory.dataset.formats.deeppcb import read_deeppcb_source
from factory.dataset.formats.maskfolder import read_maskfolder_source
from factory.dataset.formats.voc import read_voc_source
from factory.dataset.formats.yolo import read_yolo_source
from factory.errors import FactoryError

IMPORTERS: dict[str, Callable[..., SourcePlan]] = {
    "coco": read_coco_source,
    "deeppcb": read_deeppcb_source,
    "maskfolder": read_maskfolder_source,
    "voc": read_voc_source,
    "yolo": read_yolo_source,
}
EXPORTERS = {"coco": export_coco}


def import_dataset(
    format: str,
    src: Path | str,
    out: Path | str,
    *,
    overwrite: bool = False,
    lock_test: bool = True,
    limit: int | None = None,
    class_name: str | None = None,
) -> ImportReport:
    """Convert the dataset at ``src`` (in ``format``) into a canonical dataset at ``out``.

    ``limit`` keeps the first N images of each source split (for quick trials).
    ``class_name`` names the single class of a ``maskfolder`` source. When the source has a
    test split it is kept and, with ``lock_test``, locked.
    """
    src, out = Path(src), Path(out)
    reader = IMPORTERS.get(format.lower())
    if reader is None:
        raise FactoryError(
            f"unknown import format {format!r}; known formats: {', '.join(sorted(IMPORTERS))}"
        )
    if limit is not None and limit < 1:
        raise FactoryError(f"--limit must be at least 1, got {limit}")
    if class_name is not None and format.lower() != "maskfolder":
        raise FactoryError("--class-name only applies to the maskfolder format")
    check_source(src, out)
    from factory.io import check_output_dir

    check_output_dir(out, overwrite=overwrite)  # fail before reading a large source
    kwargs = {"limit": limit}
    if class_name is not None:
        kwargs["class_name"] = class_name
    plan = reader(src, **kwargs)
    return write_plan(plan, out, overwrite=overwrite, lock_test=lock_test)


__all__ = [
    "EXPORTERS",
    "IMPORTERS",
    "ImportReport",
    "SourcePlan",
    "export_coco",
    "import_dataset",
]
