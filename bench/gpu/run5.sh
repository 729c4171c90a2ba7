#!/bin/bash
# GPU session 5: DeepPCB, 100 real: real vs real+clean vs real+labelled at synthetic ratio
# 0.25 and 0.5, 30,000 images seen, one seed index per call (SEEDIDX), 5 trainings at once.
T0=$(date +%s); LIMIT=${LIMIT:-560}; SEEDIDX=${SEEDIDX:-0}
source .gpu/setup.sh
W=$PWD/outputs/gpu5; mkdir -p $W $OUT
log() { echo "$(( $(date +%s) - T0 ))s $*" | tee -a $OUT/timeline.txt; }
pack() { tar -czf $OUT/run.tgz.part -C $W --exclude='*.pt' --exclude='data' run clean/summary.json labelled/summary.json clean/manifest.jsonl labelled/manifest.jsonl 2>/dev/null; mv $OUT/run.tgz.part $OUT/run.tgz; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > $OUT/gpu.txt; nproc >> $OUT/gpu.txt
log start seed-index $SEEDIDX
(
  if [ ! -f $W/clean/summary.json ] || [ ! -f $W/labelled/summary.json ]; then
    factory synth .gpu/deeppcb100 --out $W/clean --per-class 100 --max-synthetic-ratio 1 --workers 8 --no-gallery --overwrite > $OUT/synth-clean.log 2>&1 &
    factory synth .gpu/deeppcb100 --out $W/labelled --per-class 100 --max-synthetic-ratio 1 --backgrounds labelled --workers 8 --no-gallery --overwrite > $OUT/synth-labelled.log 2>&1
    wait; log synth done; tail -2 $OUT/synth-*.log
  fi
  factory compare .gpu/deeppcb100 --synthetic clean=$W/clean --synthetic labelled=$W/labelled --synthetic-ratio 0.25,0.5 --budget 30000 --epochs 30 --imgsz 320 --batch 16 --seeds 3 --seed-index $SEEDIDX --device 0 --workers 3 --parallel 5 --out $W/run > $OUT/compare.log 2>&1
  log compare done rc=$?
) & J=$!
while kill -0 $J 2>/dev/null; do
  [ $(( $(date +%s) - T0 )) -gt $LIMIT ] && { log "time limit"; break; }
  sleep 15; pack
done
pack; log end; pkill -9 -f "factory compare"; exit 0
