"""Benchmark: generate the default demo dataset (`factory demo`) and time it.

    python bench/bench_demo.py [--repeats 3] [--work /tmp/bench_demo] [--seed 0]

Reports wall-clock and CPU seconds per run (median over repeats), images per second
(split images + references + clean dies) and the size on disk, and checks that every
repeat wrote byte-identical files. Results go to bench/results/demo.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import time
from pathlib import Path

os.environ.setdefault("FACTORY_NO_PROGRESS", "1")

from factory.dataset import load_dataset
from factory.demo import DemoConfig, generate_demo

ROOT = Path(__file__).resolve().parents[1]


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_demo"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "demo.json")
    args = parser.parse_args()

    walls, cpus, digests = [], [], []
    for repeat in range(args.repeats):
        out = args.work / f"run{repeat}"
        shutil.rmtree(out, ignore_errors=True)
        wall, cpu = time.perf_counter(), time.process_time()
        generate_demo(out, seed=args.seed)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        digests.append(tree_digest(out))
    dataset = load_dataset(args.work / "run0")
    split_images = len(dataset.images)
    written = 2 * split_images + len(dataset.clean_images)  # images + references + clean
    size_mb = sum(p.stat().st_size for p in (args.work / "run0").rglob("*") if p.is_file()) / 1e6
    config = DemoConfig()
    result = {
        "command": "python bench/bench_demo.py " + f"--repeats {args.repeats} --seed {args.seed}",
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible",
        "image_size": config.image_size,
        "split_images": {s: len(dataset.split(s)) for s in ("train", "val", "test")},
        "clean_images": len(dataset.clean_images),
        "images_written": written,
        "wall_s_median": round(statistics.median(walls), 2),
        "cpu_s_median": round(statistics.median(cpus), 2),
        "wall_s_all": [round(w, 2) for w in walls],
        "images_per_s_wall": round(written / statistics.median(walls), 1),
        "size_mb": round(size_mb, 1),
        "identical_bytes_across_repeats": len(set(digests)) == 1,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
