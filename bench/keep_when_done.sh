#!/usr/bin/env bash
# Wait until no `factory compare` is running, then re-report a run, keep it in the repository
# and commit it: what each sitting of a long benchmark ends with. Start it right after
# bench/start_layout.sh, in the background:
#
#   nohup setsid bash bench/keep_when_done.sh outputs/compare-bench/run-50-120k-layout \
#       bench/results/compare_deeppcb_run-50-120k-layout [MORE_FILES_TO_COMMIT ...] &
#
# It commits only the kept folder and the files named after it (for example the log).
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
run=$1 kept=$2
shift 2
sleep 60  # a compare started just before may not show in the process list yet
while pgrep -f "factory compare" >/dev/null; do sleep 60; done
echo "trainings ended at $(date)"
factory compare --report-only "$run"
python bench/keep_run.py save "$run" "$kept"
python bench/val_curves.py "$run" --every 10 > "$kept/val_curves.md"
git add "$kept" "$@"
git commit -q -m "bench: keep $(basename "$run") ($(date -u +%F))" -- "$kept" "$@"
echo "kept and committed at $(date)"
