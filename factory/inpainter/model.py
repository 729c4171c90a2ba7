"""The licence-clean inpainter: a small class-conditional ``UNet2DModel`` and its schedulers.

Input channels: the noisy crop (C), the clean context with the mask region zeroed (C) and the
mask (1), so ``2 * C + 1``; output: the predicted noise (C). C is 1 for greyscale datasets
and 3 for colour ones. The class is a learned embedding (``num_class_embeds``). Training
uses a DDPM scheduler; sampling uses DDIM built from the same configuration.

On disk (``save_pretrained`` / ``load_inpainter``), everything loads from a local folder::

    DIR/inpainter.json     class names, crop size, channels, context factor, training record
    DIR/unet/              diffusers UNet2DModel (config.json + safetensors)
    DIR/scheduler/         DDPMScheduler config
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from factory.errors import FactoryError

MANIFEST = "inpainter.json"
FORMAT = "factory-inpainter/1"
PREDICTION_TYPES = ("sample", "epsilon", "v_prediction")


@dataclass(frozen=True)
class InpainterConfig:
    """Architecture and data geometry of an inpainter (what a preset chooses)."""

    image_size: int = 48
    channels: int = 1
    block_out_channels: tuple[int, ...] = (32, 64, 96, 128)
    layers_per_block: int = 1
    attention_levels: tuple[bool, ...] = (False, False, False, True)
    norm_num_groups: int = 16
    num_train_timesteps: int = 1000
    # A crop is context_factor times the defect's longer box side (clamped to min_crop px).
    context_factor: float = 2.0
    min_crop: int = 24
    # What the UNet predicts: "sample" (the clean crop; converges fastest and gives clean,
    # if smooth, defects after a short CPU training), "epsilon" (the noise) or "v_prediction".
    prediction_type: str = "sample"

    def __post_init__(self) -> None:
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(
                f"prediction_type must be one of {', '.join(PREDICTION_TYPES)}, "
                f"got {self.prediction_type!r}"
            )
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if len(self.attention_levels) != len(self.block_out_channels):
            raise ValueError("attention_levels needs one flag per block_out_channels entry")
        if self.image_size % 2 ** (len(self.block_out_channels) - 1):
            raise ValueError(
                f"image_size {self.image_size} must be divisible by "
                f"{2 ** (len(self.block_out_channels) - 1)} for {len(self.block_out_channels)} levels"
            )


@dataclass
class DefectInpainter:
    """A trained (or freshly built) inpainter: the UNet, its scheduler config and class names."""

    unet: object  # diffusers.UNet2DModel
    scheduler_config: dict
    class_names: list[str]
    config: InpainterConfig
    record: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_id(self, name: str) -> int:
        if name not in self.class_names:
            raise FactoryError(
                f"class {name!r} is not known to this inpainter (trained on: "
                f"{', '.join(self.class_names)})"
            )
        return self.class_names.index(name)

    def ddim(self):
        from diffusers import DDIMScheduler

        return DDIMScheduler.from_config(self.scheduler_config)

    def ddpm(self):
        from diffusers import DDPMScheduler

        return DDPMScheduler.from_config(self.scheduler_config)

    def save_pretrained(self, out: Path | str) -> None:
        from diffusers import DDPMScheduler

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.unet.save_pretrained(out / "unet")
        DDPMScheduler.from_config(self.scheduler_config).save_pretrained(out / "scheduler")
        manifest = {
            "format": FORMAT,
            "class_names": self.class_names,
            "config": asdict(self.config),
            "record": self.record,
        }
        # Written last: its presence marks a complete model folder.
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def build_unet(config: InpainterConfig, num_classes: int):
    """A randomly initialised class-conditional UNet2DModel (weights depend on torch's state)."""
    from diffusers import UNet2DModel

    down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in config.attention_levels)
    up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(config.attention_levels))
    return UNet2DModel(
        sample_size=config.image_size,
        in_channels=2 * config.channels + 1,
        out_channels=config.channels,
        block_out_channels=config.block_out_channels,
        layers_per_block=config.layers_per_block,
        down_block_types=down,
        up_block_types=up,
        num_class_embeds=num_classes,
        norm_num_groups=config.norm_num_groups,
        attention_head_dim=min(32, config.block_out_channels[-1]),
    )


def default_scheduler_config(config: InpainterConfig) -> dict:
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(
        num_train_timesteps=config.num_train_timesteps,
        beta_schedule="squaredcos_cap_v2",
        prediction_type=config.prediction_type,
        clip_sample=True,
    )
    return dict(scheduler.config)


def build_inpainter(config: InpainterConfig, class_names: list[str], *, seed: int = 0):
    """A fresh inpainter with weights drawn from ``seed`` (global torch RNG left untouched)."""
    import torch

    from factory.seeding import derive_seed

    # fork_rng keeps the caller's global RNG state as it was: only this build is seeded.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "inpainter-init"))
        unet = build_unet(config, len(class_names))
    return DefectInpainter(unet, default_scheduler_config(config), list(class_names), config)


def load_inpainter(path: Path | str, *, device: str | None = None) -> DefectInpainter:
    """Load a folder written by ``save_pretrained`` (local files only, never a download)."""
    from diffusers import UNet2DModel

    path = Path(path)
    if not path.exists():
        raise FactoryError(
            f"{path}: inpainter folder not found (train one with `factory train-inpainter`)"
        )
    manifest_path = path / MANIFEST
    if not path.is_dir() or not manifest_path.is_file():
        raise FactoryError(
            f"{path}: not an inpainter folder (no {MANIFEST}; train one with `factory train-inpainter`)"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
        config_data = dict(manifest["config"])
        for key in ("block_out_channels", "attention_levels"):
            config_data[key] = tuple(config_data[key])
        config = InpainterConfig(**config_data)
        class_names = [str(c) for c in manifest["class_names"]]
    except (ValueError, KeyError, TypeError) as error:
        raise FactoryError(f"{manifest_path}: malformed inpainter manifest ({error})") from None
    try:
        unet = UNet2DModel.from_pretrained(path / "unet", local_files_only=True)
        scheduler_config = json.loads((path / "scheduler" / "scheduler_config.json").read_text())
    except (OSError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FactoryError(f"{path}: cannot load inpainter weights ({first})") from None
    # The scheduler's prediction type is what the weights were trained for.
    if scheduler_config.get("prediction_type") in PREDICTION_TYPES:
        config = replace(config, prediction_type=scheduler_config["prediction_type"])
    unet.eval()
    if device is not None:
        unet.to(device)
    return DefectInpainter(unet, scheduler_config, class_names, config, manifest.get("record", {}))
