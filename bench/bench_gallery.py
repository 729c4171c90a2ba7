"""Benchmark: build the gallery of a 2,000-image synthetic set (cold, then with warm caches).

    python bench/bench_gallery.py [--samples 2000] [--size 640] [--work /tmp/bench_gallery]

The synthetic set is a fake one that follows the synth output contract (alpha pastes of the
demo dataset's train defects on procedural 640x640 backgrounds, 3 to 8 pastes each, quality
in the manifest as the real engine writes it), so the figure measures the gallery alone.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import time
from pathlib import Path

os.environ.setdefault("FACTORY_NO_PROGRESS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_gallery"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from factory.demo import generate_demo
    from factory.gallery import GalleryOptions, build_gallery
    from factory.gallery.testing import make_fake_synth

    source = args.work / "demo"
    synth = args.work / f"synth_{args.samples}"
    if not (source / "data.yaml").is_file():
        generate_demo(source, seed=0, overwrite=True)
    if not (synth / "manifest.jsonl").is_file():
        started = time.perf_counter()
        make_fake_synth(
            source,
            synth,
            samples=args.samples,
            pastes_range=(3, 8),
            background_size=args.size,
            blends=("alpha",),
        )
        print(
            f"made fake synth set: {args.samples} images in {time.perf_counter() - started:.1f} s"
        )
    shutil.rmtree(synth / "gallery", ignore_errors=True)
    options = GalleryOptions(workers=args.workers)
    for label in ("cold (no thumbnails)", "warm (cached thumbnails)"):
        started = time.perf_counter()
        index = build_gallery(synth, options=options)
        seconds = time.perf_counter() - started
        print(f"{label}: {seconds:.1f} s for {args.samples} images -> {index}")
    size_mb = sum(p.stat().st_size for p in (synth / "gallery").rglob("*") if p.is_file()) / 1e6
    html_mb = index.stat().st_size / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"gallery folder {size_mb:.1f} MB (index.html {html_mb:.2f} MB); peak RSS {peak_mb:.0f} MB"
    )
    print(f"cpu cores visible: {os.cpu_count()}, workers: {args.workers}")


if __name__ == "__main__":
    main()
