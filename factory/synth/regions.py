"""Region masks: where defects may land, one mask for every background or one per background.

``--region-mask`` takes an image or a folder (non-zero pixels = allowed):

- an image: one mask for every background; a defect's box centre must be allowed (the
  original rule, kept so that such runs keep their bytes);
- a folder: one mask per background, named after the background's source file,
  ``<stem>.<ext>`` (any image extension), where ``stem`` is the file stem of the
  background's ``source``: ``clean/<stem>.*`` for ``clean``, ``references/train/<stem>.*``
  (the stem of the train image it pairs) for ``reference``, and ``images/train/<stem>.*``
  for ``unlabelled-train`` and ``inpainted`` (the train image the defects were removed
  from, not the cached PNG). Every defect pixel must be allowed. A background without a
  mask is used whole (minus the border), or left out with ``--region-mask-required``.

Everything is checked here, before any rendering; workers get the mask paths (in the
:class:`RegionMasks` of the context) and read each mask once through a small cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from factory.errors import FactoryError
from factory.io import IMAGE_SUFFIXES, list_images, read_mask, sha256_file
from factory.synth.backgrounds import BackgroundInfo

# Where the masks used are copied in the output (the manifest's ``background.region_mask``).
OUTPUT_FOLDER = "sources/region_masks"
# Masks a process keeps in memory (like the backgrounds: flat however many samples).
CACHE_SIZE = 16


@dataclass(frozen=True)
class RegionMasks:
    """Per-background region masks from a folder (paths only: pickled to the workers)."""

    folder: Path
    by_background: dict[str, Path | None]  # background id -> its mask (None: whole image)
    unmatched: tuple[str, ...]  # mask files that match no background
    left_out: tuple[str, ...]  # background ids without a mask, left out (--region-mask-required)

    def mask_path(self, background_id: str) -> Path | None:
        return self.by_background.get(background_id)

    def output_path(self, background_id: str) -> str | None:
        """The mask's path in the output (relative to it), None for a whole-image background."""
        path = self.mask_path(background_id)
        return None if path is None else f"{OUTPUT_FOLDER}/{path.name}"

    @property
    def with_mask(self) -> int:
        return sum(p is not None for p in self.by_background.values())

    def digest_items(self) -> list[str]:
        """What decides the pixels: which mask file (by content) each background uses."""
        return [
            f"{bid}={'-' if p is None else sha256_file(p)}"
            for bid, p in sorted(self.by_background.items())
        ]


def allowed_pixels(mask: np.ndarray, path: Path) -> np.ndarray:
    """The allowed area (bool) of a mask read from ``path``; an error when it has none."""
    allowed = mask > 0
    if not allowed.any():
        raise FactoryError(
            f"{path}: region mask has no allowed pixel (all zero; non-zero marks where "
            "defects may go)"
        )
    return allowed


def read_region(path: Path) -> np.ndarray:
    return allowed_pixels(read_mask(path), path)


def background_stem(background: BackgroundInfo) -> str:
    """The name a background's mask goes by: the stem of its source file."""
    return Path(background.source).stem


def scan_folder(folder: Path) -> dict[str, tuple[Path, tuple[int, int]]]:
    """``{stem: (mask file, (height, width))}`` of a mask folder, every mask read and checked."""
    masks: dict[str, tuple[Path, tuple[int, int]]] = {}
    for path in list_images(folder):
        if path.stem in masks:
            raise FactoryError(
                f"{folder}: two region masks for {path.stem!r}: {masks[path.stem][0].name} "
                f"and {path.name}"
            )
        masks[path.stem] = (path, read_region(path).shape)
    if not masks:
        raise FactoryError(
            f"{folder}: no region mask images in the folder (expected <background file stem>"
            f"{IMAGE_SUFFIXES[0]}, any of {' '.join(IMAGE_SUFFIXES)})"
        )
    return masks


def match_backgrounds(
    folder: Path,
    masks: dict[str, tuple[Path, tuple[int, int]]],
    backgrounds: list[BackgroundInfo],
    *,
    required: bool,
) -> tuple[RegionMasks, list[BackgroundInfo]]:
    """Each background's mask (by :func:`background_stem`), sizes checked; returns the
    region masks and the backgrounds kept (all, or with ``required`` those with a mask)."""
    by_background: dict[str, Path | None] = {}
    kept, left_out, used = [], [], set()
    for background in backgrounds:
        stem = background_stem(background)
        if stem not in masks:
            if required:
                left_out.append(background.background_id)
                continue
            by_background[background.background_id] = None
            kept.append(background)
            continue
        path, (height, width) = masks[stem]
        if (height, width) != (background.height, background.width):
            raise FactoryError(
                f"{path}: region mask is {width}x{height}, its background {background.source} "
                f"is {background.width}x{background.height}"
            )
        by_background[background.background_id] = path
        kept.append(background)
        used.add(stem)
    if not kept:
        example = background_stem(backgrounds[0]) if backgrounds else "<stem>"
        raise FactoryError(
            f"{folder}: no background has a region mask, and --region-mask-required leaves "
            f"out those without one (name masks after the background's source file, e.g. "
            f"{example}.png)"
        )
    unmatched = tuple(masks[s][0].name for s in sorted(masks) if s not in used)
    return RegionMasks(folder, by_background, unmatched, tuple(left_out)), kept


class RegionCache:
    """Allowed areas read on first use, at most :data:`CACHE_SIZE` kept (per process)."""

    def __init__(self) -> None:
        self._masks: dict[Path, np.ndarray] = {}

    def get(self, path: Path) -> np.ndarray:
        if path not in self._masks:
            if len(self._masks) >= CACHE_SIZE:
                self._masks.pop(next(iter(self._masks)))
            self._masks[path] = read_region(path)
        return self._masks[path]
