"""The same training budget for every arm, counted exactly in images seen.

Ultralytics trains for whole epochs over its train list and shows every listed image once
per epoch. So every arm of a setting gets a train list of the same length (the *epoch
size*, a multiple of the batch size) built from its own images: an arm with fewer images
repeats them, an arm with more images than the epoch size sees a fixed seeded selection.
Same epochs x same epoch size x same batch = the same images seen, the same batches and so
the same optimizer steps and learning-rate schedule for every arm, whatever its number of
distinct images. It also keeps ultralytics' ``optimizer=auto`` choice (which depends on the
iteration count) identical across arms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from factory.errors import FactoryError


@dataclass(frozen=True)
class Budget:
    """The exact budget of every training in one setting."""

    epochs: int
    epoch_size: int  # images per epoch (length of every arm's train list)
    batch: int

    @property
    def images_seen(self) -> int:
        return self.epochs * self.epoch_size

    @property
    def batches(self) -> int:
        return self.epochs * (self.epoch_size // self.batch)

    def as_dict(self) -> dict:
        return {
            "epochs": self.epochs,
            "epoch_size": self.epoch_size,
            "batch": self.batch,
            "images_seen": self.images_seen,
            "batches": self.batches,
        }


def plan_budget(
    images_seen: int, batch: int, largest_arm: int, epochs: int | None = None
) -> Budget:
    """Split ``images_seen`` into ``epochs`` epochs of a batch-multiple size.

    Without ``epochs``, one epoch is about one pass over the largest arm (so validation, and
    the learning curve, come about once per pass). The result is the smallest budget of at
    least ``images_seen`` images that the batch size allows; the report gives the exact figure.
    """
    if images_seen < 1 or batch < 1:
        raise FactoryError(
            f"budget: images seen and batch must be positive, got {images_seen}, {batch}"
        )
    if epochs is None:
        epochs = max(1, round(images_seen / max(largest_arm, batch)))
    if epochs < 1:
        raise FactoryError(f"budget: --epochs must be at least 1, got {epochs}")
    epoch_size = max(batch, math.ceil(images_seen / (epochs * batch)) * batch)
    return Budget(epochs, epoch_size, batch)


def epoch_list(items: list[str], epoch_size: int, rng: np.random.Generator) -> list[str]:
    """``epoch_size`` entries drawn from ``items``: whole shuffled passes, then a seeded
    subset for the remainder, so every item appears ``k`` or ``k + 1`` times."""
    if not items:
        raise FactoryError("budget: an arm has no training images")
    passes, remainder = divmod(epoch_size, len(items))
    out: list[str] = []
    for _ in range(passes):
        out += [items[i] for i in rng.permutation(len(items))]
    out += [items[i] for i in rng.permutation(len(items))[:remainder]]
    return out
