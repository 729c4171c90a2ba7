"""Benchmark: how torch's CPU thread count (`factory compare --threads`) changes a training's
pace and its numbers.

    python bench/cpu_threads.py [--threads 1,2] [--epochs 4] [--work /tmp/bench_threads]

Trains the quick preset's real arm (the demo data at 256 px, 144 images an epoch, seed 0) for
`--epochs` epochs once per thread count, on the CPU, and reports per count the seconds an
epoch (training and validation, the first epoch left out: it includes the set-up) and whether
each epoch's train loss and val mAP50-95 print the same as the first count's (ultralytics'
results.csv rounds them to 5 significant digits). Ultralytics alone picks one
thread less than the logical CPUs, up to 8: one thread on 2 cores. Run it on an idle machine;
results go to bench/results/cpu_threads.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from factory.compare.machine import cpu_model  # noqa: E402


def gradients_by_threads(counts: list[int]) -> list[str]:
    """Whether one conv block's forward output and weight gradients are bitwise the same at
    each thread count as at the first (fixed inputs; set back to torch's count after)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    block = torch.nn.Sequential(
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.SiLU(),
        torch.nn.Conv2d(32, 64, 3, padding=1),
    )
    with torch.no_grad():
        for parameter in block.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    x = torch.randn(16, 16, 80, 80, generator=generator)
    before = torch.get_num_threads()
    outcomes = []
    try:
        for threads in counts:
            torch.set_num_threads(threads)
            block.zero_grad()
            y = block(x)
            y.square().mean().backward()
            outcomes.append((y.detach().clone(), [p.grad.clone() for p in block.parameters()]))
    finally:
        torch.set_num_threads(before)
    lines = []
    for threads, (y, grads) in zip(counts[1:], outcomes[1:], strict=True):
        same_y = torch.equal(y, outcomes[0][0])
        same_grads = sum(torch.equal(g, h) for g, h in zip(grads, outcomes[0][1], strict=True))
        lines.append(
            f"- {threads} against {counts[0]} thread(s), torch {torch.__version__}: forward output "
            f"{'identical' if same_y else 'different'}; {same_grads} of {len(grads)} parameter "
            "gradients identical (two 3x3 convolutions with bias, batch 16, 80 x 80)."
        )
    return lines


def read_epochs(results_csv: Path) -> list[dict]:
    with open(results_csv, newline="") as handle:
        rows = [{k.strip(): v.strip() for k, v in row.items()} for row in csv.DictReader(handle)]
    return [
        {
            "epoch": int(float(row["epoch"])),
            "time": float(row["time"]),  # ultralytics: seconds since the sitting started
            "box_loss": row["train/box_loss"],
            "map50_95": row["metrics/mAP50-95(B)"],
        }
        for row in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_threads"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/cpu_threads.md")
    args = parser.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    if args.work.exists():
        shutil.rmtree(args.work)
    env = {**os.environ, "FACTORY_NO_PROGRESS": "1"}
    factory = [str(Path(sys.executable).with_name("factory"))]  # the venv's command
    demo = args.work / "demo"
    subprocess.run([*factory, "demo", "--out", str(demo)], check=True, env=env, cwd=ROOT)
    curves, walls = {}, {}
    for threads in counts:
        out = args.work / f"threads-{threads}"
        command = [*factory, "compare", str(demo), "--arm", "real", "--seeds", "1",
                   "--budget", str(144 * args.epochs), "--epochs", str(args.epochs),
                   "--imgsz", "256", "--batch", "16", "--bootstrap", "100", "--device", "cpu",
                   "--threads", str(threads), "--out", str(out)]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        walls[threads] = time.perf_counter() - start
        (results_csv,) = (out / "runs").rglob("results.csv")
        curves[threads] = read_epochs(results_csv)
        print(f"threads {threads}: {walls[threads]:.0f} s in all", flush=True)
    first = counts[0]
    lines = [
        "# torch CPU threads per training: pace and numbers (`python bench/cpu_threads.py`)",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} logical CPUs. The quick preset's real arm "
        f"on the demo data (256 px, 144 images an epoch, batch 16, seed 0), {args.epochs} "
        "epochs per thread count, one after the other on an otherwise idle machine.",
        "",
        f"| threads | s an epoch (epochs 2-{args.epochs}) | command wall s | epochs whose train "
        f"box loss and val mAP50-95 print the same as with {first} thread(s) |",
        "|---|---|---|---|",
    ]
    for threads in counts:
        curve = curves[threads]
        pace = (curve[-1]["time"] - curve[0]["time"]) / max(1, len(curve) - 1)
        same = sum(
            (a["box_loss"], a["map50_95"]) == (b["box_loss"], b["map50_95"])
            for a, b in zip(curve, curves[first], strict=True)
        )
        lines.append(f"| {threads} | {pace:.1f} | {walls[threads]:.0f} | {same} of {len(curve)} |")
    lines += ["", "Bitwise, one conv block:", "", *gradients_by_threads(counts), ""]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
