#!/bin/bash
# GPU call 3: DeepPCB 100 real, converged budget: real vs real+poisson, 3 seeds, 6 at once.
T0=$(date +%s); LIMIT=${LIMIT:-400}
source .gpu/setup.sh
W=/tmp/work; mkdir -p $W $OUT
log() { echo "$(( $(date +%s) - T0 ))s $*" | tee -a $OUT/timeline.txt; }
pack() { tar -czf $OUT/deeppcb.tgz.part -C $W --exclude='*.pt' --exclude='data' deeppcb-100 synth-default/summary.json 2>/dev/null; mv $OUT/deeppcb.tgz.part $OUT/deeppcb.tgz; }
(
  factory synth .gpu/deeppcb100 --out $W/synth-default --per-class 100 --max-synthetic-ratio 3 --workers 6 --no-gallery --overwrite > $OUT/synth.log 2>&1
  log synth done
  factory compare .gpu/deeppcb100 --synthetic poisson=$W/synth-default --out $W/deeppcb-100 --budget 30000 --epochs 30 --imgsz 320 --batch 16 --seeds 3 --device 0 --workers 2 --parallel 6 > $OUT/compare.log 2>&1
  log compare done
) & J=$!
while kill -0 $J 2>/dev/null; do
  [ $(( $(date +%s) - T0 )) -gt $LIMIT ] && { log "time limit"; break; }
  sleep 15; pack
done
pack; log end
