"""Remove reviewed-out or low-quality synthetic samples from a synth output folder.

Atomic: the pruned folder is assembled beside the original (hard links, so no pixel is
copied), with the new manifest, ``pruned.jsonl`` (every removed record and why) and an
updated ``summary.json``, then swapped in with renames. On any error the original stays.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from factory.errors import FactoryError
from factory.gallery.synthdir import (
    MANIFEST,
    PRUNED,
    SUMMARY,
    class_stats_from_real,
    compute_quality,
    load_synth_dir,
    real_instances,
    record_quality,
)
from factory.io import publish_dir


@dataclass
class ClassAcceptance:
    name: str
    pastes: int = 0
    kept: int = 0

    @property
    def rate(self) -> float | None:
        return self.kept / self.pastes if self.pastes else None


@dataclass
class PruneReport:
    synth_dir: Path
    total: int
    removed: dict[str, str]  # id -> reason
    per_class: list[ClassAcceptance] = field(default_factory=list)
    gallery: Path | None = None

    @property
    def kept(self) -> int:
        return self.total - len(self.removed)


def read_reject_list(path: Path | str) -> list[str]:
    """Ids from the gallery's export (``{"rejected": [...]}``), a JSON list, or one id a line."""
    path = Path(path)
    if not path.is_file():
        raise FactoryError(f"{path}: reject list not found")
    text = path.read_text()
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as error:
            raise FactoryError(f"{path}: not valid JSON ({error.msg})") from None
        ids = data.get("rejected") if isinstance(data, dict) else data
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise FactoryError(
                f'{path}: expected a list of sample ids or {{"rejected": [ids]}}, '
                f"got {type(ids).__name__}"
            )
        return ids
    return [line.strip() for line in text.splitlines() if line.strip()]


def prune(
    synth_dir: Path | str,
    *,
    reject_ids: list[str] | None = None,
    reject_source: str = "reject list",
    min_quality: float | None = None,
    rebuild_gallery: bool = True,
) -> PruneReport:
    """Remove the given samples and/or those scoring below ``min_quality``.

    Unknown ids raise :class:`FactoryError` before anything is touched. Samples without a
    score in the manifest are scored from their files (contrast compared with the real
    train instances of the source dataset when it can be found).
    """
    if reject_ids is None and min_quality is None:
        raise FactoryError("nothing to do: give a reject list and/or a minimum quality")
    if min_quality is not None and not 0 <= min_quality <= 1:
        raise FactoryError(f"--min-quality must be in [0, 1], got {min_quality}")
    synth = load_synth_dir(synth_dir)
    by_id = synth.by_id()
    removed: dict[str, str] = {}
    if reject_ids:
        unknown = [i for i in dict.fromkeys(reject_ids) if i not in by_id]
        if unknown:
            shown = ", ".join(repr(i) for i in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise FactoryError(
                f"{reject_source}: {len(unknown)} id(s) not in {synth.root / MANIFEST}: "
                f"{shown}{more}"
            )
        for sample_id in reject_ids:
            removed[sample_id] = f"rejected in review ({reject_source})"
    if min_quality is not None:
        stats = None
        for record in synth.records:
            score = record_quality(record)
            if score is None:
                if stats is None:
                    real = real_instances(synth, "train")
                    stats = class_stats_from_real(real, len(synth.class_names))
                score = compute_quality(synth, record, stats)["score"]
            if score < min_quality and record["id"] not in removed:
                removed[record["id"]] = f"quality {score:.3f} < {min_quality:g}"
    per_class = {i: ClassAcceptance(name) for i, name in enumerate(synth.class_names)}
    for record in synth.records:
        for paste in record["pastes"]:
            entry = per_class[paste["class_id"]]
            entry.pastes += 1
            entry.kept += record["id"] not in removed
    report = PruneReport(
        synth_dir=synth.root,
        total=len(synth.records),
        removed=removed,
        per_class=list(per_class.values()),
    )
    if not removed:
        return report
    _publish_pruned(synth, removed)
    if rebuild_gallery and (synth.root / "gallery" / "index.html").is_file():
        from factory.gallery.site import build_gallery

        report.gallery = build_gallery(synth.root)
    return report


def _sample_files(synth, record: dict) -> list[str]:
    stem = Path(record["image"]).stem
    candidates = [
        record["image"],
        f"labels/train/{stem}.txt",
        f"masks/train/{stem}.png",
    ]
    return [c for c in candidates if (synth.root / c).exists()]


def _publish_pruned(synth, removed: dict[str, str]) -> None:
    root = synth.root
    skip = {MANIFEST, PRUNED, SUMMARY}
    for record in synth.records:
        if record["id"] in removed:
            skip.update(_sample_files(synth, record))
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.prune-", dir=root.parent))
    try:
        for folder, _dirs, files in os.walk(root):
            rel_folder = Path(folder).relative_to(root)
            (staging / rel_folder).mkdir(parents=True, exist_ok=True)
            for name in files:
                rel = (rel_folder / name).as_posix()
                # Ultralytics label caches list the old images; it rebuilds them when absent.
                if rel in skip or (rel.startswith("labels/") and name.endswith(".cache")):
                    continue
                _link_or_copy(root / rel, staging / rel)
        kept_lines, pruned_lines = [], []
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        by_id = synth.by_id()
        for line in (root / MANIFEST).read_text().splitlines(keepends=True):
            if not line.strip():
                continue
            sample_id = json.loads(line)["id"]
            if sample_id in removed:
                pruned_lines.append(
                    json.dumps(
                        {
                            "id": sample_id,
                            "reason": removed[sample_id],
                            "pruned_at": when,
                            "files": _sample_files(synth, by_id[sample_id]),
                            "record": by_id[sample_id],
                        },
                        sort_keys=True,
                    )
                    + "\n"
                )
            else:
                kept_lines.append(line if line.endswith("\n") else line + "\n")
        (staging / MANIFEST).write_text("".join(kept_lines))
        previous = (root / PRUNED).read_text() if (root / PRUNED).is_file() else ""
        (staging / PRUNED).write_text(previous + "".join(pruned_lines))
        summary = dict(synth.summary)
        reasons: dict[str, int] = defaultdict(int)
        for reason in removed.values():
            # Group "quality 0.123 < 0.5" messages under one threshold.
            key = f"quality < {reason.split(' < ')[1]}" if reason.startswith("quality ") else reason
            reasons[key] += 1
        history = list(summary.get("pruned", [])) if isinstance(summary.get("pruned"), list) else []
        history.append({"at": when, "removed": len(removed), "reasons": dict(reasons)})
        summary["pruned"] = history
        summary["synthetic_images_after_prune"] = len(kept_lines)
        (staging / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    publish_dir(staging, root)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
