#!/usr/bin/env bash
# Wait until no `factory compare` is running, then re-report a run, keep it in the repository
# and commit it: what each sitting of a long benchmark ends with. Start it right after
# bench/start_layout.sh, in the background:
#
#   nohup setsid bash bench/keep_when_done.sh outputs/compare-bench/run-50-120k-layout \
#       bench/results/compare_deeppcb_run-50-120k-layout [MORE_FILES_TO_COMMIT ...] &
#
# It commits only the kept folder and the files named after it (for example the log). The
# resume state of trainings still paused goes into the kept folder's paused/ too (`keep_run.py
# save-paused`: 24.6 MB a training, last.pt and best.pt), so that a new machine goes on from
# there rather than starting over (bench/start_layout.sh puts it back).
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
run=$1 kept=$2
shift 2
sleep 60  # a compare started just before may not show in the process list yet
while pgrep -f "factory compare" >/dev/null; do sleep 60; done
echo "trainings ended at $(date)"
if compgen -G "$run/runs/*/*/seed-*/result.json" >/dev/null; then
    factory compare --report-only "$run"
    python bench/keep_run.py save "$run" "$kept"
else
    # A run whose every training is paused (a long budget's first sittings) has no report
    # yet; its validation curves and log still record how far it got.
    echo "no finished training in $run yet: keeping its validation curves and the log only"
    mkdir -p "$kept"
fi
python bench/val_curves.py "$run" --every 10 > "$kept/val_curves.md"
python bench/keep_run.py save-paused "$run" "$kept"
git add "$kept" "$@"
git commit -q -m "bench: keep $(basename "$run") ($(date -u +%F))" -- "$kept" "$@"
echo "kept and committed at $(date)"
