"""Blending on an ROI and boxes from changed pixels, on images whose defect pixels are known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from factory.blend import Blender, get_blender, poisson_blend, register_blender
from factory.blend.poisson import poisson_blend_full_frame
from factory.errors import FactoryError
from factory.synth.boxes import box_iou, changed_pixels, mask_to_xyxy
from factory.synth.render import BLEND_MARGIN_PX, place_mask
from tests.conftest import paint_defect, tiny_background


def _patch(class_id: int, size: int = 40):
    """A textured crop with one painted defect; its exact pixels are returned as the truth."""
    crop = tiny_background(np.random.default_rng(class_id), size)
    _, defect = paint_defect(crop, class_id, 14, 14, 12)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * BLEND_MARGIN_PX + 1,) * 2)
    blend_mask = cv2.dilate(defect.astype(np.uint8), kernel) > 0
    return crop, defect, blend_mask


def _auto_box(out, background, defect, top_left):
    """The render's rule: changed pixels inside the placed defect mask."""
    region = place_mask(defect, background.shape[:2], top_left)
    return mask_to_xyxy(changed_pixels(out, background, region, 12))


def _true_box(defect, top_left, hw):
    return mask_to_xyxy(place_mask(defect, hw, top_left))


@pytest.mark.parametrize("blend", ["poisson-normal", "poisson-mixed", "alpha"])
@pytest.mark.parametrize("colour", [False, True])
@pytest.mark.parametrize("top_left", [(30, 40), (-14, 50), (90, -14), (100, 100)])
def test_auto_boxes_match_known_defect_pixels(blend, colour, top_left):
    """IoU >= 0.9 between the changed-pixel box and the true defect box, edges included."""
    blender = get_blender(blend)
    background = tiny_background(np.random.default_rng(7), 128)
    background[60:100, :] = 200  # a bright band, so placement meets different levels
    for class_id in (0, 1, 2):
        crop, defect, blend_mask = _patch(class_id)
        if colour:
            background_c = cv2.cvtColor(background, cv2.COLOR_GRAY2BGR)
            crop_c = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
            out = blender.blend(background_c, crop_c, blend_mask, top_left, core=defect)
            auto = _auto_box(out, background_c, defect, top_left)
        else:
            out = blender.blend(background, crop, blend_mask, top_left, core=defect)
            auto = _auto_box(out, background, defect, top_left)
        truth = _true_box(defect, top_left, background.shape)
        assert auto is not None and truth is not None
        assert box_iou(auto, truth) >= 0.9, (blend, class_id, top_left, auto, truth)


def test_poisson_touches_only_the_roi_and_matches_full_frame():
    background = tiny_background(np.random.default_rng(3), 160)
    crop, _, blend_mask = _patch(0)
    out = poisson_blend(background, crop, blend_mask, (50, 60))
    outside = np.ones(background.shape, bool)
    outside[60 - 4 : 60 + 40 + 4, 50 - 4 : 50 + 40 + 4] = False
    assert np.array_equal(out[outside], background[outside])
    full = poisson_blend_full_frame(background, crop, blend_mask, (50, 60))
    # Same solver on a smaller ROI: the defect comes out the same to a few grey levels.
    diff = np.abs(out.astype(int) - full.astype(int))
    assert diff.max() <= 3, diff.max()


def test_grey_and_colour_agree():
    background = tiny_background(np.random.default_rng(4), 96)
    crop, _, blend_mask = _patch(2)
    grey = poisson_blend(background, crop, blend_mask, (20, 20))
    colour = poisson_blend(
        cv2.cvtColor(background, cv2.COLOR_GRAY2BGR),
        cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR),
        blend_mask,
        (20, 20),
    )
    assert colour.shape == (96, 96, 3)
    assert np.array_equal(colour[:, :, 0], grey)


def test_blend_is_pure():
    background = tiny_background(np.random.default_rng(5), 96)
    copy = background.copy()
    crop, _, blend_mask = _patch(1)
    for name in ("poisson-normal", "alpha"):
        get_blender(name).blend(background, crop, blend_mask, (10, 10))
    assert np.array_equal(background, copy)


def test_registry_unknown_and_custom(monkeypatch):
    import factory.blend as blend_module

    # the registry is process-wide: the custom blender must not leak into other tests
    monkeypatch.setattr(blend_module, "_REGISTRY", dict(blend_module._REGISTRY))
    monkeypatch.setattr(blend_module, "_CONFIG_KEYS", dict(blend_module._CONFIG_KEYS))
    with pytest.raises(FactoryError, match="unknown blend method 'nope'; available: "):
        get_blender("nope")

    class Copy(Blender):
        name = "copy-test"

        def blend(self, background, patch, mask, top_left_xy, *, seed=0, class_name=None):
            return background.copy()

    register_blender("copy-test", lambda **kw: Copy())
    assert isinstance(get_blender("copy-test"), Copy)
