"""Blending backends: put a patch into a background on a region of interest.

A :class:`Blender` is built once per worker process by :func:`get_blender` (so a backend that
loads a model, such as a future ``diffusion`` blender, loads it once) and then called for
every paste. Its :meth:`Blender.blend` is a pure function of its arguments: it returns a new
image and never modifies the background in place. Register a new backend with
:func:`register_blender`::

    class DiffusionBlender(Blender):
        name = "diffusion"
        def __init__(self, model_dir): self.pipe = load(model_dir)   # once per worker
        def blend(self, background, patch, mask, top_left_xy, *, seed=0, class_name=None): ...

    register_blender("diffusion", DiffusionBlender)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from factory.blend.alpha import alpha_blend
from factory.blend.poisson import poisson_blend
from factory.errors import FactoryError


class Blender:
    """One blending method. Subclasses set ``name`` and implement :meth:`blend`."""

    name: str = ""

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
        """Return a copy of ``background`` with ``patch`` blended in where ``mask`` is set.

        ``patch`` (``(h, w)`` or ``(h, w, 3)`` uint8, same channels as the background) and
        ``mask`` (bool ``(h, w)``) are placed with their top-left corner at ``top_left_xy``
        (x, y) in background pixels; they may reach past the image edge. ``seed`` is for
        generative backends (deterministic ones ignore it). ``core`` (bool ``(h, w)``)
        marks the defect's own pixels inside ``mask``: backends keep the background's texture
        in ``mask`` outside it (a generative backend may treat ``mask`` as the area to fill).
        """
        raise NotImplementedError


class PoissonBlender(Blender):
    def __init__(self, mixed: bool = False):
        self.mixed = mixed
        self.name = "poisson-mixed" if mixed else "poisson-normal"

    def blend(self, background, patch, mask, top_left_xy, *, seed=0, class_name=None, core=None):
        return poisson_blend(background, patch, mask, top_left_xy, mixed=self.mixed, core=core)


class AlphaBlender(Blender):
    name = "alpha"

    def __init__(self, feather_px: float = 2.0, match_level: bool = True):
        self.feather_px = feather_px
        self.match_level = match_level

    def blend(self, background, patch, mask, top_left_xy, *, seed=0, class_name=None, core=None):
        # The alpha matte is the defect (plus a pixel) when known: feathering the whole
        # blend mask would carry the patch's old surroundings along.
        if core is not None:
            mask = cv2.dilate(core.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        return alpha_blend(
            background,
            patch,
            mask,
            top_left_xy,
            feather_px=self.feather_px,
            match_level=self.match_level,
        )


_REGISTRY: dict[str, Callable[..., Blender] | str] = {
    "poisson-normal": lambda **kw: PoissonBlender(mixed=False),
    "poisson-mixed": lambda **kw: PoissonBlender(mixed=True),
    "alpha": lambda **kw: AlphaBlender(**kw),
    # Generative backends are named by import path and imported only when used, in each
    # worker process (spawned workers do not inherit registrations made at run time).
    "diffusion": "factory.inpainter.blend:DiffusionBlender",
}


# The constructor arguments each blender understands: in a --method mix, each blender gets
# only its own keys of SynthOptions.blend_config (see blend_configs). None: every key.
_CONFIG_KEYS: dict[str, tuple[str, ...] | None] = {
    "poisson-normal": (),
    "poisson-mixed": (),
    "alpha": ("feather_px", "match_level"),
    "diffusion": (
        "model_dir",
        "sd_model",
        "prompts",
        "steps",
        "device",
        "inpainter",
        "inpaint_model",
    ),
}


def register_blender(
    name: str,
    factory: Callable[..., Blender] | str,
    config_keys: tuple[str, ...] | None = None,
) -> None:
    """Make ``name`` available to ``factory synth --blend``; ``factory(**config)`` builds it.

    ``factory`` may be a callable or an import path ``"package.module:attribute"``; use a
    path (and call this at import time of a module the workers import) when ``--workers`` > 1.
    ``config_keys``: the ``blend_config`` keys it takes when mixed with other blenders
    (None: all of them).
    """
    _REGISTRY[name] = factory
    if config_keys is not None or name not in _CONFIG_KEYS:
        _CONFIG_KEYS[name] = config_keys


def blend_configs(names: list[str], config: dict) -> dict[str, dict]:
    """Route ``config`` to the blenders ``names`` of a mix: each gets the keys it understands.

    One blender gets every key (as before mixes existed). A key no blender of the mix
    understands is an error (a typo, or an option for a method that is not in the mix).
    """
    if len(names) <= 1:
        return {name: dict(config) for name in names}
    routed: dict[str, dict] = {name: {} for name in names}
    for key, value in config.items():
        takers = [n for n in names if _CONFIG_KEYS.get(n) is None or key in _CONFIG_KEYS[n]]
        if not takers:
            raise FactoryError(
                f"blend option {key!r} is understood by none of the methods {', '.join(names)}"
            )
        for name in takers:
            routed[name][key] = value
    return routed


def blender_names() -> list[str]:
    return list(_REGISTRY)


def get_blender(name: str, **config: Any) -> Blender:
    """Build the blender called ``name`` (call once per worker and reuse it)."""
    if name not in _REGISTRY:
        raise FactoryError(f"unknown blend method {name!r}; available: {', '.join(_REGISTRY)}")
    factory = _REGISTRY[name]
    if isinstance(factory, str):
        import importlib

        module_name, _, attribute = factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError):
            raise FactoryError(
                f"blend method {name!r} is not available: {factory} cannot be imported"
            ) from None
    return factory(**config)


def _diffusion_blender(**config: Any) -> Blender:
    # Imported on use: the diffusion backend pulls in torch and diffusers.
    from factory.blend.diffusion import DiffusionBlender

    return DiffusionBlender(**config)


register_blender("diffusion", _diffusion_blender, _CONFIG_KEYS["diffusion"])


__all__ = [
    "AlphaBlender",
    "Blender",
    "PoissonBlender",
    "alpha_blend",
    "blend_configs",
    "blender_names",
    "get_blender",
    "poisson_blend",
    "register_blender",
]
