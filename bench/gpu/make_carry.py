"""Pack the layout-checked DeepPCB comparison's inputs small enough to travel to a GPU machine.

The device tool carries at most 64 MiB with the working tree, and the inputs of
`bench/start_layout.sh` (the split, and the checked sets at 50 and 100 real images) are about
170 MB. What `factory compare --real-count 50|100` really reads is far less:

- train: only the images `real_subset` picks (100, in which the 50 nest). The others are
  replaced by grey placeholders of the same size: the subset is drawn by a permutation of the
  whole train split, so the split must keep all its names and sizes.
- the synthetic sets' own copies of the split's images (their test lock is checked against
  the real test images) become relative links to the split's files; `tar` on the device
  follows nothing, so `bench/gpu/run_layout.sh` unpacks with `cp -rL`.
- references, masks, sources and galleries are left out: compare never reads them.

The train list digests on the device are those of the kept CPU runs (the compare checks them);
`bench/gpu/run_layout.sh` prints them.

    python bench/gpu/make_carry.py      # writes .gpu/tree (git-ignored via .git/info/exclude)
"""

import hashlib
import os
import shutil
from pathlib import Path

from PIL import Image

from factory.compare.arms import real_subset
from factory.dataset.core import load_dataset

W = Path("outputs/compare-bench")
OUT = Path(".gpu/tree")
SETS = ("layout/real-50", "layout/real-100")
KEEP = ("data.yaml", "factory.json", "summary.json", "manifest.jsonl")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    split = W / "deeppcb-split"
    dataset = load_dataset(split)
    picked = {r.image_path.name for r in real_subset(dataset.split("train"), 100, 0)}
    by_digest: dict[str, Path] = {}
    target = OUT / split
    for name in ("data.yaml", "factory.json"):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(split / name, target / name)
    for record in dataset.images:
        relative = record.image_path.relative_to(split)
        out = target / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        if record.split == "train" and record.image_path.name not in picked:
            Image.new("L", (record.width, record.height), 128).save(out, quality=50)
        else:
            shutil.copyfile(record.image_path, out)
            by_digest[digest(out)] = out
        if record.label_path:
            label = target / record.label_path.relative_to(split)
            label.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(record.label_path, label)
    linked = copied = 0
    for name in SETS:
        root = W / name
        for item in KEEP:
            if (root / item).is_file():
                (OUT / root / item).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / item, OUT / root / item)
        for path in sorted((root / "images").rglob("*")) + sorted((root / "labels").rglob("*")):
            if not path.is_file():
                continue
            out = OUT / path
            out.parent.mkdir(parents=True, exist_ok=True)
            same = by_digest.get(digest(path)) if path.parent.parent.name == "images" else None
            if same is not None:
                os.symlink(os.path.relpath(same, out.parent), out)
                linked += 1
            else:
                shutil.copyfile(path, out)
                copied += 1
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file() and not p.is_symlink())
    print(
        f"{OUT}: {len(picked)} train images kept, {linked} links, {copied} set files, "
        f"{size / 2**20:.1f} MiB"
    )


if __name__ == "__main__":
    main()
