"""Typed parameters of the demo die generator: layouts, defects, illumination and sensor.

Every field is decided by the samplers in :mod:`factory.demo.sampling`; the pixel functions in
:mod:`factory.demo.functional` turn them into arrays without any randomness of their own.
Coordinates are pixels in the *canonical* orientation (top-metal traces run horizontally);
a die with ``transpose=True`` is flipped about its diagonal only when it is captured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASS_NAMES = ("particle", "scratch", "bridge", "open", "stain")


@dataclass(frozen=True, order=True)
class Rect:
    """Axis-aligned rectangle ``(x0, y0, x1, y1)`` in pixels, end exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


@dataclass(frozen=True)
class Trace:
    """One top-metal segment; ``block``/``row`` locate it so neighbours can be found."""

    rect: Rect
    block: int
    row: int


@dataclass(frozen=True)
class Levels:
    """Reflectance (0..1) of each material of one die."""

    substrate: float
    street: float
    lower_metal: float
    metal: float
    pad: float
    via: float
    mark: float


@dataclass(frozen=True)
class Surface:
    """Texture fields, each ``(H, W)`` float32 with zero mean (relative reflectance change)."""

    substrate_texture: np.ndarray
    metal_grain: np.ndarray


@dataclass(frozen=True)
class DieLayout:
    """Everything that is drawn on one clean die image."""

    size_hw: tuple[int, int]
    levels: Levels
    surface: Surface
    streets: tuple[Rect, ...]
    marks: tuple[Rect, ...]
    pads: tuple[Rect, ...]
    lower_lines: tuple[Rect, ...]
    traces: tuple[Trace, ...]
    vias: tuple[Rect, ...]
    transpose: bool


@dataclass(frozen=True)
class Illumination:
    """Uneven illumination: gain, a linear gradient and an off-centre vignette."""

    gain: float
    gradient_xy: tuple[float, float]
    vignette_center_xy: tuple[float, float]
    vignette_strength: float


@dataclass(frozen=True)
class Sensor:
    """Optics blur and sensor noise; ``noise_z`` is a standard-normal ``(H, W)`` field."""

    blur_sigma: float
    read_noise: float
    shot_noise: float
    noise_z: np.ndarray


# --- defects -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParticleParams:
    """A dark or bright blob with a soft edge and an irregular outline."""

    center_xy: tuple[float, float]
    radius: float
    harmonics: tuple[tuple[int, float, float], ...]  # (order, amplitude, phase)
    edge_softness: float
    value: float
    highlight: float  # reflectance of a small specular spot (0 = none)


@dataclass(frozen=True)
class ScratchParams:
    """A long, thin, curved groove: a quadratic Bezier with a bright shoulder."""

    points_xy: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    width: float
    value: float
    strength: float
    shoulder_strength: float
    taper: float  # fraction of the length over which each end fades in


@dataclass(frozen=True)
class BridgeParams:
    """Extra metal shorting two neighbouring traces across their gap."""

    polygon_xy: tuple[tuple[float, float], ...]
    value: float


@dataclass(frozen=True)
class OpenParams:
    """Missing metal: a ragged cut through a trace, revealing the layer beneath."""

    polygon_xy: tuple[tuple[float, float], ...]
    residue: float  # fraction of metal left in the cut


@dataclass(frozen=True)
class StainParams:
    """A large, low-contrast, irregular blotch with a darker drying rim."""

    center_xy: tuple[float, float]
    radii_xy: tuple[float, float]
    angle: float
    shape_noise: np.ndarray  # small (h, w) float32 grid in [-1, 1], stretched over the blotch
    darkening: float  # negative brightens
    rim: float


DefectParams = ParticleParams | ScratchParams | BridgeParams | OpenParams | StainParams
