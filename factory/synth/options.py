"""The options of ``factory synth``, validated where they enter."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from factory.errors import FactoryError
from factory.synth.encoding import IMAGE_FORMATS
from factory.synth.levels import SNAP_MODES
from factory.synth.topology import LAYOUT_CHECK_MODES

PLACEMENTS = ("context", "random")
# How the label margin follows a paste's scale. Annotators pad a defect by about the same
# number of pixels whatever its size (DeepPCB: the margin does not grow with the defect), so
# "fixed" keeps it; "scaled" multiplies it by the paste's scale, which is how sets made
# before 2026-11-24 were labelled (kept to reproduce them byte for byte).
BOX_MARGIN_SCALINGS = ("fixed", "scaled")
# Options added after the first runs, and the value every earlier run had: SynthOptions.
# plan_dict leaves an option out at that value ("scaled" was how earlier runs labelled,
# although "fixed" is the default now).
PLAN_DICT_OMITTED = {
    "diffusion_mask": "real",
    "region_mask_required": False,
    "box_margin_scaling": "scaled",
    "mask_library": None,
}
BACKGROUND_MODES = ("auto", "inpaint", "labelled")
AUTO_BLENDS = ("poisson-normal", "poisson-mixed", "alpha")
AUTO_PILOT_SAMPLES = 12
# --blend choices for the poisson share of a --method mix (alpha is a method of its own there).
MIX_POISSON_BLENDS = ("auto", "poisson-normal", "poisson-mixed")
# Where a diffusion paste's mask comes from: the planned real patch's mask (transformed), a
# shape from the mask library, or the procedural generator (factory.inpainter.masks).
DIFFUSION_MASKS = ("real", "library", "procedural")
# The shipped mask library (used by --diffusion-mask library without --mask-library).
DEFAULT_MASK_LIBRARY = Path(__file__).resolve().parents[2] / "masks"


@dataclass
class SynthOptions:
    """Everything that decides a synthetic set (the CLI's options, one to one).

    ``per_class``: synthetic instances wanted per class. ``blend``: a name registered in
    :mod:`factory.blend`, or ``auto``: a pilot of the first samples is rendered with each of
    :data:`AUTO_BLENDS` and the one with the best mean quality score is used. ``max_per_image``/``min_per_image``: pastes per synthetic image.
    ``max_patch_reuse``: a real defect is pasted at most this many times (None: no cap).
    ``max_synthetic_ratio``: synthetic images at most this many times the real train
    images (None: no cap). ``no_flip``/``no_turn``: classes (or ``"all"``) whose meaning a
    mirror or a 90-degree turn would change; ``turn``: classes forced to allow turns.
    ``method``: one method (``poisson``, ``alpha``, ``diffusion`` or a registered blender) or
    a mix by fractions (``poisson=0.5,diffusion=0.5``, normalised, kept in canonical form);
    each paste's method is drawn in the plan and ``blend`` decides the poisson share.
    ``diffusion_mask``: ``real`` (the planned patch's mask), ``library`` (a shape from
    ``mask_library``, default the repository's ``masks/``) or ``procedural`` (the stroke/blob
    generator), for diffusion pastes only.
    """

    per_class: int = 100
    blend: str = "auto"
    placement: str = "context"
    max_per_image: int = 4
    min_per_image: int = 1
    max_patch_reuse: int | None = None
    max_synthetic_ratio: float | None = None
    synthetic_only: bool = False
    seed: int = 0
    workers: int = 1
    shard: tuple[int, int] | None = None  # (i, n), i in 1..n
    resume: bool = False
    min_quality: float | None = None
    backgrounds: str = "auto"
    border_margin: int = 4
    overlap_tolerance: float = 0.02
    box_tolerance: int = 12
    # Label boxes: the changed-pixel box padded by the dataset's own annotation margin
    # ("auto": learned per class from real labels vs. their masks) or by a fixed number of px.
    box_margin: str | float = "auto"
    box_margin_scaling: str = "fixed"
    min_changed_fraction: float = 0.15
    max_tries: int = 6
    max_patch_area_fraction: float = 0.25
    jitter: bool = True
    no_flip: list[str] = field(default_factory=list)
    no_turn: list[str] = field(default_factory=list)
    turn: list[str] = field(default_factory=list)
    # An image (one mask for every background) or a folder of ``<background stem>.<ext>``
    # masks (see factory.synth.regions); non-zero = allowed.
    region_mask: Path | None = None
    cache_dir: Path | None = None
    method: str = "poisson"
    # Keyword arguments for the blender's constructor (e.g. a diffusion model folder).
    blend_config: dict = field(default_factory=dict)
    # Encoding of the synthetic images: "auto" = the dominant format of the source train
    # images (JPEG at the quality estimated from their quantisation tables), "png" or "jpg".
    image_format: str = "auto"
    jpeg_quality: int | None = None  # None: estimated from the sources (95 if unknown)
    diffusion_mask: str = "real"
    mask_library: Path | None = None  # None: DEFAULT_MASK_LIBRARY
    # With a folder of per-background region masks: leave out backgrounds that have none
    # (default: they are used whole, minus the border).
    region_mask_required: bool = False
    # "auto": when the train images are bi-level (binarised scans), blended pixels are
    # snapped back to their two grey levels (factory.synth.levels); "off": never.
    snap_levels: str = "auto"
    # "auto": on near-binary layouts (where pastes are placed by their footprint), a paste
    # must keep its source instance's layout signature (factory.synth.topology), else it is
    # placed again; "off": never checked.
    layout_check: str = "auto"

    def __post_init__(self) -> None:
        def bad(name: str, expected: str, value) -> FactoryError:
            return FactoryError(f"--{name.replace('_', '-')} must be {expected}, got {value!r}")

        if self.per_class < 1:
            raise bad("per_class", "at least 1", self.per_class)
        if self.placement not in PLACEMENTS:
            raise bad("placement", " or ".join(PLACEMENTS), self.placement)
        if self.backgrounds not in BACKGROUND_MODES:
            raise bad("backgrounds", " or ".join(BACKGROUND_MODES), self.backgrounds)
        if self.max_per_image < 1:
            raise bad("max_per_image", "at least 1", self.max_per_image)
        if not 1 <= self.min_per_image <= self.max_per_image:
            raise bad(
                "min_per_image",
                f"between 1 and --max-per-image ({self.max_per_image})",
                self.min_per_image,
            )
        if self.max_patch_reuse is not None and self.max_patch_reuse < 1:
            raise bad("max_patch_reuse", "at least 1", self.max_patch_reuse)
        if self.max_synthetic_ratio is not None and self.max_synthetic_ratio <= 0:
            raise bad("max_synthetic_ratio", "positive", self.max_synthetic_ratio)
        if self.workers < 1:
            raise bad("workers", "at least 1", self.workers)
        if self.shard is not None:
            i, n = self.shard
            if not (n >= 1 and 1 <= i <= n):
                raise bad("shard", "i/n with 1 <= i <= n", f"{i}/{n}")
        if self.min_quality is not None and not 0 <= self.min_quality <= 1:
            raise bad("min_quality", "in [0, 1]", self.min_quality)
        if not 0 <= self.overlap_tolerance < 1:
            raise bad("overlap_tolerance", "in [0, 1)", self.overlap_tolerance)
        if self.box_margin != "auto":
            try:
                self.box_margin = float(self.box_margin)
            except (TypeError, ValueError):
                raise bad("box_margin", "auto or a number of pixels", self.box_margin) from None
            if self.box_margin < 0:
                raise bad("box_margin", "auto or a number of pixels >= 0", self.box_margin)
        if self.box_margin_scaling not in BOX_MARGIN_SCALINGS:
            raise bad(
                "box_margin_scaling", " or ".join(BOX_MARGIN_SCALINGS), self.box_margin_scaling
            )
        if self.image_format not in IMAGE_FORMATS:
            raise bad("image_format", " or ".join(IMAGE_FORMATS), self.image_format)
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
            raise bad("jpeg_quality", "in 1..100", self.jpeg_quality)
        if self.max_tries < 1:
            raise bad("max_tries", "at least 1", self.max_tries)
        if self.snap_levels not in SNAP_MODES:
            raise bad("snap_levels", " or ".join(SNAP_MODES), self.snap_levels)
        if self.layout_check not in LAYOUT_CHECK_MODES:
            raise bad("layout_check", " or ".join(LAYOUT_CHECK_MODES), self.layout_check)
        if self.region_mask_required and self.region_mask is None:
            raise FactoryError("--region-mask-required needs --region-mask (a folder of masks)")
        from factory.blend import blend_configs, blender_names

        fractions = parse_method(self.method)
        self.method = format_method(fractions)
        if len(fractions) == 1:
            # --method picks the family; --blend the exact backend (poisson-normal/-mixed).
            if self.method != "poisson":
                self.blend = self.method
            if self.blend != "auto" and self.blend not in blender_names():
                raise FactoryError(
                    f"--blend must be auto or one of {', '.join(blender_names())}, "
                    f"got {self.blend!r}"
                )
        elif "poisson" in fractions:
            if self.blend not in MIX_POISSON_BLENDS:
                raise FactoryError(
                    f"--blend must be {' or '.join(MIX_POISSON_BLENDS)} for the poisson share "
                    f"of --method {self.method}, got {self.blend!r}"
                )
        elif self.blend != "auto":
            raise FactoryError(
                f"--blend {self.blend} needs a poisson share in --method, got {self.method!r}"
            )
        if self.diffusion_mask not in DIFFUSION_MASKS:
            raise bad("diffusion_mask", " or ".join(DIFFUSION_MASKS), self.diffusion_mask)
        if self.diffusion_mask != "real" and "diffusion" not in fractions:
            raise FactoryError(
                f"--diffusion-mask {self.diffusion_mask} needs diffusion in --method, "
                f"got {self.method!r}"
            )
        if self.mask_library is not None and self.diffusion_mask != "library":
            raise FactoryError(
                f"--mask-library needs --diffusion-mask library, got {self.diffusion_mask!r}"
            )
        # Fails early when a blend option is meant for no blender of the mix (the poisson
        # share's blend, still auto here, takes the Poisson blends' options: none).
        names = ["poisson-normal" if n == "auto" else n for n in self.blend_names()]
        blend_configs(sorted(set(names)), self.blend_config)

    def method_fractions(self) -> dict[str, float]:
        """``{method: fraction}`` in canonical order (one entry for a single method)."""
        return parse_method(self.method)

    def blend_fractions(self) -> list[tuple[str, float]]:
        """``[(blender name, fraction)]`` of the mix, the poisson share as ``blend``."""
        merged: dict[str, float] = {}
        for name, fraction in self.method_fractions().items():
            key = self.blend if name == "poisson" else name
            merged[key] = merged.get(key, 0.0) + fraction
        return sorted(merged.items())

    def blend_names(self) -> list[str]:
        return [name for name, _ in self.blend_fractions()]

    def blender_configs(self) -> dict[str, dict]:
        """Each blender's constructor arguments: the keys of ``blend_config`` it understands
        (a single method gets them all, as before mixes existed)."""
        from factory.blend import blend_configs

        return blend_configs(self.blend_names(), self.blend_config)

    @property
    def uses_poisson(self) -> bool:
        return "poisson" in self.method_fractions()

    def mask_library_dir(self) -> Path:
        return Path(self.mask_library) if self.mask_library is not None else DEFAULT_MASK_LIBRARY

    def differences(self, stored_plan_dict: dict) -> list[str]:
        """The options in which ``stored_plan_dict`` (an earlier run's :meth:`plan_dict`)
        differs from these, as ``--name (then X, now Y)``."""
        current = self.plan_dict()
        out = []
        for key in sorted(set(stored_plan_dict) | set(current)):
            then = stored_plan_dict.get(key, PLAN_DICT_OMITTED.get(key))
            now = current.get(key, PLAN_DICT_OMITTED.get(key))
            if then != now:
                out.append(f"--{key.replace('_', '-')} (then {then!r}, now {now!r})")
        return out

    def plan_dict(self) -> dict:
        """The options that decide the plan and the pixels (not how or where it runs)."""
        data = asdict(self)
        for key in ("workers", "shard", "resume", "cache_dir"):
            data.pop(key)
        data["region_mask"] = str(self.region_mask) if self.region_mask else None
        if self.mask_library is not None:
            data["mask_library"] = str(self.mask_library)
        # Options added later are left out at the values earlier runs had: those runs keep
        # their plan hash (so --resume still matches) and their metadata bytes.
        for key, earlier in PLAN_DICT_OMITTED.items():
            if data[key] == earlier:
                data.pop(key)
        # What snapping does depends on the images: the plan hash takes the learned levels.
        data.pop("snap_levels")
        # Likewise the layout check: the plan hash takes the signatures it enforces.
        data.pop("layout_check")
        return data


def parse_method(text: str) -> dict[str, float]:
    """``--method``: one name (``poisson``) or fractions (``poisson=0.5,diffusion=0.5``).

    Returns ``{name: fraction}`` sorted by name, fractions normalised to sum to 1 and kept
    to 6 significant digits, so that the canonical text (:func:`format_method`) parses back
    to the same mix.
    """
    import math

    from factory.blend import blender_names

    known = ["poisson", *(n for n in blender_names() if n != "poisson")]
    text = str(text).strip()
    weights: dict[str, float] = {}
    for part in text.split(",") if "=" in text or "," in text else [text + "=1"]:
        name, sep, value = (v.strip() for v in part.partition("="))
        if not name:
            raise FactoryError(
                f"--method must be a method or a mix like poisson=0.5,diffusion=0.5, got {text!r}"
            )
        if name not in known:
            raise FactoryError(
                f"--method: unknown method {name!r} in {text!r}; known: {', '.join(known)}"
            )
        try:
            weight = float(value) if sep else math.nan
        except ValueError:
            weight = math.nan
        if not (math.isfinite(weight) and weight > 0):
            raise FactoryError(
                f"--method: the fraction of {name} must be a number > 0, got {value!r} in {text!r}"
            )
        if name in weights:
            raise FactoryError(f"--method: {name} is given twice in {text!r}")
        weights[name] = weight
    total = sum(weights.values())
    if abs(total - 1) < 1e-4:  # already normalised (e.g. the canonical text): keep as given
        total = 1.0
    return {name: float(f"{weights[name] / total:.6g}") for name in sorted(weights)}


def format_method(fractions: dict[str, float]) -> str:
    """The canonical ``--method`` text: a plain name for one method, else ``a=0.3,b=0.7``."""
    if len(fractions) == 1:
        return next(iter(fractions))
    return ",".join(f"{name}={fraction:.6g}" for name, fraction in fractions.items())


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise FactoryError(
            f"--shard must look like 2/8 (this is shard 2 of 8), got {text!r}"
        ) from None
    if not (n >= 1 and 1 <= i <= n):
        raise FactoryError(f"--shard must be i/n with 1 <= i <= n, got {text!r}")
    return (i, n)
