"""The options of ``factory synth``, validated where they enter."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from factory.errors import FactoryError
from factory.synth.encoding import IMAGE_FORMATS

PLACEMENTS = ("context", "random")
BACKGROUND_MODES = ("auto", "inpaint")
AUTO_BLENDS = ("poisson-normal", "poisson-mixed", "alpha")
AUTO_PILOT_SAMPLES = 12


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
    min_changed_fraction: float = 0.15
    max_tries: int = 6
    max_patch_area_fraction: float = 0.25
    jitter: bool = True
    no_flip: list[str] = field(default_factory=list)
    no_turn: list[str] = field(default_factory=list)
    turn: list[str] = field(default_factory=list)
    region_mask: Path | None = None
    cache_dir: Path | None = None
    method: str = "poisson"
    # Keyword arguments for the blender's constructor (e.g. a diffusion model folder).
    blend_config: dict = field(default_factory=dict)
    # Encoding of the synthetic images: "auto" = the dominant format of the source train
    # images (JPEG at the quality estimated from their quantisation tables), "png" or "jpg".
    image_format: str = "auto"
    jpeg_quality: int | None = None  # None: estimated from the sources (95 if unknown)

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
        if self.image_format not in IMAGE_FORMATS:
            raise bad("image_format", " or ".join(IMAGE_FORMATS), self.image_format)
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
            raise bad("jpeg_quality", "in 1..100", self.jpeg_quality)
        if self.max_tries < 1:
            raise bad("max_tries", "at least 1", self.max_tries)
        # --method picks the family; --blend the exact backend (poisson-normal/-mixed).
        if self.method != "poisson":
            self.blend = self.method
        from factory.blend import blender_names

        if self.blend != "auto" and self.blend not in blender_names():
            raise FactoryError(
                f"--blend must be auto or one of {', '.join(blender_names())}, got {self.blend!r}"
            )

    def plan_dict(self) -> dict:
        """The options that decide the plan and the pixels (not how or where it runs)."""
        data = asdict(self)
        for key in ("workers", "shard", "resume", "cache_dir"):
            data.pop(key)
        data["region_mask"] = str(self.region_mask) if self.region_mask else None
        return data


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
