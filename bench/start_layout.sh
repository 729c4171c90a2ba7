#!/usr/bin/env bash
# Rebuild the inputs of the layout-checked DeepPCB comparison in a fresh checkout and start
# the missing trainings in the background. Start it in the first minutes of a session: two
# 60k trainings at once took 1 h 57 min (session 7), 66 min (session 9), 1 h 51 min
# (session 10) and 1 h 46 min (session 11; one alone ran no faster) on 2 CPU cores; a 120k
# pair takes twice that, so it spans two sessions.
# outputs/ may not survive the session (the kept results in bench/results/ do); when it
# does, re-running the same command resumes an interrupted training from its last.pt. When it
# does not, the paused trainings that bench/keep_when_done.sh kept (the kept folder's paused/,
# last.pt included) are put back first, so a new machine resumes them too.
#
#   bash bench/start_layout.sh [SEED_INDICES] [ARMS] [REAL_COUNT] [SEEDS] [BUDGET_K]
#   # defaults: 1,2 real+checked 50 3 60; e.g. `bench/start_layout.sh 0,1 real 100`
#   # ARMS may be a comma list: `bench/start_layout.sh 2 real+checked,real 100` trains
#   # seed 2 of both arms, a pair whose difference the bootstrap can resample.
#   # SEEDS above 3 adds seeds to the run: `bench/start_layout.sh 3 real+checked,real 50 4`
#   # trains a fourth pair at 50 real images (seed 0 there kept no test predictions).
#   # BUDGET_K is the budget in thousands of images seen, over as many epochs (60: 60
#   # epochs of 1,008 images): `bench/start_layout.sh 0 real+checked,real 50 3 120`.
#
# To re-report, keep and commit the run when they finish, start bench/keep_when_done.sh
# beside it: `nohup setsid bash bench/keep_when_done.sh outputs/compare-bench/run-N-Kk-layout
# bench/results/compare_deeppcb_run-N-Kk-layout LOG &`.
#
# `bench/start_layout.sh --inputs-only REAL_COUNT` only builds the inputs (import, split, view,
# checked set) and trains nothing: bench/start_margin.sh starts with it.
#
# STOP_AFTER=2h40m passes `--stop-after 2h40m` to the compare: the trainings pause cleanly at
# the first epoch end past it (last.pt saved) and the same command resumes them next sitting,
# for a run too long for one session (a 240k pair: about 4 to 7 h on 2 cores).
#
# MARGINS=fixed uses the checked set labelled with fixed margins (the default of `factory synth`
# since 2026-11-24) instead of the scaled ones that the kept runs used, in a run of its own:
# `MARGINS=fixed bash bench/start_layout.sh 0 real+checked,real 100 3 120` trains
# outputs/compare-bench/run-100-120k-fixed (kept as bench/results/compare_deeppcb_run-100-120k-fixed).
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
inputs_only=false
if [ "${1:-}" = --inputs-only ]; then
    inputs_only=true
    shift
    set -- 1,2 real+checked "${1:-50}"
fi
seeds="${1:-1,2}"
arms="${2:-real+checked}"
real="${3:-50}"
n_seeds="${4:-3}"
budget_k="${5:-60}"
margins="${MARGINS:-scaled}"
case $margins in
    scaled) name=layout sets=layout ;;
    fixed) name=fixed sets=layout-fixed ;;
    *) echo "MARGINS must be scaled or fixed, not '$margins'" >&2; exit 1 ;;
esac
W=outputs/compare-bench
RUN=$W/run-$real-${budget_k}k-$name
KEPT=bench/results/compare_deeppcb_run-$real-${budget_k}k-$name
# The 50-image view sits where the 30k run that first made it put it.
SOURCE=$W/views/real-$real
[ "$real" = 50 ] && SOURCE=$W/run-50-30k/synth/real-50/source

[ -f $W/deeppcb/data.yaml ] || factory import deeppcb ../shared/datasets/deeppcb-trainval \
    --out $W/deeppcb --overwrite
[ -f $W/deeppcb-split/data.yaml ] || factory split $W/deeppcb --out $W/deeppcb-split \
    --test 200 --val 100 --seed 0 --overwrite
[ -f $SOURCE/data.yaml ] || python bench/subset_view.py $W/deeppcb-split --real-count "$real" \
    --out $SOURCE
# Byte-identical to the set the kept trainings used (the compare checks the train list digest).
# Those sets were labelled before label margins stopped growing with the paste scale, hence
# --box-margin-scaling scaled (README, "Label convention").
# layout-fixed/ holds the same pastes with fixed margins (bench/start_margin.sh made it first).
[ -f $W/$sets/real-$real/data.yaml ] || factory synth $SOURCE --out $W/$sets/real-$real \
    --per-class 100 --max-synthetic-ratio 3 --box-margin-scaling "$margins"
$inputs_only && exit 0

# A training repeats the kept ones only with the same training packages (and a like CPU):
# say so up front when this machine's versions differ from those the kept run reported.
[ -f $KEPT/results.json ] && python - "$KEPT/results.json" <<'PY'
import json, sys
from factory.compare.machine import machine
kept = json.load(open(sys.argv[1])).get("versions", {})
here = machine()
changed = [f"{k} {kept[k]} -> {here[k]}" for k in here if k in kept and kept[k] != here[k]]
if changed:
    print(f"note: this machine differs from the kept run's report ({'; '.join(changed)}):"
          " its trainings may not repeat the kept ones epoch for epoch")
PY
arm_options=() skip_options=()
for arm in ${arms//,/ }; do
    arm_options+=(--arm "$arm")
    skip_options+=(--skip "$arm:$seeds")
done
arms_name=${arms//+/-}
# Appended to, so that the log of a resumed training keeps its earlier sittings.
log=bench/results/compare_deeppcb_run-$real-${budget_k}k-$name-${arms_name//,/_}-s${seeds//,/}.log
# A new machine has no run folder: the paused trainings come back before the compare opens it.
[ -f $KEPT/paused/config.json ] && python bench/keep_run.py restore-paused $KEPT $RUN
# --threads 1: what ultralytics chose on the 2-core machines that trained the kept runs;
# pinned (session 31) so that a larger machine trains the same way (the count changes the
# gradients bitwise).
nohup setsid factory compare $W/deeppcb-split --real-count "$real" --synthetic-ratio 1 \
    --synthetic checked=$W/$sets/real-$real --budget "${budget_k}000" --epochs "$budget_k" \
    --imgsz 320 --batch 16 --seeds "$n_seeds" --device cpu --parallel 2 --threads 1 --out $RUN \
    "${arm_options[@]}" --seed-index "$seeds" ${STOP_AFTER:+--stop-after "$STOP_AFTER"} \
    >> "$log" 2>&1 &
# The compare creates the run folder first; then the kept trainings go back into it, except
# the ones it is training again now (their folders may not exist yet). A kept folder without
# results.json holds only the val curves of trainings that were all paused: nothing to restore.
for _ in $(seq 120); do [ -f $RUN/plan.json ] && break; sleep 1; done
[ -f $KEPT/results.json ] && python bench/keep_run.py restore $KEPT $RUN "${skip_options[@]}"
echo "trainings started (log: $log)"
