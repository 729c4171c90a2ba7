"""Benchmark: real versus real+synthetic YOLOv8n on DeepPCB, 50 and 100 real train images.

Protocol (issue 4): DeepPCB trainval imported with `factory import deeppcb` and split with
`factory split` (200 test, 100 val, 700 train, seed 0, test locked); for each real-data size
the synthetic set is generated on the fly by `factory synth` from that subset's defects only;
YOLOv8n from scratch at 320 px, batch 16, the same budget in images seen for both arms
(default 30,000: where real-only levels off on 100 images), 3 seeds, CPU.

Resumable: every finished training is kept in the run folder and skipped when the script runs
again; the report (report.md, results.json, plots) is rewritten after each training and copied,
with every finished training's result and test predictions, to bench/results/compare_deeppcb/
(`python bench/keep_run.py restore` puts them back in a fresh checkout). Run it in the
background:

    nohup python bench/bench_compare_deeppcb.py > bench/results/compare_deeppcb.log 2>&1 &

A full run is 2 sizes x 2 arms x 3 seeds = 12 trainings of ~40+ minutes each on 2 cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "datasets" / "deeppcb-trainval"
RESULTS = ROOT / "bench" / "results" / "compare_deeppcb"


def factory(*args: str) -> None:
    subprocess.run([str(Path(sys.executable).parent / "factory"), *args], check=True, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "compare-bench")
    parser.add_argument("--budget", type=int, default=30_000, help="images seen per training")
    parser.add_argument("--epochs", type=int, default=30, help="validation points per training")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--real-count", default="100,50", help="comma list, run in this order")
    parser.add_argument("--per-class", type=int, default=100, help="synth --per-class")
    parser.add_argument("--max-synthetic-ratio", type=float, default=3.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--parallel", type=int, default=1, help="trainings at once")
    parser.add_argument("--arm", action="append", help="train only these arms now (e.g. real)")
    parser.add_argument(
        "--run-name", default="run", help="run folder under --work (one per budget)"
    )
    args = parser.parse_args()

    imported = args.work / "deeppcb"
    split = args.work / "deeppcb-split"
    if not (imported / "data.yaml").is_file():
        factory("import", "deeppcb", str(SOURCE), "--out", str(imported), "--overwrite")
    if not (split / "data.yaml").is_file():
        factory("split", str(imported), "--out", str(split), "--test", "200", "--val", "100",
                "--seed", "0", "--overwrite")  # fmt: skip

    from factory.compare import CompareOptions, run_compare

    options = CompareOptions(
        dataset=split,
        out=args.work / args.run_name,
        seeds=args.seeds,
        images_seen=args.budget,
        epochs=args.epochs,
        batch=args.batch,
        imgsz=[args.imgsz],
        real_count=[float(v) for v in args.real_count.split(",")],
        synth_per_class=args.per_class,
        synth_options={"max_synthetic_ratio": args.max_synthetic_ratio, "workers": 1},
        device=args.device,
        only_arms=args.arm,
        parallel=args.parallel,
        command=" ".join(["python", "bench/bench_compare_deeppcb.py", *sys.argv[1:]]),
    )

    # Each run name keeps its own copy of the report (the first run's is compare_deeppcb/).
    results = (
        RESULTS if args.run_name == "run" else RESULTS.with_name(f"{RESULTS.name}_{args.run_name}")
    )

    # The report and every finished training with its test predictions, so that a fresh
    # checkout can restore the run (bench/keep_run.py restore) and resume it.
    sys.path.insert(0, str(ROOT / "bench"))
    from keep_run import save

    def publish(run_dir: Path) -> None:
        save(run_dir, results)
        print(f"{time.strftime('%H:%M:%S')} report updated in {results}", flush=True)

    start = time.time()
    run_compare(options, on_report=publish)
    print(f"finished in {(time.time() - start) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
