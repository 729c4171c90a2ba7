"""The GPU paths (skipped without CUDA; CI has none, they run on a GPU machine): the inpainter
trains and samples on the GPU, Stable Diffusion inpainting loads there in fp16, and both keep
every pixel outside the mask."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _crop_and_mask():
    rng = np.random.default_rng(1)
    crop = rng.integers(40, 200, (30, 30), dtype=np.uint8)
    mask = np.zeros((30, 30), bool)
    mask[10:20, 8:22] = True
    return crop, mask


def test_inpainter_trains_and_samples_on_the_gpu(tiny_dataset, tmp_path):
    from factory.blend.diffusion import DiffusionBlender
    from factory.inpainter.model import load_inpainter
    from factory.inpainter.sample import inpaint
    from factory.inpainter.train import train_inpainter
    from tests.test_inpainter import TINY, TINY_OPTIONS

    train_inpainter(tiny_dataset, tmp_path / "model", config=TINY, options=TINY_OPTIONS)
    model = load_inpainter(tmp_path / "model", device="cuda")
    assert next(model.unet.parameters()).is_cuda
    crop, mask = _crop_and_mask()
    out = inpaint(model, crop, mask, class_id=0, seed=5, steps=2)
    assert np.array_equal(out[~mask], crop[~mask])
    assert (out != crop)[mask].mean() > 0.5
    assert np.array_equal(out, inpaint(model, crop, mask, class_id=0, seed=5, steps=2))
    # synth's blender picks the GPU by itself
    blender = DiffusionBlender(tmp_path / "model")
    assert next(blender.model.unet.parameters()).is_cuda


def test_stable_diffusion_inpainting_runs_in_fp16_on_the_gpu(tmp_path):
    from factory.inpainter.prompts import PromptSpec
    from factory.inpainter.sd import load_sd_inpaint, sd_inpaint
    from tests.test_inpainter_sd import build_tiny_sd_inpaint

    pipe = load_sd_inpaint(build_tiny_sd_inpaint(tmp_path / "sd"))  # no warning on a GPU
    assert pipe.unet.dtype == torch.float16 and pipe.unet.device.type == "cuda"
    crop, mask = _crop_and_mask()
    spec = PromptSpec(prompt="a dark scratch", negative_prompt="blurry", steps=2, strength=1.0)
    out = sd_inpaint(pipe, crop, mask, spec, seed=3)
    assert out.shape == crop.shape and np.array_equal(out[~mask], crop[~mask])
    assert np.array_equal(out, sd_inpaint(pipe, crop, mask, spec, seed=3))
