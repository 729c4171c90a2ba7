"""Copy the DeepPCB split with only the 100 train images `factory compare --real-count 100`
picks (seed 0), val and test unchanged, to .gpu/deeppcb100: small enough (20 MB) to travel to
a GPU machine with the working tree. References of val/test are left out (compare and synth
never read them)."""

import json
import shutil
from pathlib import Path

from factory.compare.arms import real_subset
from factory.dataset.core import load_dataset

SRC = Path("outputs/compare-bench/deeppcb-split")
OUT = Path(".gpu/deeppcb100")


def copy(path: Path) -> None:
    target = OUT / Path(path).resolve().relative_to(SRC.resolve())
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)


def main() -> None:
    dataset = load_dataset(SRC)
    shutil.rmtree(OUT, ignore_errors=True)
    for record in real_subset(dataset.split("train"), 100, 0):
        for path in (record.image_path, record.label_path, record.reference_path):
            if path:
                copy(path)
    for split in ("val", "test"):
        for record in dataset.split(split):
            copy(record.image_path)
            copy(record.label_path)
    meta = json.loads((SRC / "factory.json").read_text())
    meta["notes"].append("GPU bench copy: the 100 train images real_subset(train, 100, 0) picks")
    (OUT / "factory.json").write_text(json.dumps(meta, indent=2))
    shutil.copyfile(SRC / "data.yaml", OUT / "data.yaml")
    print(len(load_dataset(OUT).split("train")), "train images; test lock verified")


if __name__ == "__main__":
    main()
