"""Helpers for the compare tests: a fabricated `factory synth` output folder following the
brief's contract (real train + ``syn_XXXXXX`` images with instance masks, ``manifest.jsonl``,
``summary.json``, val/test copied unchanged so the test lock is the same)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from factory.dataset import Annotation, load_dataset, yolo_label_lines
from factory.io import write_image
from tests.conftest import paint_defect, tiny_background


def load_bench_script(name: str, monkeypatch=None):
    """bench/NAME.py as a module (bench/ is scripts, not a package). With ``monkeypatch`` it is
    registered in sys.modules while the test runs, as dataclasses defined in it need."""
    script = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    if monkeypatch is not None:
        monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def make_fake_synth(real_root: Path, out: Path, *, count: int = 6, seed: int = 1) -> Path:
    real = load_dataset(real_root)
    shutil.copytree(real_root, out)
    rng = np.random.default_rng(seed)
    manifest = []
    for k in range(count):
        image = tiny_background(rng)
        class_id = k % real.num_classes
        x, y = (int(v) for v in rng.integers(8, 44, size=2))
        box, mask = paint_defect(image, class_id, x, y, 10)
        stem = f"syn_{k:06d}"
        write_image(out / "images" / "train" / f"{stem}.png", image)
        write_image(out / "masks" / "train" / f"{stem}.png", mask.astype(np.uint16))
        label = yolo_label_lines([Annotation(class_id, box)], image.shape[1], image.shape[0])
        (out / "labels" / "train" / f"{stem}.txt").write_text(label)
        manifest.append(
            {
                "id": stem,
                "image": f"images/train/{stem}.png",
                "seed": k,
                "background": {"id": "bg", "kind": "clean", "source": "clean/x.png",
                               "path": "sources/backgrounds/x.png"},
                "pastes": [{"class": real.class_names[class_id], "class_id": class_id,
                            "xyxy": list(box), "blend": "alpha", "placement": "random"}],
            }
        )  # fmt: skip
    (out / "manifest.jsonl").write_text("".join(json.dumps(m) + "\n" for m in manifest))
    (out / "summary.json").write_text(json.dumps({"synthetic_images": count}) + "\n")
    return out
