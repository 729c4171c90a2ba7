"""The plan: which background, which patches and which transforms, decided up front.

The plan is pure data computed from the seed, the bank's and the backgrounds' metadata and
the options; rendering a planned sample is a pure function of its entry. That is what makes
outputs identical for any number of workers, lets a run resume and lets shards split a job.
Where a paste lands is decided at render time (it needs the background's pixels), from the
sample's own seed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from factory.seeding import derive_seed, rng_for
from factory.synth.backgrounds import BackgroundInfo
from factory.synth.bank import PatchInfo
from factory.synth.options import SynthOptions

# Scale is kept within these bounds whatever the class's sizes say.
SCALE_BOUNDS = (0.6, 1.6)
# Masks at least this elongated say something about a class's orientation.
ELONGATED = 2.0
# Angles within this many degrees of 0/90 count as axis-aligned.
AXIS_TOLERANCE_DEG = 12.0
# Contexts with at least this share of edge energy along multiples of 45 degrees are
# structured (isotropic texture has about 1/3).
STRUCTURED_CONTEXT = 0.6


@dataclass(frozen=True)
class ClassGeometry:
    """Transform ranges of one class, learned from its real instances (or forced by options)."""

    class_name: str
    size_range: tuple[float, float]  # sqrt(box area) of real instances, 5th..95th percentile
    rotate_range: tuple[float, float]  # degrees
    flip: bool
    turn: bool  # 90-degree turns
    why: str
    box_margin_xy: tuple[float, float] = (0.0, 0.0)  # label margin around the defect, px


@dataclass(frozen=True)
class MaskPlan:
    """A drawn mask for a diffusion paste (``--diffusion-mask library|procedural``)."""

    source: str  # "library" | "procedural"
    shape: str  # the library mask's name, or the procedural kind ("stroke" | "blob")
    size_px: float  # sqrt of the mask's box area, drawn from the class's real sizes
    seed: int | None = None  # the procedural generator's seed (None for the library)
    # Long-axis angle (degrees, image axes) to turn an elongated shape to before the paste's
    # own flips and rotation: the replaced real patch's, when that one is elongated.
    align_deg: float | None = None


@dataclass(frozen=True)
class PastePlan:
    patch_id: str
    class_id: int
    class_name: str
    scale: float
    angle_deg: float
    flip_h: bool
    flip_v: bool
    turns: int  # number of 90-degree turns, 0..3
    jitter_seed: int | None
    box_margin_xy: tuple[float, float]
    placement: str
    blend: str
    # Other orientations (flip_h, flip_v, turns) the class allows, in a seeded order: on a
    # near-binary layout, render tries them when the planned one finds no spot whose
    # trace/substrate layout fits the defect (a short needs a gap of its orientation).
    alternatives: tuple[tuple[bool, bool, int], ...] = ()
    # A drawn mask replacing the patch's (diffusion pastes with --diffusion-mask != real).
    mask: MaskPlan | None = None


@dataclass(frozen=True)
class SamplePlan:
    index: int
    sample_id: str
    seed: int
    background_id: str
    pastes: tuple[PastePlan, ...]

    def to_dict(self) -> dict:
        data = asdict(self)
        for paste in data["pastes"]:
            if paste["mask"] is None:  # left out: plans without drawn masks keep their hash
                del paste["mask"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SamplePlan:
        return cls(
            index=data["index"],
            sample_id=data["sample_id"],
            seed=data["seed"],
            background_id=data["background_id"],
            pastes=tuple(
                PastePlan(
                    **{
                        **p,
                        "box_margin_xy": tuple(p["box_margin_xy"]),
                        "alternatives": tuple(tuple(a) for a in p.get("alternatives", ())),
                        "mask": MaskPlan(**p["mask"]) if p.get("mask") else None,
                    }
                )
                for p in data["pastes"]
            ),
        )


@dataclass
class Plan:
    samples: list[SamplePlan]
    targets: dict[str, int]
    planned: dict[str, int]
    shortfalls: dict[str, list[str]]  # class -> reasons
    geometry: dict[str, ClassGeometry]
    unplaceable: dict[str, int] = field(default_factory=dict)  # class -> patches too large


def learn_geometry(class_name: str, infos: list[PatchInfo], options: SynthOptions) -> ClassGeometry:
    """Size, rotation, flip and turn rules of one class from its real instances."""
    sizes = np.array([math.sqrt(i.box_wh[0] * i.box_wh[1]) for i in infos], float)
    size_range = (
        (float(np.percentile(sizes, 5)), float(np.percentile(sizes, 95))) if sizes.size else (0, 0)
    )
    angles = np.array(
        [i.angle_deg for i in infos if i.angle_deg is not None and i.elongation >= ELONGATED]
    )
    axis = [i.context_axis_fraction for i in infos if i.context_axis_fraction is not None]
    dominance = np.array(
        [i.context_hv_dominance for i in infos if i.context_hv_dominance is not None]
    )
    if len(axis) >= 3 and float(np.mean(axis)) >= STRUCTURED_CONTEXT:
        # The clean surroundings run along 0/45/90 degrees (traces, rolling streaks): a defect
        # rotated by 30 degrees would sit across that structure, so only jitter the angle.
        rotate = (-3.0, 3.0)
        # Turns only when the class occurs on both horizontal and vertical structure.
        turn = bool(min((dominance > 0.3).mean(), (dominance < -0.3).mean()) >= 0.15)
        why = (
            f"clean surroundings aligned to 0/45/90 degrees ({np.mean(axis):.0%} of edges): "
            f"small rotations{', 90-degree turns' if turn else ', no turns (edges run one way)'}"
        )
    elif angles.size < 3:
        rotate, turn, why = (-180.0, 180.0), True, "few elongated instances: any orientation"
    else:
        to_axis = np.minimum(angles % 90, 90 - angles % 90)
        aligned = to_axis <= AXIS_TOLERANCE_DEG
        if aligned.mean() >= 0.7:
            horizontal = (np.minimum(angles, 180 - angles) <= AXIS_TOLERANCE_DEG).mean()
            vertical = (np.abs(angles - 90) <= AXIS_TOLERANCE_DEG).mean()
            rotate = (-5.0, 5.0)
            turn = bool(min(horizontal, vertical) >= 0.15)
            why = (
                f"axis-aligned ({horizontal:.0%} horizontal, {vertical:.0%} vertical): "
                f"small rotations{', 90-degree turns' if turn else ', no turns'}"
            )
        else:
            axial = np.exp(2j * np.radians(angles))
            spread = 1 - abs(axial.mean())
            if spread >= 0.5:
                rotate, turn, why = (-180.0, 180.0), True, f"orientations spread ({spread:.2f})"
            else:
                rotate, turn = (-15.0, 15.0), False
                why = f"one dominant orientation (spread {spread:.2f}): small rotations, no turns"
    flip = not ({"all", class_name} & set(options.no_flip))
    if {"all", class_name} & set(options.no_turn):
        turn, why = False, why + "; turns disabled by --no-turn"
    if {"all", class_name} & set(options.turn):
        turn, why = True, why + "; turns enabled by --turn"
    if options.box_margin == "auto":
        margins = np.array([i.label_margin_xy for i in infos], float).reshape(-1, 2)
        margin = (
            tuple(round(float(v), 2) for v in np.median(margins, axis=0)) if infos else (0.0, 0.0)
        )
    else:
        margin = (float(options.box_margin), float(options.box_margin))
    return ClassGeometry(class_name, size_range, rotate, flip, turn, why, margin)


def scale_range(info: PatchInfo, geometry: ClassGeometry) -> tuple[float, float]:
    """Scales that keep a patch's size within its class's real sizes (and SCALE_BOUNDS)."""
    size = math.sqrt(info.box_wh[0] * info.box_wh[1])
    low, high = geometry.size_range
    lo = min(max(SCALE_BOUNDS[0], low / size), 1.0)
    hi = max(min(SCALE_BOUNDS[1], high / size), 1.0)
    return (round(lo, 4), round(hi, 4))


def fits(info: PatchInfo, backgrounds: list[BackgroundInfo], options: SynthOptions) -> bool:
    """Whether a patch (at scale 1) can be placed on the smallest background."""
    width = min(b.width for b in backgrounds) - 2 * options.border_margin
    height = min(b.height for b in backgrounds) - 2 * options.border_margin
    w, h = info.box_wh
    area_ok = w * h <= options.max_patch_area_fraction * width * height
    return area_ok and w < width and h < height


def make_plan(
    class_names: list[str],
    patches: list[PatchInfo],
    backgrounds: list[BackgroundInfo],
    real_train_images: int,
    options: SynthOptions,
    *,
    mask_shapes: dict[str, list[str]] | None = None,
) -> Plan:
    """Decide every synthetic sample (pure: same inputs and seed, same plan).

    ``mask_shapes``: the library mask names each class may use (``--diffusion-mask
    library``), see :func:`factory.synth.shapes.library_shapes_for`.
    """
    seed = options.seed
    if options.diffusion_mask == "library" and not mask_shapes:
        raise ValueError("--diffusion-mask library needs the library's mask names per class")
    by_class: dict[str, list[PatchInfo]] = {name: [] for name in class_names}
    for info in sorted(patches, key=lambda i: i.patch_id):
        by_class[info.class_name].append(info)
    geometry = {name: learn_geometry(name, by_class[name], options) for name in class_names}
    targets = dict.fromkeys(class_names, options.per_class)
    shortfalls: dict[str, list[str]] = {name: [] for name in class_names}
    unplaceable: dict[str, int] = {}
    sequences: dict[str, list[PatchInfo]] = {}
    for name in class_names:
        placeable = [i for i in by_class[name] if fits(i, backgrounds, options)]
        unplaceable[name] = len(by_class[name]) - len(placeable)
        if not by_class[name]:
            shortfalls[name].append("no real train instance of this class to cut")
        elif not placeable:
            shortfalls[name].append(
                f"all {len(by_class[name])} real instances are too large to place "
                f"(box over {options.max_patch_area_fraction:.0%} of the background)"
            )
        want = options.per_class
        if placeable and options.max_patch_reuse is not None:
            limit = len(placeable) * options.max_patch_reuse
            if limit < want:
                shortfalls[name].append(
                    f"--max-patch-reuse {options.max_patch_reuse}: {len(placeable)} placeable "
                    f"patches allow only {limit} pastes"
                )
                want = limit
        order = rng_for(seed, "plan", "patch-order", name).permutation(len(placeable))
        sequences[name] = [
            placeable[order[k % len(placeable)]] for k in range(want if placeable else 0)
        ]

    # How many images: pastes per image drawn in [min, max], then the synthetic-ratio cap.
    total = sum(len(s) for s in sequences.values())
    rng = rng_for(seed, "plan", "image-sizes")
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(int(rng.integers(options.min_per_image, options.max_per_image + 1)))
    if sizes:
        sizes[-1] -= sum(sizes) - total
        if sizes[-1] == 0:
            sizes.pop()
    if options.max_synthetic_ratio is not None:
        max_images = math.floor(options.max_synthetic_ratio * real_train_images)
        if len(sizes) > max_images:
            capacity = max_images * options.max_per_image
            if capacity < total:
                before = {name: len(sequences[name]) for name in class_names}
                _trim_evenly(sequences, capacity)
                for name in class_names:
                    if len(sequences[name]) < before[name]:
                        shortfalls[name].append(
                            f"--max-synthetic-ratio {options.max_synthetic_ratio:g}: at most "
                            f"{max_images} synthetic images x {options.max_per_image} pastes"
                        )
                total = capacity
            # Fill the allowed images as evenly as possible.
            sizes = [
                total // max_images + (1 if k < total % max_images else 0)
                for k in range(max_images)
            ]
            sizes = [s for s in sizes if s > 0]

    blend_mix = options.blend_fractions()
    # Interleave classes, then deal the pastes out to images in a seeded order.
    slots = [(name, info) for name in class_names for info in sequences[name]]
    order = rng_for(seed, "plan", "slots").permutation(len(slots))
    slots = [slots[k] for k in order]
    bg_sorted = sorted(backgrounds, key=lambda b: b.background_id)
    bg_order = rng_for(seed, "plan", "backgrounds").permutation(len(bg_sorted))
    samples = []
    cursor = 0
    for index, size in enumerate(sizes):
        chunk = slots[cursor : cursor + size]
        cursor += size
        background = bg_sorted[bg_order[index % len(bg_sorted)]]
        sample_seed = derive_seed(seed, "sample", index)
        pastes = tuple(
            _plan_paste(
                info,
                geometry[name],
                options,
                derive_seed(sample_seed, "paste", j),
                blend_mix,
                (mask_shapes or {}).get(name, []),
            )
            for j, (name, info) in enumerate(chunk)
        )
        samples.append(
            SamplePlan(index, f"syn_{index:06d}", sample_seed, background.background_id, pastes)
        )
    planned = Counter(p.class_name for s in samples for p in s.pastes)
    return Plan(
        samples=samples,
        targets=targets,
        planned={name: planned.get(name, 0) for name in class_names},
        shortfalls=shortfalls,
        geometry=geometry,
        unplaceable=unplaceable,
    )


def _trim_evenly(sequences: dict[str, list[PatchInfo]], capacity: int) -> None:
    """Drop pastes from the largest classes first until ``capacity`` remain (keeps balance)."""
    while sum(len(s) for s in sequences.values()) > capacity:
        name = max(sequences, key=lambda n: (len(sequences[n]), n))
        sequences[name].pop()


def _plan_paste(
    info: PatchInfo,
    geometry: ClassGeometry,
    options: SynthOptions,
    seed: int,
    blend_mix: list[tuple[str, float]] | None = None,
    library_shapes: list[str] | None = None,
) -> PastePlan:
    rng = np.random.default_rng(seed)
    lo, hi = scale_range(info, geometry)
    scale = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    angle = float(rng.uniform(*geometry.rotate_range))
    flip_h = bool(geometry.flip and rng.random() < 0.5)
    flip_v = bool(geometry.flip and rng.random() < 0.5)
    turns = int(rng.integers(0, 4)) if geometry.turn else 0
    jitter_seed = int(rng.integers(0, 2**31 - 1)) if options.jitter else None
    alternatives = orientation_alternatives((flip_h, flip_v, turns), geometry, rng)
    # Drawn after everything above, and only when needed, so that a single-method plan is
    # the one it always was and a mix differs from it only in each paste's blend and mask.
    blend = options.blend
    if blend_mix is not None and len(blend_mix) > 1:
        blend = draw_blend(blend_mix, float(rng.random()))
    mask = None
    if blend == "diffusion" and options.diffusion_mask != "real":
        mask = plan_drawn_mask(options.diffusion_mask, geometry, info, library_shapes or [], rng)
    return PastePlan(
        patch_id=info.patch_id,
        class_id=info.class_id,
        class_name=info.class_name,
        scale=round(scale, 4),
        angle_deg=round(angle, 2),
        flip_h=flip_h,
        flip_v=flip_v,
        turns=turns,
        jitter_seed=jitter_seed,
        box_margin_xy=label_margin_for(geometry.box_margin_xy, scale, options.box_margin_scaling),
        placement=options.placement,
        blend=blend,
        alternatives=alternatives if options.placement == "context" and mask is None else (),
        mask=mask,
    )


def label_margin_for(
    margin_xy: tuple[float, float], scale: float, scaling: str
) -> tuple[float, float]:
    """The label margin of a paste at ``scale``: the class margin as it is (``fixed``: real
    annotators pad small and large defects alike) or times the scale (``scaled``)."""
    factor = scale if scaling == "scaled" else 1.0
    return (round(margin_xy[0] * factor, 2), round(margin_xy[1] * factor, 2))


def draw_blend(blend_mix: list[tuple[str, float]], u: float) -> str:
    """The blender whose share of ``[0, 1)`` holds ``u`` (the last one takes any remainder)."""
    cumulative = 0.0
    for name, fraction in blend_mix:
        cumulative += fraction
        if u < cumulative:
            return name
    return blend_mix[-1][0]


# Drawn masks are at least this big (sqrt of box area, px): smaller ones vanish when resized.
MIN_DRAWN_MASK_PX = 3.0


def plan_drawn_mask(
    source: str,
    geometry: ClassGeometry,
    info: PatchInfo,
    library_shapes: list[str],
    rng: np.random.Generator,
) -> MaskPlan:
    """A library shape (or a procedural kind and seed) and a size drawn from the class's real
    sizes (log-uniform over its 5th..95th percentile), aligned like the replaced real patch
    when that one is elongated (so that the paste's planned rotation keeps its meaning)."""
    from factory.inpainter.masks import mask_kind_for_class

    low = max(float(geometry.size_range[0]), MIN_DRAWN_MASK_PX)
    high = max(float(geometry.size_range[1]), low)
    size = round(float(math.exp(rng.uniform(math.log(low), math.log(high)))), 2)
    align = info.angle_deg if info.angle_deg is not None and info.elongation >= ELONGATED else None
    if source == "library":
        if not library_shapes:
            raise ValueError(f"no library mask for class {info.class_name!r}")
        shape = library_shapes[int(rng.integers(len(library_shapes)))]
        return MaskPlan("library", shape, size, None, align)
    kind = mask_kind_for_class(info.class_name)
    return MaskPlan("procedural", kind, size, int(rng.integers(0, 2**31 - 1)), align)


def _oriented(flip_h: bool, flip_v: bool, turns: int) -> bytes:
    probe = np.arange(6).reshape(2, 3)
    if flip_h:
        probe = probe[:, ::-1]
    if flip_v:
        probe = probe[::-1]
    return np.ascontiguousarray(np.rot90(probe, turns)).tobytes() + bytes([turns % 2])


def orientation_alternatives(
    planned: tuple[bool, bool, int], geometry: ClassGeometry, rng: np.random.Generator
) -> tuple[tuple[bool, bool, int], ...]:
    """The distinct orientations the class allows other than ``planned``, shuffled."""
    flips = (False, True) if geometry.flip else (False,)
    turns = range(4) if geometry.turn else (0,)
    seen = {_oriented(*planned)}
    found = []
    for flip_h in flips:
        for flip_v in flips:
            for turn in turns:
                key = _oriented(flip_h, flip_v, turn)
                if key not in seen:
                    seen.add(key)
                    found.append((flip_h, flip_v, turn))
    order = rng.permutation(len(found)) if found else []
    return tuple(found[i] for i in order)
