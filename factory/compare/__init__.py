"""``factory compare``: real-only versus real+synthetic YOLO trainings under the same budget,
scored on the locked real test split.

Modules: :mod:`~factory.compare.options` (options, presets), :mod:`~factory.compare.arms`
(which images each arm trains on, as symlink folders), :mod:`~factory.compare.budget`
(equal images seen), :mod:`~factory.compare.train` (ultralytics, offline),
:mod:`~factory.compare.evaluate` (the one reader of the test split),
:mod:`~factory.compare.metrics` (COCO-style AP, pure), :mod:`~factory.compare.stats`
(seeds, bootstrap, verdict), :mod:`~factory.compare.report` and
:mod:`~factory.compare.plots`.
"""

from factory.compare.options import PRESETS, CompareOptions
from factory.compare.report import verdict_summary, write_report
from factory.compare.runner import run_compare

__all__ = ["PRESETS", "CompareOptions", "run_compare", "verdict_summary", "write_report"]
