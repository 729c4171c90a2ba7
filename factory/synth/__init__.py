"""``factory synth``: cut real defects, place and blend them on clean backgrounds, publish a
balanced, capped YOLO set with exact boxes and full provenance (see :mod:`factory.synth.run`)."""

from factory.synth.options import SynthOptions
from factory.synth.run import merge_shards, run_synth
from factory.synth.summary import SynthSummary

__all__ = ["SynthOptions", "SynthSummary", "merge_shards", "run_synth"]
