"""Samplers: every random decision of the demo generator, drawn from a passed-in generator.

Each function takes a ``numpy.random.Generator`` (made with :func:`factory.seeding.rng_for`)
and returns a parameter dataclass from :mod:`factory.demo.params`; nothing here draws pixels.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from factory.demo.params import (
    BridgeParams,
    DieLayout,
    Illumination,
    Levels,
    OpenParams,
    ParticleParams,
    Rect,
    ScratchParams,
    Sensor,
    StainParams,
    Surface,
    Trace,
)

# Geometry ranges in pixels for 256 x 256 dies (``_range`` = sampled interval).
DIE_PITCH_RANGE = (300, 480)
STREET_WIDTH_RANGE = (10, 16)
PAD_SIZE_RANGE = (14, 22)
BAND_HEIGHT_RANGE = (40, 100)
TRACE_PITCH_RANGE = (14, 22)
MIN_TRACE_GAP = 6


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def _integer(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    """Integer in the closed interval ``bounds``."""
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _clip_rect(rect: Rect, width: int, height: int) -> Rect | None:
    clipped = Rect(max(rect.x0, 0), max(rect.y0, 0), min(rect.x1, width), min(rect.y1, height))
    return clipped if clipped.width > 0 and clipped.height > 0 else None


def _smooth_noise(rng, size_hw, cell: int, sigma: float = 0.0) -> np.ndarray:
    """Zero-mean, unit-ish noise with features about ``cell`` pixels wide."""
    height, width = size_hw
    if cell <= 1:
        field = rng.standard_normal(size_hw).astype(np.float32)
        if sigma > 0:
            field = cv2.GaussianBlur(field, (0, 0), sigma)
        return field
    grid = rng.standard_normal((height // cell + 2, width // cell + 2)).astype(np.float32)
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)


def _vias_on(rng, trace: Rect, lower_xs, lower_width: int, width: int, height: int) -> list[Rect]:
    """Vias where a trace crosses lower-metal lines (some crossings only)."""
    vias = []
    size = max(3, trace.height - 3)
    cy = (trace.y0 + trace.y1) // 2
    for lx in lower_xs:
        inside = trace.x0 + 2 <= lx and lx + lower_width <= trace.x1 - 2
        if inside and rng.random() < 0.12:
            x0, y0 = lx + lower_width // 2 - size // 2, cy - size // 2
            if (via := _clip_rect(Rect(x0, y0, x0 + size, y0 + size), width, height)) is not None:
                vias.append(via)
    return vias


def sample_levels(rng: np.random.Generator) -> Levels:
    substrate = _uniform(rng, (0.24, 0.36))
    metal = _uniform(rng, (0.66, 0.82))
    return Levels(
        substrate=substrate,
        street=substrate * _uniform(rng, (0.55, 0.8)),
        lower_metal=substrate + _uniform(rng, (0.07, 0.15)),
        metal=metal,
        pad=min(0.95, metal + _uniform(rng, (0.03, 0.1))),
        via=metal * _uniform(rng, (0.5, 0.68)),
        mark=_uniform(rng, (0.55, 0.75)),
    )


def sample_layout(rng: np.random.Generator, size_hw: tuple[int, int]) -> DieLayout:
    """A die grid seen through the microscope: streets, pad rings, trace bands, vias."""
    height, width = size_hw
    levels = sample_levels(rng)
    surface = Surface(
        substrate_texture=(
            0.05 * _smooth_noise(rng, size_hw, 24) + 0.02 * _smooth_noise(rng, size_hw, 1, 0.8)
        ).astype(np.float32),
        metal_grain=(0.05 * _smooth_noise(rng, size_hw, 1, 1.2)).astype(np.float32),
    )
    pitch_x = _integer(rng, DIE_PITCH_RANGE)
    pitch_y = _integer(rng, DIE_PITCH_RANGE)
    street = _integer(rng, STREET_WIDTH_RANGE)
    offset_x = _integer(rng, (0, pitch_x - 1))
    offset_y = _integer(rng, (0, pitch_y - 1))
    pad_size = _integer(rng, PAD_SIZE_RANGE)
    pad_pitch = pad_size + _integer(rng, (10, 22))
    pad_margin = _integer(rng, (4, 8))
    core_gap = _integer(rng, (6, 12))

    streets: list[Rect] = []
    marks: list[Rect] = []
    pads: set[Rect] = set()
    lower_lines: list[Rect] = []
    traces: list[Trace] = []
    vias: list[Rect] = []

    xs = [offset_x + k * pitch_x - pitch_x for k in range(4)]
    ys = [offset_y + k * pitch_y - pitch_y for k in range(4)]
    for sx in xs:
        if (rect := _clip_rect(Rect(sx - street, 0, sx, height), width, height)) is not None:
            streets.append(rect)
    for sy in ys:
        if (rect := _clip_rect(Rect(0, sy - street, width, sy), width, height)) is not None:
            streets.append(rect)
    # Test structures in the streets, between the dies.
    for street_rect in list(streets):
        vertical = street_rect.height == height
        along = height if vertical else width
        position = _integer(rng, (10, 70))
        while position < along - 20:
            length = _integer(rng, (8, 22))
            if rng.random() < 0.6:
                lo, hi = position, position + length
                inset = 3
                rect = (
                    Rect(street_rect.x0 + inset, lo, street_rect.x1 - inset, hi)
                    if vertical
                    else Rect(lo, street_rect.y0 + inset, hi, street_rect.y1 - inset)
                )
                if (rect := _clip_rect(rect, width, height)) is not None:
                    marks.append(rect)
            position += length + _integer(rng, (30, 90))

    block = 0
    for die_x0 in xs:
        for die_y0 in ys:
            die = Rect(die_x0, die_y0, die_x0 + pitch_x - street, die_y0 + pitch_y - street)
            if _clip_rect(die, width, height) is None:
                continue
            # Pad ring just inside the die edge.
            inset = pad_margin
            for k in range(die.width // pad_pitch + 1):
                x = die.x0 + inset + k * pad_pitch
                if x + pad_size > die.x1 - inset:
                    break
                for y in (die.y0 + inset, die.y1 - inset - pad_size):
                    pads.add(Rect(x, y, x + pad_size, y + pad_size))
            for k in range(die.height // pad_pitch + 1):
                y = die.y0 + inset + k * pad_pitch
                if y + pad_size > die.y1 - inset:
                    break
                for x in (die.x0 + inset, die.x1 - inset - pad_size):
                    pads.add(Rect(x, y, x + pad_size, y + pad_size))
            ring = inset + pad_size + core_gap
            core = Rect(die.x0 + ring, die.y0 + ring, die.x1 - ring, die.y1 - ring)
            if core.width <= 0 or core.height <= 0:
                continue
            # Lower metal: vertical lines under the whole core.
            lower_pitch = _integer(rng, (9, 16))
            lower_width = _integer(rng, (3, 5))
            x = core.x0 + _integer(rng, (0, lower_pitch - 1))
            lower_xs = []
            while x + lower_width <= core.x1:
                if rng.random() < 0.85:
                    rect = _clip_rect(Rect(x, core.y0, x + lower_width, core.y1), width, height)
                    if rect is not None:
                        lower_lines.append(rect)
                        lower_xs.append(x)
                x += lower_pitch
            # Top metal: horizontal bands of traces, each band with its own pitch and width.
            y = core.y0
            while y < core.y1:
                band_h = min(_integer(rng, BAND_HEIGHT_RANGE), core.y1 - y)
                pitch = _integer(rng, TRACE_PITCH_RANGE)
                trace_w = _integer(rng, (max(5, round(0.38 * pitch)), pitch - MIN_TRACE_GAP))
                row_y = y + _integer(rng, (0, pitch - trace_w))
                row = 0
                while row_y + trace_w <= y + band_h:
                    x = core.x0 if row_y + trace_w > 0 and row_y < height else core.x1
                    while x < core.x1 - 8:  # rows outside the frame are skipped
                        x_end = min(x + _integer(rng, (30, 180)), core.x1)
                        rect = Rect(x, row_y, x_end, row_y + trace_w)
                        clipped = _clip_rect(rect, width, height)
                        if clipped is not None and x_end - x >= 8:
                            traces.append(Trace(clipped, block, row))
                            vias += _vias_on(rng, rect, lower_xs, lower_width, width, height)
                        # Designed line ends leave wide gaps, unlike an open (a narrow, ragged nick).
                        x = x_end + _integer(rng, (16, 32))
                    row_y += pitch
                    row += 1
                block += 1
                y += band_h + _integer(rng, (6, 14))

    return DieLayout(
        size_hw=(height, width),
        levels=levels,
        surface=surface,
        streets=tuple(streets),
        marks=tuple(marks),
        pads=tuple(sorted(p for p in (_clip_rect(p, width, height) for p in pads) if p)),
        lower_lines=tuple(lower_lines),
        traces=tuple(traces),
        vias=tuple(vias),
        transpose=bool(rng.random() < 0.5),
    )


def sample_capture(
    rng: np.random.Generator, size_hw: tuple[int, int]
) -> tuple[Illumination, Sensor]:
    illumination = Illumination(
        gain=_uniform(rng, (0.82, 1.12)),
        gradient_xy=(_uniform(rng, (-0.15, 0.15)), _uniform(rng, (-0.15, 0.15))),
        vignette_center_xy=(_uniform(rng, (-0.5, 0.5)), _uniform(rng, (-0.5, 0.5))),
        vignette_strength=_uniform(rng, (0.1, 0.35)),
    )
    sensor = Sensor(
        blur_sigma=_uniform(rng, (0.6, 1.0)),
        read_noise=_uniform(rng, (1.5, 3.5)),
        shot_noise=_uniform(rng, (0.02, 0.08)),
        noise_z=rng.standard_normal(size_hw).astype(np.float32),
    )
    return illumination, sensor


# --- defects (canonical orientation; ``None`` when the layout offers no place) --------------


def sample_particle(rng: np.random.Generator, layout: DieLayout) -> ParticleParams:
    height, width = layout.size_hw
    radius = _uniform(rng, (3.5, 12.0))
    margin = radius * 1.6 + 4
    dark = rng.random() < 0.7
    return ParticleParams(
        center_xy=(
            _uniform(rng, (margin, width - margin)),
            _uniform(rng, (margin, height - margin)),
        ),
        radius=radius,
        harmonics=tuple(
            (order, _uniform(rng, (0.0, 0.22 / order * 2)), _uniform(rng, (0.0, 2 * math.pi)))
            for order in (2, 3, 5)
        ),
        edge_softness=_uniform(rng, (0.8, 2.2)),
        value=_uniform(rng, (0.04, 0.16)) if dark else _uniform(rng, (0.9, 1.0)),
        highlight=_uniform(rng, (0.5, 0.85)) if dark and rng.random() < 0.6 else 0.0,
    )


def sample_scratch(rng: np.random.Generator, layout: DieLayout) -> ScratchParams:
    height, width = layout.size_hw
    margin = 5.0
    while True:  # rejection: both ends inside the frame
        length = _uniform(rng, (50.0, 130.0))
        angle = _uniform(rng, (0.0, math.pi))
        cx, cy = _uniform(rng, (margin, width - margin)), _uniform(rng, (margin, height - margin))
        dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
        bend = _uniform(rng, (-0.25, 0.25)) * length
        p0, p2 = (cx - dx, cy - dy), (cx + dx, cy + dy)
        p1 = (cx - math.sin(angle) * bend, cy + math.cos(angle) * bend)
        xs, ys = (p0[0], p1[0], p2[0]), (p0[1], p1[1], p2[1])
        if (
            min(xs) >= margin
            and max(xs) <= width - margin
            and min(ys) >= margin
            and max(ys) <= height - margin
        ):
            break
    return ScratchParams(
        points_xy=(p0, p1, p2),
        width=_uniform(rng, (1.4, 2.8)),
        value=_uniform(rng, (0.04, 0.18)),
        strength=_uniform(rng, (0.65, 0.95)),
        shoulder_strength=_uniform(rng, (0.15, 0.35)),
        taper=_uniform(rng, (0.08, 0.22)),
    )


def _neighbour_pairs(layout: DieLayout) -> list[tuple[Trace, Trace, int, int]]:
    """Vertically adjacent traces of one band that overlap along x: ``(upper, lower, x0, x1)``."""
    by_row: dict[tuple[int, int], list[Trace]] = {}
    for trace in layout.traces:
        by_row.setdefault((trace.block, trace.row), []).append(trace)
    pairs = []
    for (block, row), uppers in sorted(by_row.items()):
        for upper in uppers:
            for lower in by_row.get((block, row + 1), []):
                x0 = max(upper.rect.x0, lower.rect.x0)
                x1 = min(upper.rect.x1, lower.rect.x1)
                if x1 - x0 >= 24 and upper.rect.y0 >= 4 and lower.rect.y1 <= layout.size_hw[0] - 4:
                    pairs.append((upper, lower, x0, x1))
    return pairs


def sample_bridge(rng: np.random.Generator, layout: DieLayout) -> BridgeParams | None:
    pairs = _neighbour_pairs(layout)
    if not pairs:
        return None
    upper, lower, x0, x1 = pairs[int(rng.integers(len(pairs)))]
    half = _uniform(rng, (2.0, 5.5))
    cx = _uniform(rng, (x0 + half + 5, x1 - half - 5))
    top = upper.rect.y1 - _uniform(rng, (1.0, 2.5))
    bottom = lower.rect.y0 + _uniform(rng, (1.0, 2.5))
    mid = (top + bottom) / 2

    def jitter() -> float:
        return _uniform(rng, (-1.2, 1.2))

    # Six vertices: the short necks and bulges of a real metal short.
    polygon = (
        (cx - half + jitter(), top),
        (cx + half + jitter(), top),
        (cx + half * _uniform(rng, (0.6, 1.4)), mid),
        (cx + half + jitter(), bottom),
        (cx - half + jitter(), bottom),
        (cx - half * _uniform(rng, (0.6, 1.4)), mid),
    )
    return BridgeParams(polygon_xy=polygon, value=layout.levels.metal * _uniform(rng, (0.88, 1.02)))


def sample_open(rng: np.random.Generator, layout: DieLayout) -> OpenParams | None:
    height, width = layout.size_hw
    length = _uniform(rng, (3.0, 9.0))
    candidates = [
        t
        for t in layout.traces
        if t.rect.width >= length + 16
        and t.rect.y0 >= 4
        and t.rect.y1 <= height - 4
        and t.rect.x0 >= 2
        and t.rect.x1 <= width - 2
    ]
    if not candidates:
        return None
    rect = candidates[int(rng.integers(len(candidates)))].rect
    # Prefer a stretch of plain metal: a cut through a via would reveal it as a bright spot.
    for _ in range(10):
        cx = _uniform(rng, (rect.x0 + length / 2 + 6, rect.x1 - length / 2 - 6))
        lo, hi = cx - length / 2 - 3, cx + length / 2 + 3
        if not any(
            v.x1 > lo and v.x0 < hi and v.y1 > rect.y0 and v.y0 < rect.y1 for v in layout.vias
        ):
            break
    top, bottom = rect.y0 - 1.0, rect.y1 + 1.0
    mid = (top + bottom) / 2
    left, right = cx - length / 2, cx + length / 2

    def jitter() -> float:
        return _uniform(rng, (-1.5, 1.5))

    shear = _uniform(rng, (-1.5, 1.5))  # cuts are rarely square to the trace
    polygon = (
        (left + shear + jitter(), top),
        (right + shear + jitter(), top),
        (right + jitter(), mid),
        (right - shear + jitter(), bottom),
        (left - shear + jitter(), bottom),
        (left + jitter(), mid),
    )
    return OpenParams(polygon_xy=polygon, residue=_uniform(rng, (0.0, 0.15)))


def sample_stain(rng: np.random.Generator, layout: DieLayout) -> StainParams:
    height, width = layout.size_hw
    radii = (_uniform(rng, (12.0, 30.0)), _uniform(rng, (12.0, 30.0)))
    margin = max(radii) * 1.1 + 4
    darker = rng.random() < 0.8
    return StainParams(
        center_xy=(
            _uniform(rng, (margin, width - margin)),
            _uniform(rng, (margin, height - margin)),
        ),
        radii_xy=radii,
        angle=_uniform(rng, (0.0, math.pi)),
        shape_noise=rng.uniform(-1.0, 1.0, (5, 5)).astype(np.float32),
        darkening=_uniform(rng, (0.24, 0.36)) if darker else -_uniform(rng, (0.18, 0.28)),
        rim=_uniform(rng, (0.04, 0.1)),
    )


SAMPLERS = {
    "particle": sample_particle,
    "scratch": sample_scratch,
    "bridge": sample_bridge,
    "open": sample_open,
    "stain": sample_stain,
}
