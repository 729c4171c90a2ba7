"""Layout signatures (factory.synth.topology): what a defect does to a near-binary layout,
which classes it defines, and the render check that keeps a paste looking like its class."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from factory.synth.topology import change_signature, class_signature

WHITE, DARK = 255, 0


def board() -> np.ndarray:
    """60x60 white board, one dark vertical trace (columns 20-29) and a dark pad below."""
    image = np.full((60, 60), WHITE, np.uint8)
    image[:, 20:30] = DARK
    return image


def changed(before: np.ndarray, rows: slice, cols: slice, value: int):
    after = before.copy()
    after[rows, cols] = value
    defect = np.zeros(before.shape, bool)
    defect[rows, cols] = True
    return after, defect


@pytest.mark.parametrize(
    ("name", "rows", "cols", "value", "expected"),
    [
        ("open: a gap across the trace", slice(28, 32), slice(20, 30), WHITE, "bright-joins"),
        ("mouse bite: a notch in its edge", slice(28, 32), slice(20, 24), WHITE, "bright-attached"),
        ("pin-hole: a hole inside it", slice(28, 32), slice(23, 27), WHITE, "bright-island"),
        ("spur: copper grown from its edge", slice(28, 32), slice(30, 36), DARK, "dark-attached"),
        ("copper: an island on bare board", slice(28, 32), slice(42, 48), DARK, "dark-island"),
        ("short: a bridge to a second trace", slice(28, 32), slice(30, 40), DARK, "dark-joins"),
    ],
)
def test_each_pcb_defect_has_its_own_signature(name, rows, cols, value, expected):
    before = board()
    if "short" in name:
        before[:, 40:46] = DARK  # the second trace
    after, defect = changed(before, rows, cols, value)
    assert change_signature(before, after, defect) == expected, name


def test_signature_of_an_island_on_a_flat_context():
    # A clean context that is all bare board has no Otsu split of its own: the level comes
    # from the context and the defect image together.
    before = np.full((30, 30), WHITE, np.uint8)
    after, defect = changed(before, slice(10, 16), slice(10, 16), 6)
    assert change_signature(before, after, defect) == "dark-island"
    assert change_signature(before, before, np.zeros_like(defect)) == "none"


def test_class_signature_needs_a_clear_majority_of_enough_instances():
    assert class_signature(["dark-joins"] * 9 + ["dark-attached"]) == ("dark-joins", 0.9)
    assert class_signature(["dark-joins"] * 8 + ["dark-attached"] * 2)[0] is None
    assert class_signature(["dark-joins"] * 4)[0] is None  # too few to tell
    assert class_signature(["dark-other"] * 10)[0] is None  # "other" names no look


def test_learned_signatures_per_class():
    from factory.synth.run import learn_layout_signatures

    before = board()
    after, defect = changed(before, slice(28, 32), slice(20, 30), WHITE)
    mixed = [changed(before, slice(r, r + 4), slice(c, c + 4), DARK) for r, c in
             ((5, 40), (5, 30), (40, 42), (40, 30), (50, 10))]  # fmt: skip

    def patch(name, image, mask, context=before):
        return SimpleNamespace(info=SimpleNamespace(class_name=name), image=image, mask=mask,
                               context=context)  # fmt: skip

    bank = SimpleNamespace(
        patches=[patch("open", after, defect) for _ in range(6)]
        + [patch("stain", image, mask) for image, mask in mixed]
        + [patch("open", after, defect, context=None)]  # no clean context: not measured
    )
    learned = learn_layout_signatures(bank)
    assert learned["open"] == {"signature": "bright-joins", "share": 1.0, "instances": 6}
    assert learned["stain"]["signature"] is None and learned["stain"]["instances"] == 5


@pytest.mark.parametrize("alternatives", [((False, False, 1),), ()])
def test_render_places_again_a_paste_that_shows_another_layout(alternatives):
    """The short of test_synth's fixture: with its turn allowed it joins two traces and
    passes the check; without, every location leaves it touching one trace (a spur's look),
    so with the check it is left out with the reason, and without the check it is kept."""
    from factory.blend import get_blender
    from factory.synth.bank import Patch
    from factory.synth.plan import PastePlan, SamplePlan
    from factory.synth.render import RenderConfig, render_sample
    from tests.test_synth import short_between_traces

    context, image, defect = short_between_traces(vertical=True)
    background = np.full((160, 200), 255, np.uint8)
    background[10:40, :] = 0
    background[100:105, :] = background[115:120, :] = 0
    paste = PastePlan("p", 1, "short", 1.0, 0.0, False, False, 0, None, (0.0, 0.0), "context",
                      "alpha", alternatives=alternatives)  # fmt: skip
    for seed in range(3):
        plan = SamplePlan(0, "syn_000000", seed, "bg", (paste,))
        args = (plan, background, {"p": Patch(None, image, defect, context)},
                {"alpha": get_blender("alpha")})  # fmt: skip
        checked = render_sample(*args, RenderConfig(layout_signatures=(("short", "dark-joins"),)))
        unchecked = render_sample(*args, RenderConfig())
        assert unchecked.pastes and "layout_signature" not in unchecked.pastes[0]
        if alternatives:
            assert checked.pastes[0]["layout_signature"] == "dark-joins"
            assert checked.image.tobytes() == unchecked.image.tobytes()
        else:
            assert not checked.pastes
            assert checked.failures[0][1].startswith("showed another layout")
            assert checked.tries == RenderConfig().max_tries
