"""The ``diffusion`` blender: generate a new defect of the planned class inside the paste mask.

Unlike Poisson or alpha blending, the patch's pixels are not used: the paste's defect mask
(the real patch mask of that class, transformed by the planner) says *where*, and a generator
draws *what*:

- the licence-clean inpainter trained by ``factory train-inpainter`` (``model_dir``), or
- Stable Diffusion inpainting from a local checkpoint (``sd_model`` + ``prompts`` YAML).

The background is cut to a square window around the mask (the inpainter's own context
factor, so the defect has the scale it was trained at), inpainted, and written back inside
the mask only: every pixel outside the mask is the background's, so the changed-pixel box
is computed exactly as for Poisson. The model loads once per worker (the blender is built
once per worker by :func:`factory.blend.get_blender`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from factory.blend import Blender
from factory.errors import FactoryError

# The inpainted region is the defect mask grown by this much (the model was trained on
# masks dilated by about one pixel at crop scale).
GROW_PX = 1


class DiffusionBlender(Blender):
    name = "diffusion"

    def __init__(
        self,
        model_dir: Path | str | None = None,
        *,
        sd_model: Path | str | None = None,
        prompts: Path | str | None = None,
        steps: int | None = None,
        device: str | None = None,
        inpainter: Path | str | None = None,
        inpaint_model: Path | str | None = None,
        **_ignored,
    ):
        # The synth CLI's option names (--inpainter, --inpaint-model) are accepted as aliases;
        # other keys (meant for other blenders of a mix) are ignored.
        model_dir = model_dir if model_dir is not None else inpainter
        sd_model = sd_model if sd_model is not None else inpaint_model
        if (model_dir is None) == (sd_model is None):
            raise FactoryError(
                "--method diffusion needs exactly one generator: --inpainter DIR (a model "
                "trained with `factory train-inpainter`) or --inpaint-model PATH (a local Stable "
                "Diffusion inpainting checkpoint)"
            )
        self.model = self.pipe = self.prompts = None
        if model_dir is not None:
            from factory.inpainter.model import load_inpainter

            # On the GPU when there is one (as the SD path); noise is drawn on the CPU from
            # the paste's own generator, so a given device gives the same bytes every run.
            if device is None:
                import torch

                device = "cuda" if torch.cuda.is_available() else "cpu"
            self.model = load_inpainter(model_dir, device=device)
            self.steps = steps or int(self.model.record.get("options", {}).get("sample_steps", 25))
            self.context_factor = self.model.config.context_factor
            self.min_crop = self.model.config.min_crop
        else:
            from factory.inpainter.prompts import load_prompts
            from factory.inpainter.sd import load_sd_inpaint

            if prompts is None:
                raise FactoryError(
                    "--inpaint-model needs --prompts FILE (e.g. prompts/default.yaml)"
                )
            self.prompts = load_prompts(prompts)
            self.pipe = load_sd_inpaint(sd_model, device=device)
            self.steps = steps
            self.context_factor, self.min_crop = 3.0, 64

    def blend(
        self,
        background: np.ndarray,
        patch: np.ndarray,
        mask: np.ndarray,
        top_left_xy: tuple[int, int],
        *,
        seed: int = 0,
        class_name: str | None = None,
        core: np.ndarray | None = None,
    ) -> np.ndarray:
        if class_name is None:
            raise FactoryError("the diffusion blender needs the class of each paste")
        shape = core if core is not None else mask
        placed = self._placed_mask(shape, mask, background.shape[:2], top_left_xy)
        out = background.copy()
        if not placed.any():
            return out
        from factory.inpainter.data import crop_window_xyxy

        ys, xs = np.nonzero(placed)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        x0, y0, x1, y1 = crop_window_xyxy(
            box, background.shape[:2], context_factor=self.context_factor, min_crop=self.min_crop
        )
        # The window may be smaller than the mask's box on a tiny image: cover the box.
        x0, y0 = min(x0, box[0]), min(y0, box[1])
        x1, y1 = max(x1, box[2]), max(y1, box[3])
        crop, crop_mask = background[y0:y1, x0:x1], placed[y0:y1, x0:x1]
        result = self._generate(crop, crop_mask, class_name, seed)
        out[y0:y1, x0:x1] = result
        return out

    def _placed_mask(self, shape, blend_mask, hw, top_left_xy):
        """The region to inpaint in background coordinates (bool ``hw``)."""
        shape = np.asarray(shape, bool)
        if GROW_PX:
            grown = cv2.dilate(shape.astype(np.uint8), np.ones((2 * GROW_PX + 1,) * 2, np.uint8))
            shape = (
                (grown > 0) & np.asarray(blend_mask, bool) if blend_mask is not None else grown > 0
            )
        placed = np.zeros(hw, bool)
        x, y = int(top_left_xy[0]), int(top_left_xy[1])
        h, w = shape.shape
        sx0, sy0 = max(0, -x), max(0, -y)
        dx0, dy0 = max(0, x), max(0, y)
        dx1, dy1 = min(hw[1], x + w), min(hw[0], y + h)
        if dx1 > dx0 and dy1 > dy0:
            placed[dy0:dy1, dx0:dx1] = shape[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]
        return placed

    def _generate(self, crop: np.ndarray, crop_mask: np.ndarray, class_name: str, seed: int):
        if self.model is not None:
            from factory.inpainter.sample import inpaint

            class_id = self.model.class_id(class_name)
            return inpaint(self.model, crop, crop_mask, class_id, seed, steps=self.steps)
        from dataclasses import replace

        from factory.inpainter.sd import sd_inpaint

        if class_name not in self.prompts:
            raise FactoryError(f"no prompt for class {class_name!r} in the prompts file")
        spec = self.prompts[class_name]
        if self.steps:
            spec = replace(spec, steps=self.steps)
        return sd_inpaint(self.pipe, crop, crop_mask, spec, seed)
