"""The built-in demo: a procedural, realistic die-inspection dataset (see :func:`generate_demo`)."""

from factory.demo.generate import DemoConfig, DemoSample, generate_demo, plan_split, render_sample
from factory.demo.params import CLASS_NAMES

__all__ = [
    "CLASS_NAMES",
    "DemoConfig",
    "DemoSample",
    "generate_demo",
    "plan_split",
    "render_sample",
]
