"""One ``--seed`` drives everything: derive independent, stable sub-seeds from it.

Never touch global RNG state. Every random decision takes a generator made here,
keyed by what it is for (``rng_for(seed, "plan", class_name)``), so results do not
depend on call order, worker count or which other samples were drawn.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(seed: int, *keys: object) -> int:
    """A 63-bit seed that depends only on ``seed`` and ``keys`` (stable across runs and machines)."""
    text = repr((int(seed), *(str(k) for k in keys))).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1


def rng_for(seed: int, *keys: object) -> np.random.Generator:
    """A numpy generator for one purpose, independent of every other purpose."""
    return np.random.default_rng(derive_seed(seed, *keys))


def torch_generator_for(seed: int, *keys: object, device: str = "cpu"):
    """A ``torch.Generator`` for one purpose (imported lazily: torch is heavy)."""
    import torch

    generator = torch.Generator(device=device)
    generator.manual_seed(derive_seed(seed, *keys))
    return generator
