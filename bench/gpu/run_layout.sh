#!/bin/bash
# For a lent GPU machine (prepared in session 23, when none was lent; tried on the CPU only):
# the layout-checked DeepPCB comparison at 240k images seen (240 epochs of 1,008 images, as on
# the CPU): 100 real images, seeds 0-2, and 50 real images, seeds 1 and 2 (seed 0 was trained
# on the CPU). Same commands as bench/start_layout.sh, except --device 0 --workers 2.
# With 15 minutes of device time in all (the start counts): call 1 with LIMIT=450
# STOP_AFTER=10m, call 2 straight after it (the machine stays warm 30 s) with LIMIT=150.
# Measured in session 24 (H200, 16 cores, torch 2.11): the machine started in about 40 s; the
# ten trainings side by side ran 52 epochs each in 590 s (11.3 s an epoch each, 0.88 training
# epochs a second in all, GPU busy 99%), so the ten 240-epoch trainings need about 46 minutes
# of device time, three sessions' worth, and only one paused training's weights (30 MB) come
# back per call: the 15-minute lease cannot finish this layout (bench/gpu/README.md).
# Session 25: one pair alone (REAL_SEEDS=100:1 WORKERS=6) ran 3.7 s an epoch each (GPU 78 %
# busy, load 4.9 of 16): epochs 168/169 of 240 in 11 minutes, so even a pair alone pauses,
# and both its last.pt come back (two collect calls) to finish on the CPU (bench/gpu/README.md).
#
# Prepare here: `python bench/gpu/make_carry.py` (the inputs, .gpu/tree) and the wheels in .whl
# (bench/gpu/README.md); move docs/img and bench/results out of the checkout for the calls (with
# them the tree that travels is over 64 MiB) and back after:
#   mkdir -p /tmp/aside && mv docs/img /tmp/aside/img && mv bench/results /tmp/aside/results
# run with carry [".whl", ".gpu"]:
#   call 1: `bash bench/gpu/run_layout.sh start`   starts the trainings (setsid: they outlive
#           the call while the machine stays warm) and reports progress until LIMIT seconds;
#   call 2: `bash bench/gpu/run_layout.sh collect` waits up to LIMIT seconds for them, then packs
#           results (no weights) and, for trainings still unfinished, last.pt/best.pt in parts.
# Both write $OUT/progress.txt (epochs per training) and $OUT/results.tgz.
# The runs' folders hold absolute paths (/work/main/...), as the kept CPU runs do, so the tree
# is copied to /work/main there when the checkout lies elsewhere. DEVICE, WORKERS, BUDGET_K,
# REAL_SEEDS and ARMS (see below) change what is trained; a dry run on a CPU machine:
#   ROOT=/tmp/gt/main OUT=/tmp/gt/out DEVICE=cpu WORKERS=0 BUDGET_K=3 REAL_SEEDS=50:1 \
#       STOP_AFTER=1m LIMIT=600 bash bench/gpu/run_layout.sh start
set -uo pipefail
mode=${1:-start}
T0=$(date +%s)
LIMIT=${LIMIT:-500}
STOP_AFTER=${STOP_AFTER:-11m}
ROOT=${ROOT:-/work/main}  # another ROOT only to try this script out on a CPU machine
if [ "$PWD" != "$ROOT" ]; then
    if [ "$mode" = start ]; then
        mkdir -p "$ROOT" && tar --exclude=./outputs --exclude=./.venv --exclude=./.git -cf - . \
            | tar -xf - -C "$ROOT"
    fi
    cd "$ROOT"
fi
DEVICE=${DEVICE:-0} WORKERS=${WORKERS:-2} BUDGET_K=${BUDGET_K:-240}
# REAL_SEEDS: "REAL_COUNT:SEED_INDICES" per run (ARMS of each seed index)
REAL_SEEDS=${REAL_SEEDS:-100:0,1,2 50:1,2}
# ARMS: the arms trained, comma list; `ARMS=real` trains real-only alone (at a larger budget,
# all the cross-budget check needs; README, "Not done yet")
ARMS=${ARMS:-real+checked,real}
arm_options=()
for arm in ${ARMS//,/ }; do arm_options+=(--arm "$arm"); done
python3 -c "import ultralytics" 2>/dev/null || [ -d /tmp/site/ultralytics ] || python3 -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir --target /tmp/site .whl/*.whl >/dev/null 2>&1 || { echo "wheels failed"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD/bench/gpu/site:$PWD PYTHONUNBUFFERED=1
export YOLO_OFFLINE=1 YOLO_AUTOINSTALL=False YOLO_CONFIG_DIR=/tmp/yolo_cfg OMP_NUM_THREADS=1
mkdir -p /tmp/yolo_cfg /tmp/bin /tmp/logs "$OUT"
# The guard matters: --parallel spawns workers that re-import the main script.
printf '#!/usr/bin/env python3\nimport sys\nfrom factory.cli import main\nif __name__ == "__main__":\n    sys.exit(main())\n' > /tmp/bin/factory
chmod +x /tmp/bin/factory
export PATH=/tmp/bin:$PATH
W=outputs/compare-bench

progress() {
    {
        echo "$(( $(date +%s) - T0 ))s into '$mode'"
        for csv in $W/run-*-"${BUDGET_K}"k-layout/runs/*/*/seed-*/train/results.csv; do
            [ -f "$csv" ] || continue
            folder=$(dirname "$(dirname "$csv")")
            done_flag=$([ -f "$folder/result.json" ] && echo finished || echo "")
            echo "$folder $(( $(wc -l < "$csv") - 1 )) epochs $done_flag"
        done
        nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
        uptime
    } > "$OUT/progress.txt"
    tar -czf "$OUT/results.tgz.part" --exclude='*.pt' --exclude='data' \
        $W/run-*-"${BUDGET_K}"k-layout /tmp/logs 2>/dev/null
    mv "$OUT/results.tgz.part" "$OUT/results.tgz"
}

if [ "$mode" = start ]; then
    mkdir -p outputs && cp -rL .gpu/tree/outputs/compare-bench outputs/
    { nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc --all; python3 -c \
        "import torch, ultralytics; print(torch.__version__, ultralytics.__version__)"; } \
        | tee "$OUT/machine.txt"
    for run in $REAL_SEEDS; do
        real=${run%%:*} seeds=${run#*:}
        parallel=$(( $(echo "$ARMS" | tr ',' '\n' | wc -l) * $(echo "$seeds" | tr ',' '\n' | wc -l) ))
        setsid nohup factory compare $W/deeppcb-split --real-count "$real" --synthetic-ratio 1 \
            --synthetic checked=$W/layout/real-"$real" --budget "${BUDGET_K}000" \
            --epochs "$BUDGET_K" --imgsz 320 --batch 16 --seeds 3 --device "$DEVICE" \
            --workers "$WORKERS" --parallel $parallel --out $W/run-"$real"-"${BUDGET_K}"k-layout \
            "${arm_options[@]}" --seed-index "$seeds" --stop-after "$STOP_AFTER" \
            > /tmp/logs/compare-"$real".log 2>&1 < /dev/null &
    done
fi
# Only this script's compares (another may run beside it on a CPU machine).
while pgrep -f -- "--out $W/run-[0-9]*-${BUDGET_K}k-layout" >/dev/null; do
    [ $(( $(date +%s) - T0 )) -gt "$LIMIT" ] && break
    sleep 15
    progress
done
progress
if [ "$mode" = collect ]; then
    # Weights of unfinished trainings, for resuming on the CPU, in the order of $RESUME (the
    # transfer back is 64 MB at most): last.pt whole (it holds the optimizer), best.pt
    # stripped to its EMA weights (all the evaluation needs), in 15 MB parts.
    rm -rf /tmp/w && mkdir -p /tmp/w
    for pattern in ${RESUME:-run-100-${BUDGET_K}k-layout/runs/*/*/seed-0 run-50-${BUDGET_K}k-layout/runs/*/*/seed-1}; do
        for folder in $W/$pattern; do
            [ -f "$folder/result.json" ] || [ ! -f "$folder/train/weights/last.pt" ] && continue
            mkdir -p "/tmp/w/$folder/train" && cp -a "$folder/train/weights" "/tmp/w/$folder/train/"
            python3 -c "from ultralytics.utils.torch_utils import strip_optimizer as s; \
                s('/tmp/w/$folder/train/weights/best.pt')" >/dev/null 2>&1
            [ "$(du -sm /tmp/w | cut -f1)" -gt 60 ] && { rm -rf "/tmp/w/$folder"; break 2; }
        done
    done
    (cd /tmp/w && tar -cf /tmp/weights.tar . ) && split -b 15m -d -a 1 /tmp/weights.tar \
        "$OUT/weights.tar.part"
fi
ls -la "$OUT"; cat "$OUT/progress.txt"; tail -n 3 /tmp/logs/*.log
