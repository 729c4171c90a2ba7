"""Copy finished trainings (the real arm by default) from one compare run folder into another.

The real arm does not depend on the synthetic set, so a comparison of a new synthetic set
can reuse the real trainings of an earlier run instead of training them again:

    factory compare DATASET ... --arm real+synthetic --out NEW       # train the new arm only
    python bench/copy_real_arm.py OLD NEW --setting real-100_ratio-all_img-320 --seeds 0,1,2
    factory compare DATASET ... --out NEW                            # reuses them, reports

Safe by construction: `factory compare` reuses a copied training only when its recorded
specification (model, image size, budget, seed, hyperparameters, and the digest of its train
list relative to the arm folder) equals the one it would train now; otherwise it trains the
arm again. Result files written before the train-list digest became folder-independent hold
sha256(train.txt) instead; they are rewritten to the relative digest of the *source* run's
own train list, after checking that the old digest matches that file.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from factory.compare.runner import train_list_digest
from factory.io import sha256_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="run folder holding the finished real arm")
    parser.add_argument("target", type=Path, help="run folder to copy it into")
    parser.add_argument(
        "--setting", required=True, help="setting key, e.g. real-100_ratio-all_img-320"
    )
    parser.add_argument("--seeds", default="0", help="seed indices, comma list")
    parser.add_argument("--arm", default="real", help="arm name (default: real)")
    args = parser.parse_args()
    arm_data = args.source / "data" / args.setting / args.arm
    # One train list per arm and setting, whatever the seed: digest it once.
    relative = train_list_digest(arm_data)
    legacy = sha256_file(arm_data / "train.txt")
    for index in (int(v) for v in args.seeds.split(",")):
        source = args.source / "runs" / args.setting / args.arm / f"seed-{index}"
        target = args.target / "runs" / args.setting / args.arm / f"seed-{index}"
        result_path = source / "result.json"
        if not result_path.is_file():
            raise SystemExit(f"error: {result_path}: no finished training")
        if target.exists():
            raise SystemExit(f"error: {target}: already exists")
        record = json.loads(result_path.read_text())
        digest = record["spec"]["train_list_sha256"]
        if digest not in (relative, legacy):
            raise SystemExit(f"error: {result_path}: its train-list digest matches no train list")
        shutil.copytree(source, target)
        record["spec"]["train_list_sha256"] = relative
        (target / "result.json").write_text(json.dumps(record, indent=2))
        print(f"copied {source} -> {target} (test mAP50-95 {record['metrics']['map50_95']:.4f})")


if __name__ == "__main__":
    main()
