"""Does a paste change the circuit the way its class should? (pure functions, for measuring
placement on near-binary images such as PCBs and dies).

A *short* (bridge) joins two traces that were separate in the clean background; an *open*
cuts a trace in two. Both are read from the local topology of the "material" (the Otsu
class the defect is made of) in a window around the defect: the number of material
components that touch the defect, before and after the paste.
"""

from __future__ import annotations

import cv2
import numpy as np

LAYOUT_CHECK_MODES = ("auto", "off")
# Signatures that name a class's look; "other" and "none" are not checked against.
DEFINED_CONTACTS = ("island", "attached", "joins")
# A class is defined by its layout when this share of its real instances (at least
# LAYOUT_MIN_INSTANCES with a clean context) show one signature: on DeepPCB every class
# (94-100 %), on the demo only the bridges (its particles, scratches and stains touch what
# they happen to fall on).
LAYOUT_MIN_SHARE = 0.9
LAYOUT_MIN_INSTANCES = 5
# Window around the defect (px) in which traces are counted, and contact distance.
WINDOW_PX = 6
CONTACT_PX = 2


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def otsu_level(image: np.ndarray) -> float:
    """Midpoint of Otsu's two class means (Otsu's own threshold is the lowest of many equally
    good ones on a near-binary image: 7 on a DeepPCB template, below JPEG ringing)."""
    grey = _grey(image)
    level, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = grey > level
    if bright.all() or not bright.any():
        return float(level)
    return (float(grey[bright].mean()) + float(grey[~bright].mean())) / 2


def touching_components(material: np.ndarray, defect: np.ndarray) -> int:
    """Connected components of ``material`` (bool) in a window around ``defect`` (bool) that
    come within :data:`CONTACT_PX` of it."""
    rows = np.flatnonzero(defect.any(axis=1))
    cols = np.flatnonzero(defect.any(axis=0))
    if rows.size == 0:
        return 0
    h, w = defect.shape
    y0, y1 = max(0, rows[0] - WINDOW_PX), min(h, rows[-1] + 1 + WINDOW_PX)
    x0, x1 = max(0, cols[0] - WINDOW_PX), min(w, cols[-1] + 1 + WINDOW_PX)
    local = material[y0:y1, x0:x1].astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * CONTACT_PX + 1,) * 2)
    near = cv2.dilate(defect[y0:y1, x0:x1].astype(np.uint8), kernel) > 0
    _, labels = cv2.connectedComponents(local, connectivity=8)
    return int(np.unique(labels[near & (local > 0)]).size)


def topology_change(background: np.ndarray, output: np.ndarray, defect: np.ndarray) -> dict:
    """Local topology of one paste (``defect``: bool, the pixels it changed).

    ``joins`` (a short): counting the material the defect now is (its Otsu class in the
    output), at least two components touched the defect in ``background`` and fewer do in
    ``output``. ``cuts`` (an open): counting the material the defect was (its class in the
    background), more components touch it in ``output`` than in ``background``. Also
    returns the counts (``join_before/after``, ``cut_before/after``)."""
    defect = defect.astype(bool)
    if not defect.any():
        return {"joins": False, "cuts": False}
    level = otsu_level(background)
    before = _grey(background) > level
    after = _grey(output) > level

    def counts(bright: bool) -> tuple[int, int]:
        pick = (lambda m: m) if bright else (lambda m: ~m)
        return (
            touching_components(pick(before), defect),
            touching_components(pick(after), defect),
        )

    join_before, join_after = counts(bool(after[defect].mean() >= 0.5))
    cut_before, cut_after = counts(bool(before[defect].mean() >= 0.5))
    return {
        "joins": join_before >= 2 and join_after < join_before,
        "cuts": cut_after > cut_before >= 1,
        "join_before": join_before,
        "join_after": join_after,
        "cut_before": cut_before,
        "cut_after": cut_after,
    }


def change_signature(background: np.ndarray, output: np.ndarray, defect: np.ndarray) -> str:
    """What a change does to the layout, as ``"<material>-<contact>"`` (pure).

    ``material``: the Otsu class the defect's pixels are after the change, ``bright`` or
    ``dark``. ``contact``: how many components of that material touched the defect before
    it: ``island`` (none: spurious copper, or a pin-hole in copper), ``attached`` (one: a
    spur, or a mouse bite out of a trace edge), ``joins`` (two or more, now fewer: a short,
    or an open, whose gap joins the board on both sides of the trace), else ``other``.
    On a PCB the six DeepPCB classes are exactly the six signatures, so a paste whose
    signature differs from its source instance's shows another class than its label.
    ``none`` when the defect is empty.
    """
    defect = defect.astype(bool)
    if not defect.any():
        return "none"
    # Only the window around the defect matters (touching_components looks no further), and
    # its level comes from both images: a clean context can be all board (a spurious copper
    # island), where Otsu on the context alone has no split.
    rows = np.flatnonzero(defect.any(axis=1))
    cols = np.flatnonzero(defect.any(axis=0))
    pad = WINDOW_PX + CONTACT_PX
    y0, y1 = max(0, rows[0] - pad), rows[-1] + 1 + pad
    x0, x1 = max(0, cols[0] - pad), cols[-1] + 1 + pad
    background = _grey(background)[y0:y1, x0:x1]
    output = _grey(output)[y0:y1, x0:x1]
    defect = defect[y0:y1, x0:x1]
    level = otsu_level(np.vstack([background, output]))
    after = output > level
    bright = bool(after[defect].mean() >= 0.5)
    before = background > level
    material_before = before if bright else ~before
    material_after = after if bright else ~after
    touched = touching_components(material_before & ~defect, defect)
    now = touching_components(material_after, defect)
    if touched == 0:
        contact = "island"
    elif touched == 1:
        contact = "attached"
    elif now < touched:
        contact = "joins"
    else:
        contact = "other"
    return f"{'bright' if bright else 'dark'}-{contact}"


def class_signature(signatures: list[str]) -> tuple[str | None, float]:
    """The signature that defines a class, from its real instances' signatures, and its
    share: None when fewer than :data:`LAYOUT_MIN_INSTANCES` were measured, or when no
    defined signature (island, attached, joins) holds :data:`LAYOUT_MIN_SHARE` of them."""
    if len(signatures) < LAYOUT_MIN_INSTANCES:
        return None, 0.0
    values, counts = np.unique(np.asarray(signatures), return_counts=True)
    best = int(np.argmax(counts))
    share = float(counts[best] / len(signatures))
    defined = str(values[best]).rsplit("-", 1)[-1] in DEFINED_CONTACTS
    return (str(values[best]) if defined and share >= LAYOUT_MIN_SHARE else None), share
