#!/bin/bash
# GPU call 2: DeepPCB converged compare (100 real: real / poisson / poisson-dense, 3 seeds),
# demo three-arm compare (real / poisson / diffusion, quick preset, 3 seeds), GPU tests;
# DeepPCB 50 real at low priority. Results packed into $OUT as they come.
T0=$(date +%s); LIMIT=${LIMIT:-530}
source .gpu/setup.sh
W=/tmp/work; mkdir -p $W $OUT
log() { echo "$(( $(date +%s) - T0 ))s $*" | tee -a $OUT/timeline.txt; }
COMMON="--budget 30000 --epochs 30 --imgsz 320 --batch 16 --seeds 3 --device 0 --workers 0"
jobA() {
  factory synth .gpu/deeppcb100 --out $W/synth-default --per-class 100 --max-synthetic-ratio 3 --workers 3 --no-gallery --overwrite > $W/synth-default.log 2>&1 &
  factory synth .gpu/deeppcb100 --out $W/synth-dense --per-class 100 --max-synthetic-ratio 3 --min-per-image 5 --max-per-image 8 --workers 3 --no-gallery --overwrite > $W/synth-dense.log 2>&1
  wait; log A-synth done; tail -4 $W/synth-default.log $W/synth-dense.log
  factory compare .gpu/deeppcb100 --synthetic poisson=$W/synth-default --synthetic poisson-dense=$W/synth-dense --out $W/deeppcb-100 $COMMON --parallel 9
  log A-compare done
}
jobB() {
  nice -n 15 factory compare .gpu/deeppcb100 --real-count 50 --per-class 100 --synth-option max_synthetic_ratio=3 --synth-option workers=2 --out $W/deeppcb-50 $COMMON --parallel 6
  log B-compare done
}
jobC() {
  factory demo --out $W/demo --overwrite; log C-demo done
  s=$(date +%s); factory synth $W/demo --out $W/demo-poisson --per-class 200 --workers 3 --no-gallery --overwrite > $W/demo-poisson.log 2>&1 &
  factory train-inpainter $W/demo --out $W/inpainter-demo --preset quick --overwrite > $W/inpainter-demo.log 2>&1
  log C-inpainter done in $(( $(date +%s) - s ))s; tail -3 $W/inpainter-demo.log
  s=$(date +%s); factory synth $W/demo --out $W/demo-diffusion --per-class 200 --method diffusion --inpainter $W/inpainter-demo --workers 4 --no-gallery --overwrite > $W/demo-diffusion.log 2>&1
  log C-synth-diffusion done in $(( $(date +%s) - s ))s; wait; tail -5 $W/demo-diffusion.log $W/demo-poisson.log
  factory compare $W/demo --synthetic poisson=$W/demo-poisson --synthetic diffusion=$W/demo-diffusion --out $W/demo-3arm --preset quick --seeds 3 --device 0 --parallel 9
  log C-compare done
}
jobT() { python3 -m pytest tests/test_gpu.py -q -p no:cacheprovider 2>&1 | tail -15; log T-gpu-tests done; }
pack() {
  tar -czf $OUT/deeppcb.tgz.part -C $W --exclude='*.pt' --exclude='data' deeppcb-100 deeppcb-50 synth-default/summary.json synth-dense/summary.json 2>/dev/null; mv $OUT/deeppcb.tgz.part $OUT/deeppcb.tgz
  tar -czf $OUT/demo.tgz.part -C $W --exclude='*.pt' --exclude='data' --exclude='checkpoints' demo-3arm inpainter-demo demo-diffusion/summary.json demo-diffusion/manifest.jsonl demo-poisson/summary.json 2>/dev/null; mv $OUT/demo.tgz.part $OUT/demo.tgz
}
(jobA > $OUT/jobA.log 2>&1) & A=$!
(jobC > $OUT/jobC.log 2>&1) & C=$!
(jobT > $OUT/jobT.log 2>&1) &
sleep 45
(jobB > $OUT/jobB.log 2>&1) & B=$!
while kill -0 $A 2>/dev/null || kill -0 $C 2>/dev/null || kill -0 $B 2>/dev/null; do
  [ $(( $(date +%s) - T0 )) -gt $LIMIT ] && { log "time limit: stopping"; break; }
  sleep 20; pack
done
pack; log end; ls -la $OUT
pkill -9 -f factory; exit 0
