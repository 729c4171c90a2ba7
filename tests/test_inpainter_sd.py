"""Stable Diffusion inpainting from a local checkpoint: a tiny random-weight pipeline built from
configs (as diffusers' own tests do), saved to a tmp folder and loaded with local_files_only.

The CLIP tokenizer cannot be downloaded, so it is built offline from a tiny vocabulary (single
characters) and merges file written here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from factory.errors import FactoryError
from factory.inpainter.prompts import PromptSpec

pytest.importorskip("transformers")


def _tiny_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in "abcdefghijklmnopqrstuvwxyz0123456789,.-":
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + "</w>", len(vocab))
    folder.mkdir(parents=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(
        vocab_file=str(folder / "vocab.json"),
        merges_file=str(folder / "merges.txt"),
        pad_token="<|endoftext|>",
        model_max_length=77,
    )


def build_tiny_sd_inpaint(folder: Path, *, in_channels: int = 9) -> Path:
    """Save a tiny random StableDiffusionInpaintPipeline (no download) to ``folder``."""
    import torch
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionInpaintPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    with torch.random.fork_rng(devices=[]):  # fixed weights, global RNG left as it was
        torch.manual_seed(0)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64),
            layers_per_block=1,
            sample_size=16,
            in_channels=in_channels,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            norm_num_groups=16,
        )
        vae = AutoencoderKL(
            block_out_channels=[16, 32],
            in_channels=3,
            out_channels=3,
            down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
            up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
            latent_channels=4,
            norm_num_groups=8,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                bos_token_id=0,
                eos_token_id=1,
                pad_token_id=1,
                hidden_size=32,
                intermediate_size=37,
                layer_norm_eps=1e-05,
                num_attention_heads=4,
                num_hidden_layers=2,
                vocab_size=100,
            )
        )
    pipe = StableDiffusionInpaintPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=_tiny_tokenizer(folder.parent / f"{folder.name}-tokenizer"),
        scheduler=PNDMScheduler(skip_prk_steps=True, steps_offset=1),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory) -> Path:
    return build_tiny_sd_inpaint(tmp_path_factory.mktemp("sd") / "tiny-sd-inpaint")


def _load(path):
    from factory.inpainter.sd import SlowDeviceWarning, load_sd_inpaint

    with pytest.warns(SlowDeviceWarning, match="running on the CPU"):
        return load_sd_inpaint(path, device="cpu")


def test_tiny_sd_inpaint_loads_locally_and_keeps_outside_pixels(tiny_sd):
    from factory.inpainter.sd import default_size, sd_inpaint

    pipe = _load(tiny_sd)
    assert default_size(pipe) == 32
    rng = np.random.default_rng(0)
    crop = rng.integers(60, 200, (40, 40), dtype=np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[12:28, 15:25] = True
    spec = PromptSpec(prompt="a dark scratch", negative_prompt="blurry", steps=2, strength=1.0)
    out = sd_inpaint(pipe, crop, mask, spec, seed=3)
    assert out.shape == crop.shape and out.dtype == np.uint8
    assert np.array_equal(out[~mask], crop[~mask])
    assert not np.array_equal(out[mask], crop[mask])
    again = sd_inpaint(pipe, crop, mask, spec, seed=3)
    assert np.array_equal(out, again)
    colour = sd_inpaint(pipe, np.dstack([crop] * 3), mask, spec, seed=3)
    assert colour.shape == (40, 40, 3)
    assert np.array_equal(colour[~mask], np.dstack([crop] * 3)[~mask])


def test_missing_checkpoint_is_one_clear_error(tmp_path):
    from factory.inpainter.sd import load_sd_inpaint

    with pytest.raises(FactoryError) as error:
        load_sd_inpaint(tmp_path / "nope")
    assert (
        str(error.value) == f"{tmp_path / 'nope'}: Stable Diffusion inpainting checkpoint not found"
    )


def test_folder_that_is_not_a_checkpoint(tmp_path):
    from factory.inpainter.sd import load_sd_inpaint

    (tmp_path / "weights.txt").write_text("hello")
    with pytest.raises(FactoryError, match=r"no model_index\.json"):
        load_sd_inpaint(tmp_path)
    with pytest.raises(FactoryError, match="got a file"):
        load_sd_inpaint(tmp_path / "weights.txt")


def test_broken_checkpoint_folder(tmp_path):
    from factory.inpainter.sd import load_sd_inpaint

    (tmp_path / "model_index.json").write_text(
        json.dumps(
            {
                "_class_name": "StableDiffusionInpaintPipeline",
                "unet": ["diffusers", "UNet2DConditionModel"],
            }
        )
    )
    with pytest.raises(FactoryError, match="cannot load the checkpoint"):
        load_sd_inpaint(tmp_path, device="cpu")


def test_text_to_image_checkpoint_is_refused(tmp_path):
    from factory.inpainter.sd import load_sd_inpaint

    path = build_tiny_sd_inpaint(tmp_path / "txt2img", in_channels=4)
    with pytest.raises(FactoryError, match=r"not an inpainting checkpoint .* takes 4 input"):
        load_sd_inpaint(path, device="cpu")
