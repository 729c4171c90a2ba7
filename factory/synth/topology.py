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
