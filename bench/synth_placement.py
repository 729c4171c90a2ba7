"""Placement faithfulness of `factory synth` outputs: do shorts/bridges join two traces and
opens cut one, as the real instances of those classes do?

    python bench/synth_placement.py SYNTH_DIR [SYNTH_DIR ...] [--json OUT.json]

For every paste of a short-like class (DeepPCB `short`, demo `bridge`) and an open-like class
(`open`), reads its clean background, the synthetic image and its instance mask (the pixels it
changed) and applies `factory.synth.topology.topology_change`. The real instances of the
source dataset are measured the same way (clean reference -> defect image, bank masks).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from factory.io import read_image, read_mask
from factory.synth.topology import topology_change

SHORTS = ("short", "bridge")
OPENS = ("open",)


def measure_synth(folder: Path) -> dict:
    counts: dict[str, list[bool]] = {}
    for line in (folder / "manifest.jsonl").read_text().splitlines():
        record = json.loads(line)
        output = read_image(folder / record["image"])
        background = read_image(folder / record["background"]["path"])
        instance = read_mask(folder / "masks" / "train" / f"{record['id']}.png")
        for k, paste in enumerate(record["pastes"]):
            name = paste["class"]
            if name not in SHORTS + OPENS:
                continue
            change = topology_change(background, output, instance == k + 1)
            ok = change["joins"] if name in SHORTS else change["cuts"]
            counts.setdefault(name, []).append(bool(ok))
    return {n: {"n": len(v), "fraction": round(float(np.mean(v)), 3)} for n, v in counts.items()}


def measure_real(folder: Path) -> dict:
    """Real train instances, from the bank cache the synth run used (reference contexts)."""
    summary = json.loads((folder / "summary.json").read_text())
    bank = Path(summary["bank"]["cache"])
    index = json.loads((bank / "index.json").read_text())
    counts: dict[str, list[bool]] = {}
    for info in index["patches"]:
        name = info["class_name"]
        if name not in SHORTS + OPENS or info["context"] != "reference":
            continue
        pid = info["patch_id"]
        image = read_image(bank / "patches" / f"{pid}.png")
        clean = read_image(bank / "patches" / f"{pid}_context.png")
        mask = read_mask(bank / "patches" / f"{pid}_mask.png") > 0
        change = topology_change(clean, image, mask)
        counts.setdefault(name, []).append(
            bool(change["joins"] if name in SHORTS else change["cuts"])
        )
    return {n: {"n": len(v), "fraction": round(float(np.mean(v)), 3)} for n, v in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {}
    for folder in args.folders:
        results[str(folder)] = {"synthetic": measure_synth(folder), "real": measure_real(folder)}
        print(folder, json.dumps(results[str(folder)]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
