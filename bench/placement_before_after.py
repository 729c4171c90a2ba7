"""Dev: synth runs with the footprint placement off ("before": whole-context NCC only, as
before 2026-11-22) and on ("after"), for bench/synth_placement.py.

    python bench/placement_before_after.py DATASET OUT_PREFIX PER_CLASS
"""

import sys
from pathlib import Path

from factory.synth import SynthOptions, render, run_synth

dataset, prefix, per_class = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for name in ("before", "after"):
    # An impossible Otsu split disables the footprint (and so the orientation search).
    render.BINARY_CONTEXT_ETA = 99.0 if name == "before" else 0.75
    summary = run_synth(
        dataset, Path(f"{prefix}_{name}"), SynthOptions(per_class=per_class), overwrite=True
    )
    print(
        name, summary.images, summary.pastes, summary.acceptance_rate, summary.seconds, flush=True
    )
