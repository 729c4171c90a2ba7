"""Pure pixel functions of the demo generator: parameters in, arrays out, no randomness, no I/O.

Images are built in *reflectance* (float32, 0..1): :func:`render_die` draws a clean die,
``paint_*`` functions change its reflectance where a defect lies, and :func:`capture` turns
reflectance into a uint8 photograph (uneven illumination, optics blur, sensor noise). Because
the noise field is a parameter, a die captured before and after painting differs only where
the defect changed it, which is how the exact instance masks are obtained.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from factory.demo.params import (
    BridgeParams,
    DefectParams,
    DieLayout,
    Illumination,
    OpenParams,
    ParticleParams,
    Rect,
    ScratchParams,
    Sensor,
    StainParams,
)

# Metal edges scatter light away from the objective: they look darker than the flat top.
EDGE_DARKENING = 0.8
POLYGON_SHIFT = 3  # sub-pixel bits for cv2.fillPoly
_KERNEL3 = np.ones((3, 3), np.uint8)


def _fill(image: np.ndarray, rect: Rect, value: float | np.ndarray) -> None:
    if isinstance(value, np.ndarray):
        image[rect.y0 : rect.y1, rect.x0 : rect.x1] = value[rect.y0 : rect.y1, rect.x0 : rect.x1]
    else:
        image[rect.y0 : rect.y1, rect.x0 : rect.x1] = value


def render_die(layout: DieLayout) -> tuple[np.ndarray, np.ndarray]:
    """Reflectance of a clean die and of the layer under the top metal, both ``(H, W)`` float32.

    Canonical orientation (traces horizontal); see :func:`orient`.
    """
    height, width = layout.size_hw
    levels, surface = layout.levels, layout.surface
    texture = 1.0 + surface.substrate_texture
    under = (levels.substrate * texture).astype(np.float32)
    lower = (levels.lower_metal * texture).astype(np.float32)
    for rect in layout.lower_lines:
        _fill(under, rect, lower)

    metal = np.zeros((height, width), np.uint8)
    for trace in layout.traces:
        _fill(metal, trace.rect, 1)
    for pad in layout.pads:
        _fill(metal, pad, 1)
    edge = (metal > 0) & (cv2.erode(metal, _KERNEL3) == 0)

    reflectance = under.copy()
    grain = 1.0 + surface.metal_grain
    metal_value = (levels.metal * grain).astype(np.float32)
    reflectance[metal > 0] = metal_value[metal > 0]
    # Pad openings: the bare bond metal inside a ring of passivation.
    pad_value = (levels.pad * grain).astype(np.float32)
    for pad in layout.pads:
        inner = Rect(pad.x0 + 3, pad.y0 + 3, pad.x1 - 3, pad.y1 - 3)
        if inner.width > 0 and inner.height > 0:
            _fill(reflectance, inner, pad_value)
    reflectance[edge] *= EDGE_DARKENING
    for via in layout.vias:
        _fill(reflectance, via, levels.via)
    street_value = (levels.street * texture).astype(np.float32)
    for street in layout.streets:
        _fill(reflectance, street, street_value)
    for mark in layout.marks:
        _fill(reflectance, mark, levels.mark)
    return reflectance, under


def orient(image: np.ndarray, transpose: bool) -> np.ndarray:
    """Canonical orientation to the captured one (a transpose turns traces vertical)."""
    return np.ascontiguousarray(image.T) if transpose else image


def illumination_field(size_hw: tuple[int, int], illumination: Illumination) -> np.ndarray:
    """Relative illumination ``(H, W)`` float32: gain x gradient x off-centre vignette."""
    height, width = size_hw
    ys = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    xs = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    gx, gy = illumination.gradient_xy
    cx, cy = illumination.vignette_center_xy
    radius2 = ((xs - cx) ** 2 + (ys - cy) ** 2) / 2.0
    field = (1.0 + gx * xs + gy * ys) * (1.0 - illumination.vignette_strength * radius2)
    return (illumination.gain * field).astype(np.float32)


def capture(reflectance: np.ndarray, illumination: Illumination, sensor: Sensor) -> np.ndarray:
    """Photograph a reflectance map: illumination, optics blur, shot and read noise, 8 bits."""
    signal = reflectance * illumination_field(reflectance.shape, illumination) * 255.0
    if sensor.blur_sigma > 0:
        signal = cv2.GaussianBlur(signal, (0, 0), sensor.blur_sigma)
    sigma = np.sqrt(sensor.read_noise**2 + sensor.shot_noise * np.maximum(signal, 0.0))
    noisy = signal + sensor.noise_z * sigma
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


# --- defect footprints (alpha in 0..1, canonical orientation) -------------------------------


def _window(size_hw, center_xy, half: float) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    """A clipped square window around a centre, with pixel-centre coordinates inside it."""
    height, width = size_hw
    cx, cy = center_xy
    x0, x1 = max(0, math.floor(cx - half)), min(width, math.ceil(cx + half) + 1)
    y0, y1 = max(0, math.floor(cy - half)), min(height, math.ceil(cy + half) + 1)
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    return slice(y0, y1), slice(x0, x1), xs, ys


def particle_alpha(size_hw: tuple[int, int], params: ParticleParams) -> np.ndarray:
    alpha = np.zeros(size_hw, np.float32)
    spread = sum(abs(a) for _, a, _ in params.harmonics)
    half = params.radius * (1 + spread) + 3 * params.edge_softness + 2
    rows, cols, xs, ys = _window(size_hw, params.center_xy, half)
    dx, dy = xs - params.center_xy[0], ys - params.center_xy[1]
    theta = np.arctan2(dy, dx)
    edge = np.full_like(theta, params.radius)
    for order, amplitude, phase in params.harmonics:
        edge = edge + params.radius * amplitude * np.cos(order * theta + phase)
    distance = np.sqrt(dx**2 + dy**2)
    alpha[rows, cols] = np.clip((edge - distance) / params.edge_softness + 0.5, 0.0, 1.0)
    return alpha


def _bezier(points_xy, count: int) -> np.ndarray:
    p0, p1, p2 = (np.asarray(p, np.float64) for p in points_xy)
    t = np.linspace(0.0, 1.0, count)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _polyline_distance(points: np.ndarray, xs: np.ndarray, ys: np.ndarray):
    """Distance from each pixel to a polyline, and the curve parameter (0..1) of the nearest point."""
    px = np.broadcast_to(xs, np.broadcast_shapes(xs.shape, ys.shape)).ravel()[:, None]
    py = np.broadcast_to(ys, np.broadcast_shapes(xs.shape, ys.shape)).ravel()[:, None]
    a, b = points[:-1], points[1:]
    seg = b - a
    length2 = np.maximum((seg**2).sum(axis=1), 1e-9)
    t = np.clip(((px - a[:, 0]) * seg[:, 0] + (py - a[:, 1]) * seg[:, 1]) / length2, 0.0, 1.0)
    qx, qy = a[:, 0] + t * seg[:, 0], a[:, 1] + t * seg[:, 1]
    d2 = (px - qx) ** 2 + (py - qy) ** 2
    nearest = d2.argmin(axis=1)
    rows = np.arange(len(nearest))
    shape = np.broadcast_shapes(xs.shape, ys.shape)
    distance = np.sqrt(d2[rows, nearest]).reshape(shape)
    curve_t = ((nearest + t[rows, nearest]) / len(seg)).reshape(shape)
    return distance.astype(np.float32), curve_t.astype(np.float32)


def scratch_alphas(size_hw, params: ScratchParams) -> tuple[np.ndarray, np.ndarray]:
    """The groove's alpha and its bright shoulder's alpha, both ``(H, W)`` float32."""
    groove = np.zeros(size_hw, np.float32)
    shoulder = np.zeros(size_hw, np.float32)
    points = _bezier(params.points_xy, 48)
    # Distances are only needed in a band around the curve: rasterise it, then measure there.
    band = np.zeros(size_hw, np.uint8)
    reach = math.ceil(params.width / 2 + 4)
    cv2.polylines(band, [np.round(points).astype(np.int32)], False, 1, 2 * reach + 1)
    ys, xs = np.nonzero(band)
    distance, curve_t = _polyline_distance(points, xs.astype(np.float32), ys.astype(np.float32))
    taper = np.clip(np.minimum(curve_t, 1 - curve_t) / max(params.taper, 1e-3), 0.0, 1.0)
    core = np.clip(params.width / 2 - distance + 0.5, 0.0, 1.0)
    groove[ys, xs] = core * taper * params.strength
    ring = np.exp(-(((distance - params.width / 2 - 1.0) / 0.9) ** 2))
    shoulder[ys, xs] = ring * (1 - core) * taper * params.shoulder_strength
    return groove, shoulder


def polygon_alpha(size_hw, polygon_xy) -> np.ndarray:
    """Anti-aliased filled polygon, ``(H, W)`` float32 in 0..1."""
    canvas = np.zeros(size_hw, np.uint8)
    scale = 1 << POLYGON_SHIFT
    # cv2 puts integer coordinates on pixel centres; the polygon's vertices are pixel edges.
    points = np.round((np.asarray(polygon_xy, np.float64) - 0.5) * scale).astype(np.int32)
    cv2.fillPoly(canvas, [points], 255, lineType=cv2.LINE_AA, shift=POLYGON_SHIFT)
    return canvas.astype(np.float32) / 255.0


def stain_alphas(size_hw, params: StainParams) -> tuple[np.ndarray, np.ndarray]:
    """The blotch's alpha and its rim's alpha, both ``(H, W)`` float32."""
    body = np.zeros(size_hw, np.float32)
    rim = np.zeros(size_hw, np.float32)
    rx, ry = params.radii_xy
    half = max(rx, ry) * 1.5 + 2
    rows, cols, xs, ys = _window(size_hw, params.center_xy, half)
    dx, dy = xs - params.center_xy[0], ys - params.center_xy[1]
    cos, sin = math.cos(params.angle), math.sin(params.angle)
    u = (dx * cos + dy * sin) / rx
    v = (-dx * sin + dy * cos) / ry
    # The noise grid is stretched over the unclipped window so the outline wanders irregularly.
    fx0, fy0 = math.floor(params.center_xy[0] - half), math.floor(params.center_xy[1] - half)
    fx1, fy1 = math.ceil(params.center_xy[0] + half) + 1, math.ceil(params.center_xy[1] + half) + 1
    noise = cv2.resize(params.shape_noise, (fx1 - fx0, fy1 - fy0), interpolation=cv2.INTER_CUBIC)
    noise = noise[rows.start - fy0 : rows.stop - fy0, cols.start - fx0 : cols.stop - fx0]
    level = 1.0 - (u**2 + v**2) + 0.45 * noise
    smooth = np.clip(level / 0.35, 0.0, 1.0)
    body[rows, cols] = smooth * smooth * (3 - 2 * smooth)
    rim[rows, cols] = np.exp(-(((level - 0.05) / 0.07) ** 2)) * (level > -0.1)
    return body, rim


def defect_footprint(size_hw: tuple[int, int], params: DefectParams) -> np.ndarray:
    """Where a defect touches the die: alpha ``(H, W)`` float32 (canonical orientation)."""
    if isinstance(params, ParticleParams):
        return particle_alpha(size_hw, params)
    if isinstance(params, ScratchParams):
        groove, shoulder = scratch_alphas(size_hw, params)
        return np.maximum(groove, shoulder)
    if isinstance(params, BridgeParams | OpenParams):
        return polygon_alpha(size_hw, params.polygon_xy)
    if isinstance(params, StainParams):
        body, rim = stain_alphas(size_hw, params)
        return np.maximum(body, rim)
    raise TypeError(f"unknown defect parameters {type(params).__name__}")


# --- painting (reflectance in, reflectance out) --------------------------------------------


def paint_defect(reflectance: np.ndarray, under: np.ndarray, params: DefectParams) -> np.ndarray:
    """The die's reflectance with one defect painted on (inputs are not modified)."""
    size_hw = reflectance.shape
    out = reflectance.astype(np.float32, copy=True)
    if isinstance(params, ParticleParams):
        alpha = particle_alpha(size_hw, params)
        out = out * (1 - alpha) + params.value * alpha
        if params.highlight > 0:
            # A specular glint on the side facing the light.
            cx, cy = params.center_xy
            r = params.radius
            rows, cols, xs, ys = _window(size_hw, params.center_xy, r * 1.5 + 2)
            glint = np.exp(
                -((xs - cx + 0.35 * r) ** 2 + (ys - cy + 0.35 * r) ** 2) / (0.08 * r * r)
            )
            spot = 0.85 * glint * alpha[rows, cols]
            out[rows, cols] = out[rows, cols] * (1 - spot) + params.highlight * spot
        return out
    if isinstance(params, ScratchParams):
        groove, shoulder = scratch_alphas(size_hw, params)
        out = out + (0.95 - out) * shoulder
        return out * (1 - groove) + params.value * groove
    if isinstance(params, BridgeParams):
        alpha = polygon_alpha(size_hw, params.polygon_xy)
        return out * (1 - alpha) + params.value * alpha
    if isinstance(params, OpenParams):
        alpha = polygon_alpha(size_hw, params.polygon_xy)
        # What is left in the cut: the layer beneath plus a little metal residue.
        return out - alpha * (1 - params.residue) * (out - under)
    if isinstance(params, StainParams):
        body, rim = stain_alphas(size_hw, params)
        return out * (1 - params.darkening * body - params.rim * rim)
    raise TypeError(f"unknown defect parameters {type(params).__name__}")


def changed_mask(before: np.ndarray, after: np.ndarray, tolerance: int) -> np.ndarray:
    """Pixels whose grey level changed by at least ``tolerance``: bool ``(H, W)``."""
    return np.abs(after.astype(np.int16) - before.astype(np.int16)) >= tolerance


def mask_to_xyxy(mask: np.ndarray) -> tuple[float, float, float, float]:
    """Tight pixel box ``(x_min, y_min, x_max, y_max)`` (end exclusive) of a non-empty mask."""
    ys, xs = np.nonzero(mask)
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
