"""Per-class prompts for Stable Diffusion inpainting, read from ``prompts/*.yaml``.

Format: a mapping of class name to settings; an optional ``default`` entry fills the keys a
class leaves out::

    default:
      negative_prompt: blurry, text, watermark
      strength: 0.99
      guidance_scale: 7.5
      steps: 30
    scratch:
      prompt: a thin bright scratch on a grey steel surface, macro photo

Keys: ``prompt`` (required per class, may come from ``default``), ``negative_prompt``,
``strength`` (0-1], ``guidance_scale`` (>= 0), ``steps`` (>= 1). Unknown keys are rejected
with a suggestion.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from factory.errors import FactoryError

DEFAULT_ENTRY = "default"


@dataclass(frozen=True)
class PromptSpec:
    """How to ask Stable Diffusion for one class of defect."""

    prompt: str
    negative_prompt: str = ""
    strength: float = 0.99
    guidance_scale: float = 7.5
    steps: int = 30

    def __post_init__(self) -> None:
        if not self.prompt.strip():
            raise ValueError("prompt is empty")
        if not 0.0 < self.strength <= 1.0:
            raise ValueError(f"strength should be in (0, 1] but is {self.strength}")
        if self.guidance_scale < 0:
            raise ValueError(f"guidance_scale should be >= 0 but is {self.guidance_scale}")
        if self.steps < 1:
            raise ValueError(f"steps should be >= 1 but is {self.steps}")


KEYS = tuple(f.name for f in fields(PromptSpec))
_TYPES = {
    "prompt": str,
    "negative_prompt": str,
    "strength": float,
    "guidance_scale": float,
    "steps": int,
}


def _suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_entry(path: Path, name: str, entry: object) -> dict:
    if not isinstance(entry, dict):
        raise FactoryError(
            f"{path}: entry {name!r} must be a mapping of {', '.join(KEYS)}, "
            f"got {type(entry).__name__}"
        )
    checked = {}
    for key, value in entry.items():
        if key not in KEYS:
            raise FactoryError(
                f"{path}: entry {name!r}: unknown key {key!r}{_suggest(str(key), KEYS)}; "
                f"allowed: {', '.join(KEYS)}"
            )
        kind = _TYPES[key]
        ok = isinstance(value, str) if kind is str else isinstance(value, int | float)
        if isinstance(value, bool) or not ok or (kind is int and float(value) != int(value)):
            raise FactoryError(
                f"{path}: entry {name!r}: {key} must be {kind.__name__}, got {value!r}"
            )
        checked[key] = kind(value)
    return checked


def load_prompts(path: Path | str, class_names: list[str] | None = None) -> dict[str, PromptSpec]:
    """Read a prompts YAML file; with ``class_names``, every class must be covered and known."""
    path = Path(path)
    if not path.is_file():
        raise FactoryError(f"{path}: prompts file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise FactoryError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict) or not data:
        raise FactoryError(f"{path}: expected a mapping of class name to prompt settings")
    default = _check_entry(path, DEFAULT_ENTRY, data.get(DEFAULT_ENTRY, {}))
    specs: dict[str, PromptSpec] = {}
    for name, entry in data.items():
        name = str(name)
        if name == DEFAULT_ENTRY:
            continue
        if class_names is not None and name not in class_names:
            raise FactoryError(
                f"{path}: unknown class {name!r}{_suggest(name, class_names)}; "
                f"this dataset has: {', '.join(class_names)}"
            )
        merged = {**default, **_check_entry(path, name, entry)}
        if "prompt" not in merged:
            raise FactoryError(f"{path}: entry {name!r} has no prompt (and no default prompt)")
        try:
            specs[name] = PromptSpec(**merged)
        except ValueError as error:
            raise FactoryError(f"{path}: entry {name!r}: {error}") from None
    if class_names is not None:
        missing = [c for c in class_names if c not in specs]
        if missing and "prompt" in default:
            for name in missing:
                specs[name] = PromptSpec(**default)
        elif missing:
            raise FactoryError(
                f"{path}: no prompt for class(es) {', '.join(missing)} (add them or a default prompt)"
            )
    return specs
