"""Quality scores: seam visibility, contrast against the class, the combined score."""

import cv2
import numpy as np
import pytest

from factory.quality import (
    CONTRAST_STD_FLOOR,
    boundary_band,
    class_contrast_stats,
    contrast_score,
    contrast_zscore,
    defect_contrast,
    estimate_defect_mask,
    instance_contrast,
    score_sample,
    seam_visibility,
)
from tests.conftest import tiny_background


def textured(size=96, seed=0):
    return tiny_background(np.random.default_rng(seed), size)


def patch_with_disc(background, offset):
    """A 24x24 patch cut from elsewhere in the background, brightened by ``offset``, with a
    dark disc in the middle (the defect)."""
    patch = background[60:84, 60:84].astype(np.int16) + offset
    yy, xx = np.ogrid[:24, :24]
    disc = (yy - 12) ** 2 + (xx - 12) ** 2 <= 25
    patch[disc] = 30
    return np.clip(patch, 0, 255).astype(np.uint8), disc


def paste_rect(background, patch, x, y):
    out = background.copy()
    out[y : y + patch.shape[0], x : x + patch.shape[1]] = patch
    mask = np.zeros(background.shape[:2], bool)
    mask[y : y + patch.shape[0], x : x + patch.shape[1]] = True
    return out, mask


def poisson_rect(background, patch, x, y):
    src = cv2.cvtColor(patch, cv2.COLOR_GRAY2BGR)
    dst = cv2.cvtColor(background, cv2.COLOR_GRAY2BGR)
    region = np.full(patch.shape, 255, np.uint8)
    center = (x + patch.shape[1] // 2, y + patch.shape[0] // 2)
    out = cv2.cvtColor(
        cv2.seamlessClone(src, dst, region, center, cv2.NORMAL_CLONE), cv2.COLOR_BGR2GRAY
    )
    mask = np.zeros(background.shape, bool)
    mask[y : y + patch.shape[0], x : x + patch.shape[1]] = True
    return out, mask


def test_identical_output_has_no_seam_and_no_contrast():
    background = textured()
    mask = np.zeros(background.shape, bool)
    mask[30:50, 30:50] = True
    assert seam_visibility(background, background, mask) == pytest.approx(0.0, abs=1e-6)
    assert contrast_score(background, background, mask) == 0.0
    assert seam_visibility(background, background, np.zeros_like(mask)) == 0.0


def test_hard_paste_with_brightness_mismatch_shows_a_seam_poisson_hides_it():
    background = textured()
    patch, _ = patch_with_disc(background, offset=45)
    hard, mask = paste_rect(background, patch, 30, 34)
    soft, mask_soft = poisson_rect(background, patch, 30, 34)
    seam_hard = seam_visibility(hard, background, mask)
    seam_soft = seam_visibility(soft, background, mask_soft)
    assert seam_hard > 2.0
    assert seam_soft < 0.5 * seam_hard
    # Poisson removed the offset: what changed is the dark disc, strongly negative contrast.
    # (The hard paste changed a bright rectangle holding a dark disc; its seam flags it.)
    assert contrast_score(soft, background, mask_soft) < -30
    assert (
        score_sample(soft, background, [mask_soft])["score"]
        > score_sample(hard, background, [mask])["score"]
    )


def test_seam_works_on_colour_images_and_ignores_the_image_border():
    background = cv2.cvtColor(textured(), cv2.COLOR_GRAY2BGR)
    patch, _ = patch_with_disc(textured(seed=1), offset=45)
    out, mask = paste_rect(background, cv2.cvtColor(patch, cv2.COLOR_GRAY2BGR), 0, 0)
    band = boundary_band(mask)
    assert not band[0, :].any() and not band[:, 0].any()
    assert seam_visibility(out, background, mask) > 1.0


def test_defect_contrast_is_signed_grey_level_difference():
    image = np.full((40, 40), 110, np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[15:25, 15:25] = True
    image[mask] = 50
    assert defect_contrast(image, mask) == pytest.approx(-60.0)
    image[mask] = 200
    assert defect_contrast(image, mask) == pytest.approx(90.0)
    # Without a mask the defect pixels are estimated inside the box, same answer here.
    assert instance_contrast(image, (13, 13, 27, 27)) == pytest.approx(90.0)
    assert estimate_defect_mask(image, (13, 13, 27, 27)).sum() == 100


def test_class_stats_and_zscore():
    stats = class_contrast_stats([-60, -62, -58, -61])
    assert stats["n"] == 4 and stats["mean"] == pytest.approx(-60.25)
    assert stats["std"] == CONTRAST_STD_FLOOR  # floored: these four look alike
    assert contrast_zscore(-60.25, stats) == pytest.approx(0.0)
    assert contrast_zscore(-20.25, stats) == pytest.approx(10.0)
    assert contrast_zscore(-20.0, class_contrast_stats([])) is None
    # A class with dark and bright instances: compare with the same polarity.
    both = class_contrast_stats([-60, -62, -58, 60, 62, 58])
    assert abs(both["mean"]) < 1e-9
    assert contrast_zscore(-61.0, both) == pytest.approx(-0.25)
    assert contrast_zscore(0.0, both) == pytest.approx(-15.0)  # invisible: far from bright
    # A polarity the class never shows is compared with all its instances.
    assert contrast_zscore(60.25, stats) == pytest.approx((60.25 + 60.25) / CONTRAST_STD_FLOOR)
    assert contrast_zscore(-20.0, None) is None
    # A rare polarity (4 bright of 29, like demo bridges) is compared with the whole class.
    mostly_dark = class_contrast_stats([-56.0] * 25 + [42.0] * 4)
    expected = (44.0 - mostly_dark["mean"]) / mostly_dark["std"]
    assert contrast_zscore(44.0, mostly_dark) == pytest.approx(expected) and expected > 2


def test_score_sample_uses_class_reference_and_worst_paste():
    background = textured()
    patch, _ = patch_with_disc(background, offset=0)
    out, mask = poisson_rect(background, patch, 20, 20)
    contrast = contrast_score(out, background, mask)
    typical = class_contrast_stats([contrast - 2, contrast, contrast + 2])
    atypical = class_contrast_stats([contrast + 80, contrast + 82, contrast + 78])
    good = score_sample(out, background, [mask], class_stats=[typical])
    bad = score_sample(out, background, [mask], class_stats=[atypical])
    assert abs(good["pastes"][0]["contrast_z"]) < 0.5
    assert bad["pastes"][0]["contrast_z"] < -10
    assert good["score"] > 0.5 > 0.01 > bad["score"]
    both = score_sample(out, background, [mask, mask], class_stats=[typical, atypical])
    assert both["score"] == bad["score"]
    with pytest.raises(ValueError, match="1 class stats for 2 pastes"):
        score_sample(out, background, [mask, mask], class_stats=[typical])
    with pytest.raises(ValueError, match="does not match"):
        seam_visibility(out, background, mask[:10])


def test_contrast_is_the_same_for_tight_and_generous_masks_and_for_a_pasted_copy():
    real = textured(seed=3)
    yy, xx = np.ogrid[:96, :96]
    disc = (yy - 30) ** 2 + (xx - 40) ** 2 <= 16
    real[disc] = 40
    tight = instance_contrast(real, (36, 26, 45, 35), disc)
    generous = defect_contrast(real, cv2.dilate(disc.astype(np.uint8), np.ones((7, 7))) > 0)
    from_box = instance_contrast(real, (36, 26, 45, 35))
    assert tight < -50
    assert abs(generous - tight) < 8 and abs(from_box - tight) < 8
    # The same defect Poisson-pasted (with its surroundings) onto another clean image.
    background = textured(seed=4)
    out, mask = poisson_rect(background, real[20:40, 30:50], 50, 60)
    assert abs(contrast_score(out, background, mask) - tight) < 15
