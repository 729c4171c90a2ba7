"""Do a synthetic set's boxes follow the real annotators' box convention?

For every paste in a `factory synth` manifest, compares its final label box (from the
pixels that changed, plus the learned margin) with the box a person drew around the source
defect, scaled by the paste's scale (sides swapped after an odd number of 90-degree turns).
Prints, per class, the median and quartiles of width and height ratios (final / expected):
about 1 means the synthetic labels are as tight as the real ones *if* the annotators' margin
grew with the defect. It does not on DeepPCB (a fixed margin of about 10 px): that question
is bench/label_margin_convention.py's, which found the scaled margins this ratio could not see.

    python bench/box_vs_source.py SYNTH_DIR [--out F.json]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def box_ratios(manifest: Path) -> dict[str, np.ndarray]:
    """Per class, an ``(n, 2)`` array of (width, height) ratios final / scaled source."""
    ratios = defaultdict(list)
    for line in manifest.read_text().splitlines():
        for paste in json.loads(line)["pastes"]:
            sx, transform = paste["source_xyxy"], paste["transform"]
            expected = np.array([sx[2] - sx[0], sx[3] - sx[1]], float) * transform["scale"]
            if transform.get("turns_90", 0) % 2:
                expected = expected[::-1]
            x = paste["xyxy"]
            ratios[paste["class"]].append(np.array([x[2] - x[0], x[3] - x[1]]) / expected)
    return {name: np.array(values) for name, values in sorted(ratios.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("synth_dir", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = {}
    for name, values in box_ratios(args.synth_dir / "manifest.jsonl").items():
        q = np.percentile(values, [25, 50, 75], axis=0).round(3)
        rows[name] = {"pastes": len(values), "width_q25_50_75": q[:, 0].tolist(),
                      "height_q25_50_75": q[:, 1].tolist()}  # fmt: skip
        print(f"{name:12s} {len(values):4d} pastes  width {q[1, 0]:.2f} [{q[0, 0]:.2f}, "
              f"{q[2, 0]:.2f}]  height {q[1, 1]:.2f} [{q[0, 1]:.2f}, {q[2, 1]:.2f}]")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
