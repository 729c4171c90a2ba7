"""Stable Diffusion inpainting from a LOCAL checkpoint folder (never a download).

The folder is a diffusers pipeline folder (``model_index.json``, ``unet/``, ``vae/``,
``text_encoder/``, ``tokenizer/``, ``scheduler/``) of an *inpainting* model (its UNet takes
9 input channels). It loads with ``local_files_only=True``; on a GPU in fp16, on a CPU in
fp32 with a warning that it is slow. The safety checker is not loaded: it is meant for
photographs of people and blacks out false positives, which on defect images would silently
corrupt the data set.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np

from factory.errors import FactoryError
from factory.inpainter.prompts import PromptSpec
from factory.seeding import torch_generator_for

INPAINT_UNET_CHANNELS = 9  # 4 latent + 4 masked-image latent + 1 mask


class SlowDeviceWarning(UserWarning):
    """Stable Diffusion is running on a CPU."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def load_sd_inpaint(path: Path | str, *, device: str | None = None):
    """Load ``StableDiffusionInpaintPipeline`` from a local folder; one clear error otherwise."""
    import torch
    from diffusers import StableDiffusionInpaintPipeline

    path = Path(path)
    if not path.exists():
        raise FactoryError(f"{path}: Stable Diffusion inpainting checkpoint not found")
    if not path.is_dir():
        raise FactoryError(
            f"{path}: not a Stable Diffusion checkpoint folder (got a file; expected a diffusers "
            "folder with model_index.json, e.g. saved by pipeline.save_pretrained)"
        )
    if not (path / "model_index.json").is_file():
        raise FactoryError(
            f"{path}: not a Stable Diffusion checkpoint folder (no model_index.json; expected a "
            "diffusers folder with unet/, vae/, text_encoder/, tokenizer/, scheduler/)"
        )
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    try:
        pipe = StableDiffusionInpaintPipeline.from_pretrained(
            path,
            local_files_only=True,
            dtype=dtype,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    except (OSError, ValueError, TypeError, KeyError, ImportError) as error:
        raise FactoryError(f"{path}: cannot load the checkpoint ({_first_line(error)})") from None
    in_channels = pipe.unet.config.in_channels
    if in_channels != INPAINT_UNET_CHANNELS:
        raise FactoryError(
            f"{path}: not an inpainting checkpoint (its UNet takes {in_channels} input "
            f"channels, an inpainting UNet takes {INPAINT_UNET_CHANNELS})"
        )
    if not device.startswith("cuda"):
        warnings.warn(
            "Stable Diffusion inpainting is running on the CPU: expect minutes per image "
            "(a GPU runs it in fp16 in about a second)",
            SlowDeviceWarning,
            stacklevel=2,
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def default_size(pipe) -> int:
    """The pipeline's native resolution (512 for SD 1.x/2.x inpainting)."""
    return int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)


def sd_inpaint(
    pipe,
    background_crop: np.ndarray,
    mask: np.ndarray,
    spec: PromptSpec,
    seed: int,
    *,
    size: int | None = None,
) -> np.ndarray:
    """Inpaint ``spec.prompt`` inside ``mask`` of a uint8 grey or BGR crop; pixels outside
    the mask are returned unchanged. The crop is resized to ``size`` (default: the model's
    native resolution) for the model and back."""
    from PIL import Image

    mask = np.asarray(mask, bool)
    if background_crop.dtype != np.uint8 or mask.shape != background_crop.shape[:2]:
        raise FactoryError(
            f"sd_inpaint: expected a uint8 crop and a mask of the same size, got "
            f"{background_crop.dtype} {background_crop.shape} and mask {mask.shape}"
        )
    size = size or default_size(pipe)
    h, w = background_crop.shape[:2]
    rgb = (
        cv2.cvtColor(background_crop, cv2.COLOR_GRAY2RGB)
        if background_crop.ndim == 2
        else cv2.cvtColor(background_crop, cv2.COLOR_BGR2RGB)
    )
    image = Image.fromarray(cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA))
    mask_small = cv2.resize(mask.astype(np.uint8) * 255, (size, size), cv2.INTER_NEAREST)
    result = pipe(
        prompt=spec.prompt,
        negative_prompt=spec.negative_prompt or None,
        image=image,
        mask_image=Image.fromarray(mask_small),
        height=size,
        width=size,
        strength=spec.strength,
        guidance_scale=spec.guidance_scale,
        num_inference_steps=spec.steps,
        generator=torch_generator_for(seed, "sd-inpaint"),
        output_type="np",
    ).images[0]
    generated = np.clip(np.rint(result * 255), 0, 255).astype(np.uint8)
    generated = cv2.resize(generated, (w, h), interpolation=cv2.INTER_LINEAR)
    if background_crop.ndim == 2:
        generated = cv2.cvtColor(generated, cv2.COLOR_RGB2GRAY)
    else:
        generated = cv2.cvtColor(generated, cv2.COLOR_RGB2BGR)
    out = background_crop.copy()
    out[mask] = generated[mask]
    return out
