"""Paired statistics for finished trainings that live in different compare run folders.

`factory compare` pairs arms inside one run folder. When an arm was trained in its own
folder and the real arm it should be compared with exists only in another run (with another
epoch-list order, for example), or when the seeds of one comparison were trained in several
folders, this script gives the same paired figures from the saved test predictions, using
the factory's own code: each model's test mAP50-95, the paired difference per seed, mean and
standard deviation per arm, the bootstrap 95% CI over test images of the difference of the
seed means (the same draws for every model), and the verdict sentence of `factory compare`.

    python bench/pair_trainings.py BASE_SEED_DIR OTHER_SEED_DIR [--resamples 1000]
    python bench/pair_trainings.py --pair BASE0 OTHER0 --pair BASE1 OTHER1 ... [--out F.json]

Every folder is a `runs/<setting>/<arm>/seed-<k>/` folder holding `result.json` and
`detections.npz`; all must have been evaluated on the same locked test split. The two
trainings of a pair should share their training seed (a warning says when they do not).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from factory.compare.evaluate import load_detections
from factory.compare.metrics import build_match_table
from factory.compare.stats import bootstrap_difference, mean_std, verdict


def load(folder: Path):
    result = json.loads((folder / "result.json").read_text())
    detections, keys = load_detections(folder / result["detections"])
    return result, detections, keys


def pair_statistics(
    pairs: list[tuple[Path, Path]],
    resamples: int = 1000,
    names: tuple[str, str] = ("base", "other"),
) -> dict:
    """Per-pair and pooled paired figures for ``[(base_dir, other_dir), ...]``."""
    rows, base_tables, other_tables, test_keys = [], [], [], None
    for base_dir, other_dir in pairs:
        base, base_detections, base_keys = load(base_dir)
        other, other_detections, other_keys = load(other_dir)
        for keys in (base_keys, other_keys):
            if test_keys is None:
                test_keys = keys
            elif keys != test_keys:
                raise SystemExit(
                    f"error: {other_dir}: not evaluated on the same test images as {pairs[0][0]}"
                )
        if base["spec"]["seed"] != other["spec"]["seed"]:
            print(f"warning: {base_dir} and {other_dir} used different training seeds",
                  file=sys.stderr)  # fmt: skip
        classes = len(base["metrics"]["per_class"])
        base_tables.append(build_match_table(base_detections, classes))
        other_tables.append(build_match_table(other_detections, classes))
        rows.append(
            {
                "base": {"folder": str(base_dir), "map50_95": base["metrics"]["map50_95"]},
                "other": {"folder": str(other_dir), "map50_95": other["metrics"]["map50_95"]},
                "training_seed": base["spec"]["seed"],
                "difference": other["metrics"]["map50_95"] - base["metrics"]["map50_95"],
            }
        )
    key = "|".join(f"{b}|{o}" for b, o in pairs)
    boot = bootstrap_difference(base_tables, other_tables, resamples=resamples, seed=0, key=key)
    differences = [r["difference"] for r in rows]
    return {
        "pairs": rows,
        "base": mean_std([r["base"]["map50_95"] for r in rows]),
        "other": mean_std([r["other"]["map50_95"] for r in rows]),
        "difference": mean_std(differences),
        "ci95": [boot["ci_low"], boot["ci_high"]],
        "test_images": boot["test_images"],
        "names": list(names),
        "verdict": verdict(names[1], names[0], differences, boot),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, nargs="?")
    parser.add_argument("other", type=Path, nargs="?")
    parser.add_argument("--pair", nargs=2, type=Path, action="append", metavar=("BASE", "OTHER"))
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--names", default="base,other", help="arm names, e.g. real,real+labelled")
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    pairs = [tuple(p) for p in args.pair or []]
    if args.base and args.other:
        pairs.insert(0, (args.base, args.other))
    if not pairs:
        parser.error("give BASE OTHER or at least one --pair BASE OTHER")
    out = pair_statistics(pairs, args.resamples, tuple(args.names.split(",", 1)))
    text = json.dumps(out, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
