"""Write the dataset view that `factory compare --real-count N` synthesises from.

`factory compare` generates a synthetic set from the defects of its real subset only, through
a view of symlinks at RUN/synth/real-N/source. Later synthetic sets of the benchmark (the
snapped and layout-checked ones) were made by `factory synth` on that view. This rebuilds the
view alone, without generating or training anything, so a fresh checkout can recreate those
sets byte for byte:

    python bench/subset_view.py outputs/compare-bench/deeppcb-split --real-count 50 \\
        --out outputs/compare-bench/run-50-30k/synth/real-50/source

The subset is the one `factory compare` picks: the same function, the same --seed (default 0).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from factory.compare.arms import real_subset
from factory.compare.runner import make_view
from factory.dataset import load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="split dataset (factory split output)")
    parser.add_argument("--real-count", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0, help="the compare run's --seed")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"error: {args.out} is not empty; remove it first")
    dataset = load_dataset(args.dataset)
    records = real_subset(dataset.split("train"), args.real_count, args.seed)
    make_view(dataset, records, args.out)
    print(f"wrote {args.out}: {len(records)} train images (seed {args.seed})")


if __name__ == "__main__":
    main()
