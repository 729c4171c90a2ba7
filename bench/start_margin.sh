#!/usr/bin/env bash
# Does the label margin convention matter? Retrains the `real+checked` arm of the layout
# comparison with the same pastes labelled with fixed margins (the default since 2026-11-24)
# instead of margins that grew with the paste scale. Everything else is the same: the set is
# named `checked` here too, so the arm draws the same synthetic images, in the same epoch
# order, with the same training seeds; only the label boxes differ (README, "Label
# convention"). The real arm is the kept one of the layout comparison (same train list,
# budget and seeds), so it is not trained again; `bench/pair_trainings.py` pairs the two
# labellings seed by seed.
#
#   bash bench/start_margin.sh [SEED_INDICES] [REAL_COUNT] [SEEDS] [BUDGET_K]
#   # defaults: 0,1 100 3 60: seeds 0 and 1 at 100 real images, 60k images seen
#
# Start it in the first minutes of a session (two 60k trainings at once take about 1 h 50 min
# on 2 CPU cores); re-running the same command resumes from last.pt while outputs/ survives.
# Then keep it with `nohup setsid bash bench/keep_when_done.sh outputs/compare-bench/run-N-Kk-margin
# bench/results/compare_deeppcb_run-N-Kk-margin LOG &`.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
seeds="${1:-0,1}"
real="${2:-100}"
n_seeds="${3:-3}"
budget_k="${4:-60}"
W=outputs/compare-bench
RUN=$W/run-$real-${budget_k}k-margin
KEPT=bench/results/compare_deeppcb_run-$real-${budget_k}k-margin
LAYOUT_KEPT=bench/results/compare_deeppcb_run-$real-${budget_k}k-layout
SOURCE=$W/views/real-$real
[ "$real" = 50 ] && SOURCE=$W/run-50-30k/synth/real-50/source

# The inputs of the layout comparison (import, split, real view, the scaled-margin set) ...
bash bench/start_layout.sh --inputs-only "$real"
# ... and the same pastes with fixed label margins.
[ -f $W/layout-fixed/real-$real/data.yaml ] || factory synth $SOURCE \
    --out $W/layout-fixed/real-$real --per-class 100 --max-synthetic-ratio 3 \
    --box-margin-scaling fixed

log=bench/results/compare_deeppcb_run-$real-${budget_k}k-margin-s${seeds//,/}.log
nohup setsid factory compare $W/deeppcb-split --real-count "$real" --synthetic-ratio 1 \
    --synthetic checked=$W/layout-fixed/real-$real --budget "${budget_k}000" \
    --epochs "$budget_k" --imgsz 320 --batch 16 --seeds "$n_seeds" --device cpu --parallel 2 \
    --out $RUN --arm real+checked --seed-index "$seeds" >> "$log" 2>&1 &
for _ in $(seq 120); do [ -f $RUN/plan.json ] && break; sleep 1; done
[ -d $LAYOUT_KEPT ] && python bench/keep_run.py restore $LAYOUT_KEPT $RUN --arm real
[ -d $KEPT ] && python bench/keep_run.py restore $KEPT $RUN --skip "real+checked:$seeds"
echo "trainings started (log: $log)"
