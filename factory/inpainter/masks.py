"""Defect mask shapes: a small on-disk library (``masks/*.png``) and a procedural generator.

Where a paste has no real patch mask, the generative path still needs the *shape* of a
defect. Two sources:

- the library: binary PNGs in a folder (``masks/`` at the repository root ships a few);
  any non-zero pixel is inside the mask;
- the generator: ``stroke`` masks for scratch-like defects (a random-walk polyline of a
  given width) and ``blob`` masks for particles, spots and stains (a star-shaped polygon
  with smooth radial noise).

Drawing is pure (``draw_stroke``, ``draw_blob``: parameters in, mask out); sampling the
parameters takes a numpy generator (``sample_stroke``, ``sample_blob``, ``procedural_mask``).

Parameters (all lengths in pixels of the mask canvas)
-----------------------------------------------------
``StrokeParams``
    ``length_range``: total length of the polyline, as a fraction of the canvas diagonal
    (default 0.5-0.9); ``width_range``: stroke width in pixels (default 1-3, scaled with the
    canvas: ``max(1, w * size / 64)``); ``segments``: number of polyline segments (default 4);
    ``max_turn_deg``: largest change of direction between segments (default 25: near-straight
    scratches; 90 gives wandering cracks).
``BlobParams``
    ``radius_range``: mean radius as a fraction of the canvas side (default 0.12-0.3);
    ``roughness``: relative amplitude of the radial noise (default 0.25: 0 is an ellipse-like
    disc, 0.6 is ragged); ``elongation_range``: ratio of the long to the short axis (default
    1.0-1.8); ``vertices``: polygon resolution (default 24).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from factory.errors import FactoryError
from factory.io import list_images, read_mask, write_image

MASK_KINDS = ("stroke", "blob")
# Class-name words that mean "a long thin defect"; everything else gets a blob.
STROKE_WORDS = ("scratch", "crack", "open", "line", "crazing", "scar", "bite", "spur", "short")


@dataclass(frozen=True)
class StrokeParams:
    length_range: tuple[float, float] = (0.5, 0.9)
    width_range: tuple[float, float] = (1.0, 3.0)
    segments: int = 4
    max_turn_deg: float = 25.0


@dataclass(frozen=True)
class BlobParams:
    radius_range: tuple[float, float] = (0.12, 0.3)
    roughness: float = 0.25
    elongation_range: tuple[float, float] = (1.0, 1.8)
    vertices: int = 24


def draw_stroke(shape_hw: tuple[int, int], points_xy: np.ndarray, width: int) -> np.ndarray:
    """A boolean mask of a polyline through ``points_xy`` (``(N, 2)`` pixels) of ``width`` px."""
    canvas = np.zeros(shape_hw, np.uint8)
    points = np.round(points_xy).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(canvas, [points], False, 255, thickness=max(1, int(width)), lineType=cv2.LINE_8)
    return canvas > 0


def draw_blob(shape_hw: tuple[int, int], polygon_xy: np.ndarray) -> np.ndarray:
    """A boolean mask of the filled polygon ``polygon_xy`` (``(N, 2)`` pixels)."""
    canvas = np.zeros(shape_hw, np.uint8)
    cv2.fillPoly(canvas, [np.round(polygon_xy).astype(np.int32)], 255, lineType=cv2.LINE_8)
    return canvas > 0


def sample_stroke(
    size_hw: tuple[int, int], rng: np.random.Generator, params: StrokeParams = StrokeParams()
) -> np.ndarray:
    """Polyline points ``(segments + 1, 2)`` of a scratch centred on the canvas."""
    h, w = size_hw
    diagonal = math.hypot(h, w)
    length = rng.uniform(*params.length_range) * diagonal
    step = length / params.segments
    angle = rng.uniform(0, 2 * math.pi)
    points = [np.zeros(2)]
    for _ in range(params.segments):
        angle += math.radians(rng.uniform(-params.max_turn_deg, params.max_turn_deg))
        points.append(points[-1] + step * np.array([math.cos(angle), math.sin(angle)]))
    points_xy = np.array(points)
    # Centre the polyline, then shrink it if it would leave the canvas.
    points_xy -= (points_xy.min(0) + points_xy.max(0)) / 2
    extent = np.maximum(points_xy.max(0) - points_xy.min(0), 1e-6)
    fit = min(1.0, (w - 4) / extent[0], (h - 4) / extent[1])
    return points_xy * fit + np.array([w / 2, h / 2])


def sample_blob(
    size_hw: tuple[int, int], rng: np.random.Generator, params: BlobParams = BlobParams()
) -> np.ndarray:
    """Polygon points ``(vertices, 2)`` of a particle-like blob centred on the canvas."""
    h, w = size_hw
    side = min(h, w)
    radius = rng.uniform(*params.radius_range) * side
    elongation = rng.uniform(*params.elongation_range)
    rotation = rng.uniform(0, math.pi)
    angles = np.linspace(0, 2 * math.pi, params.vertices, endpoint=False)
    # Smooth radial noise: a few low-frequency harmonics with random phases.
    noise = np.zeros_like(angles)
    for harmonic in (2, 3, 5):
        noise += rng.normal(0, 1) * np.cos(harmonic * angles + rng.uniform(0, 2 * math.pi))
    radii = radius * np.clip(1 + params.roughness * noise / 2, 0.3, 1.8)
    x = radii * np.cos(angles) * elongation**0.5
    y = radii * np.sin(angles) / elongation**0.5
    xr = x * math.cos(rotation) - y * math.sin(rotation)
    yr = x * math.sin(rotation) + y * math.cos(rotation)
    polygon = np.stack([xr, yr], 1)
    extent = np.maximum(polygon.max(0) - polygon.min(0), 1e-6)
    fit = min(1.0, (w - 2) / extent[0], (h - 2) / extent[1])
    return polygon * fit + np.array([w / 2, h / 2])


def mask_kind_for_class(class_name: str) -> str:
    """``stroke`` for scratch-like class names (scratch, crack, open, ...), else ``blob``."""
    name = class_name.lower()
    return "stroke" if any(word in name for word in STROKE_WORDS) else "blob"


def procedural_mask(
    kind: str,
    size_hw: tuple[int, int],
    rng: np.random.Generator,
    *,
    stroke: StrokeParams = StrokeParams(),
    blob: BlobParams = BlobParams(),
) -> np.ndarray:
    """A boolean ``(H, W)`` defect mask of ``kind`` (``stroke`` or ``blob``), never empty."""
    if kind not in MASK_KINDS:
        raise FactoryError(f"unknown mask kind {kind!r}; expected one of {', '.join(MASK_KINDS)}")
    h, w = size_hw
    if kind == "stroke":
        scale = min(h, w) / 64
        width = max(1, round(rng.uniform(*stroke.width_range) * scale))
        mask = draw_stroke(size_hw, sample_stroke(size_hw, rng, stroke), width)
    else:
        mask = draw_blob(size_hw, sample_blob(size_hw, rng, blob))
    if not mask.any():
        mask[h // 2, w // 2] = True
    return mask


def load_mask_library(folder: Path | str) -> list[tuple[str, np.ndarray]]:
    """``(name, bool mask)`` for every image in ``folder`` (non-zero = inside), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FactoryError(f"{folder}: mask library folder not found")
    masks = []
    for path in list_images(folder):
        mask = read_mask(path) > 0
        if not mask.any():
            raise FactoryError(f"{path}: mask is empty (no non-zero pixel)")
        masks.append((path.stem, mask))
    if not masks:
        raise FactoryError(f"{folder}: no mask images (expected PNGs, non-zero = defect)")
    return masks


def fit_mask(mask: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Resize a boolean mask to ``size_hw`` (nearest neighbour, never empty)."""
    h, w = size_hw
    resized = cv2.resize(mask.astype(np.uint8) * 255, (w, h), interpolation=cv2.INTER_NEAREST)
    out = resized > 127
    if not out.any():
        out[h // 2, w // 2] = True
    return out


def write_library(folder: Path | str, *, count_per_kind: int = 4, size: int = 64, seed: int = 0):
    """Write ``count_per_kind`` procedural masks of each kind as PNGs (the shipped ``masks/``)."""
    from factory.seeding import rng_for

    folder = Path(folder)
    for kind in MASK_KINDS:
        for k in range(count_per_kind):
            mask = procedural_mask(kind, (size, size), rng_for(seed, "mask-library", kind, k))
            write_image(folder / f"{kind}_{k:02d}.png", mask.astype(np.uint8) * 255)


if __name__ == "__main__":  # python -m factory.inpainter.masks masks/
    import sys

    write_library(sys.argv[1] if len(sys.argv) > 1 else "masks")
