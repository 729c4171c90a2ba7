"""Does each paste still show its class? Layout signatures of real and pasted defects.

On a near-binary layout (a PCB) a defect's class is largely what it does to the layout:
which material it is made of, and how many pieces of that material it touched before
(`factory.synth.topology.change_signature`): none (spurious copper, pin-hole), one (spur,
mouse bite) or two that it now joins (short, open). A paste whose signature differs from
that of the real instance it was cut from shows the detector another class than its label.

For every paste in a `factory synth` output (its clean background, the output image and its
instance mask) and for every source patch the output keeps (`sources/patches/`: patch,
mask, clean context), prints per class the real signatures, the pasted ones, and the share
of pastes whose signature equals their own source's.

    python bench/synth_signature.py SYNTH_DIR [SYNTH_DIR ...] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from factory.io import read_image, read_mask
from factory.synth.topology import change_signature


def source_signatures(folder: Path) -> dict[str, str]:
    """Signature of every source patch that has a clean context, by patch id."""
    out = {}
    for mask_path in sorted((folder / "sources" / "patches").glob("*_mask.png")):
        patch_id = mask_path.name[: -len("_mask.png")]
        context = mask_path.with_name(f"{patch_id}_context.png")
        if not context.is_file():
            continue
        patch = read_image(mask_path.with_name(f"{patch_id}.png"))
        out[patch_id] = change_signature(read_image(context), patch, read_mask(mask_path) > 0)
    return out


def measure(folder: Path) -> dict:
    sources = source_signatures(folder)
    real: dict[str, Counter] = defaultdict(Counter)
    pasted: dict[str, Counter] = defaultdict(Counter)
    same: dict[str, list[bool]] = defaultdict(list)
    source_class = {}
    for line in (folder / "manifest.jsonl").read_text().splitlines():
        record = json.loads(line)
        output = read_image(folder / record["image"])
        background = read_image(folder / record["background"]["path"])
        instance = read_mask(folder / "masks" / "train" / f"{record['id']}.png")
        for k, paste in enumerate(record["pastes"]):
            source_class[paste["patch_id"]] = paste["class"]
            signature = change_signature(background, output, instance == k + 1)
            pasted[paste["class"]][signature] += 1
            if paste["patch_id"] in sources:
                same[paste["class"]].append(signature == sources[paste["patch_id"]])
    for patch_id, signature in sources.items():
        if patch_id in source_class:
            real[source_class[patch_id]][signature] += 1
    return {
        name: {
            "real_sources": dict(real[name].most_common()),
            "pasted": dict(pasted[name].most_common()),
            "pastes_with_a_source_signature": len(same[name]),
            "same_as_source": round(sum(same[name]) / max(len(same[name]), 1), 3),
        }
        for name in sorted(pasted)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {}
    for folder in args.folders:
        results[str(folder)] = measure(folder)
        print(folder)
        for name, row in results[str(folder)].items():
            real = ", ".join(f"{k} {v}" for k, v in row["real_sources"].items())
            pasted = ", ".join(f"{k} {v}" for k, v in row["pasted"].items())
            print(
                f"  {name:<10} same as source {row['same_as_source']:.3f}"
                f" ({row['pastes_with_a_source_signature']})\n"
                f"    real:   {real}\n    pasted: {pasted}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
