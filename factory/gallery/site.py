"""The static review site: ``SYNTH_DIR/gallery/index.html`` plus cached thumbnails and plots.

The page opens from the file system with no server and no network: CSS and JS are inlined
from ``factory/gallery/assets``, images are relative links to the synth folder's own files.
All user text (class names, file names, paths) reaches the page either through
``html.escape`` or as JSON inside a ``<script type="application/json">`` block with ``<``,
``>`` and ``&`` escaped, and the page's script only ever sets it with ``textContent``.
"""

from __future__ import annotations

import html
import json
import os
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np

from factory.errors import FactoryError
from factory.gallery.features import (
    crop_xyxy,
    describe_crop,
    describe_crops,
    feature_dim,
    standardise,
)
from factory.gallery.kid import kid
from factory.gallery.projection import plot_projection, project_2d
from factory.gallery.synthdir import (
    SynthDir,
    compute_quality,
    load_synth_dir,
    paste_contrast_z,
    real_instances,
    record_quality,
)
from factory.io import read_image, write_image
from factory.quality import class_contrast_stats, instance_contrast
from factory.seeding import rng_for

ASSETS = Path(__file__).parent / "assets"
THUMB_SIZE = 224
EXAMPLE_SIZE = 96
JPEG_QUALITY = 85


@dataclass(frozen=True)
class GalleryOptions:
    """Knobs of :func:`build_gallery` (defaults suit a few thousand samples on 2 cores)."""

    real_per_class: int = 12  # real examples shown per class
    max_crops: int = 200  # crops per set (real train, synthetic, real test) for diagnostics
    seed: int = 0
    workers: int = 2
    projection: str = "pca"  # or "umap" when installed
    page_size: int = 60

    def __post_init__(self) -> None:
        if self.real_per_class < 0 or self.max_crops < 2 or self.workers < 1:
            raise FactoryError(
                f"gallery options out of range: real_per_class={self.real_per_class} (>= 0), "
                f"max_crops={self.max_crops} (>= 2), workers={self.workers} (>= 1)"
            )
        if self.projection not in ("pca", "umap"):
            raise FactoryError(f"projection must be 'pca' or 'umap', got {self.projection!r}")


def build_gallery(
    synth_dir: Path | str,
    out: Path | str | None = None,
    *,
    options: GalleryOptions | None = None,
) -> Path:
    """Build (or refresh) the review site of a synth output folder; returns ``index.html``.

    Thumbnails and computed quality scores are cached under ``out`` and only regenerated
    when missing or older than their image.
    """
    options = options or GalleryOptions()
    started = time.perf_counter()
    synth = load_synth_dir(synth_dir)
    out = Path(out) if out is not None else synth.root / "gallery"
    out.mkdir(parents=True, exist_ok=True)
    names = synth.class_names

    real_train = real_instances(synth, "train")
    real_test = real_instances(synth, "test")
    class_stats, real_features = _real_reference(real_train, len(names), options)
    _, test_features = _real_reference(real_test, len(names), options, with_contrast=False)
    qualities = _qualities(synth, out, class_stats, options)
    thumbs, paste_features = _scan_images(synth, out, options)
    examples = _real_examples(real_train, out, len(names), options)
    diagnostics = _diagnostics(synth, real_features, test_features, paste_features, out, options)
    link = _linker(synth.root, out)

    samples = []
    for record in synth.records:
        quality = qualities.get(record["id"])
        pastes = []
        for paste in record["pastes"]:
            paste_quality = paste.get("quality") or {}
            pastes.append(
                {
                    "c": paste["class_id"],
                    "xyxy": [round(float(v), 1) for v in paste["xyxy"]],
                    "blend": str(paste.get("blend", "")),
                    "placement": str(paste.get("placement", "")),
                    "patch": link(paste.get("patch_path")),
                    "patch_id": str(paste.get("patch_id", "")),
                    "source": str(paste.get("source_image", "")),
                    "source_xyxy": paste.get("source_xyxy"),
                    "mask_method": str(paste.get("mask_method", "")),
                    "seam": paste_quality.get("seam_visibility"),
                    "contrast": paste_quality.get("contrast"),
                    "z": paste_contrast_z(paste, class_stats),
                    "score": paste_quality.get("score"),
                }
            )
        width, height = thumbs[record["id"]][1]
        background = record.get("background") or {}
        samples.append(
            {
                "id": record["id"],
                "img": link(record["image"]),
                "thumb": thumbs[record["id"]][0],
                "w": width,
                "h": height,
                "q": quality,
                "bg": link(background.get("path")),
                "bg_kind": str(background.get("kind", "")),
                "bg_source": str(background.get("source", "")),
                "pastes": pastes,
                # --backgrounds labelled: the background's own real defects, drawn dashed.
                "kept": [
                    {"c": k["class_id"], "xyxy": [round(float(v), 1) for v in k["xyxy"]]}
                    for k in background.get("kept_labels", [])
                ],
            }
        )
    counts = defaultdict(lambda: [0, 0])  # class id -> [images, pastes]
    for sample in samples:
        for class_id in {p["c"] for p in sample["pastes"]}:
            counts[class_id][0] += 1
        for paste in sample["pastes"]:
            counts[paste["c"]][1] += 1
    classes = []
    for class_id, name in enumerate(names):
        classes.append(
            {
                "id": class_id,
                "name": name,
                "images": counts[class_id][0],
                "pastes": counts[class_id][1],
                "real_train": len(real_train.by_class.get(class_id, [])),
                "contrast": class_stats.get(class_id),
                **diagnostics.get(class_id, {}),
                "examples": examples.get(class_id, []),
            }
        )
    blends = sorted({p["blend"] for s in samples for p in s["pastes"]})
    data = {
        "title": synth.root.resolve().name,
        "storage_key": str(synth.root.resolve()),
        "page_size": options.page_size,
        "classes": classes,
        "blends": blends,
        "samples": samples,
    }
    page = render_page(
        data,
        synth_dir=str(synth.root),
        real_source=real_train.source,
        test_source=real_test.source,
        build_seconds=time.perf_counter() - started,
    )
    index = out / "index.html"
    tmp = out / ".index.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, index)
    return index


# --------------------------------------------------------------------------- page


def json_for_script(data: object) -> str:
    """JSON safe inside a ``<script>`` element: no ``</script>``, no ``<!--``, no entities."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def render_page(
    data: dict, *, synth_dir: str, real_source: str, test_source: str, build_seconds: float
) -> str:
    e = html.escape
    css = (ASSETS / "gallery.css").read_text()
    js = (ASSETS / "gallery.js").read_text()
    n_samples = len(data["samples"])
    class_options = "".join(
        f'<option value="{c["id"]}">{e(c["name"])} ({c["images"]})</option>'
        for c in data["classes"]
    )
    blend_options = "".join(f'<option value="{e(b)}">{e(b)}</option>' for b in data["blends"])
    sections = "".join(_section(c) for c in data["classes"])
    summary_rows = "".join(
        "<tr>"
        f'<td><a href="#class-{c["id"]}">{e(c["name"])}</a></td>'
        f"<td>{c['images']}</td><td>{c['pastes']}</td><td>{c['real_train']}</td>"
        f"<td>{_fmt_kid(c)}</td><td>{_fmt_coverage(c)}</td>"
        "</tr>"
        for c in data["classes"]
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Synthetic defect review: {e(data["title"])}</title>
<style>
{css}
</style>
</head>
<body>
<header>
  <h1>Synthetic defect review: <span class="path">{e(data["title"])}</span></h1>
  <p class="meta">Folder <code>{e(synth_dir)}</code> &middot; {n_samples} synthetic images
  &middot; built in {build_seconds:.1f} s. Real examples from <code>{e(real_source or "none")}</code>.</p>
  <div class="controls">
    <label>Class <select id="filter-class"><option value="all">all classes</option>{class_options}</select></label>
    <label>Blend <select id="filter-blend"><option value="all">all blends</option>{blend_options}</select></label>
    <label>Min quality <input id="filter-quality" type="number" min="0" max="1" step="0.05" value="0"></label>
    <label>Show <select id="filter-status"><option value="all">all</option><option value="accepted">accepted</option><option value="rejected">rejected</option></select></label>
    <button id="export" type="button">Export rejected (<span id="reject-count">0</span>)</button>
  </div>
</header>
<main>
<section class="overview">
  <h2>Overview</h2>
  <table class="summary">
    <thead><tr><th>class</th><th>synthetic images</th><th>pastes</th><th>real train instances</th>
    <th>KID real vs synthetic (&times;10<sup>3</sup>)</th><th>test coverage (NN distance real &rarr; real+synthetic)</th></tr></thead>
    <tbody>{summary_rows}</tbody>
  </table>
  <p class="note">KID: kernel inception distance with a cubic polynomial kernel on classical crop
  descriptors (intensity, gradient-orientation and LBP histograms, box shape); lower means the
  synthetic crops are distributed more like the real train crops. Test coverage: mean distance
  from each real <em>test</em> crop to its nearest training crop, with real train crops only
  and with synthetic crops added; a drop means the synthetic set reaches towards the test
  distribution.</p>
  <p class="note test-note"><strong>Test data shown for coverage only.</strong> Real test
  crops (from <code>{e(test_source or "none")}</code>) appear only in the projection plots
  and the coverage column. They were read, never modified, and played no part in making,
  scoring or selecting synthetic samples.</p>
</section>
{sections}
</main>
<div id="detail" class="detail" hidden>
  <div class="detail-inner">
    <button type="button" class="close" id="detail-close" aria-label="close">&times;</button>
    <div id="detail-body"></div>
  </div>
</div>
<script type="application/json" id="gallery-data">{json_for_script(data)}</script>
<script>
{js}
</script>
</body>
</html>
"""


def _fmt_kid(c: dict) -> str:
    if c.get("kid") is None:
        return "n/a"
    return f"{c['kid'] * 1e3:.2f} &plusmn; {c['kid_std'] * 1e3:.2f}"


def _fmt_coverage(c: dict) -> str:
    if c.get("nn_real") is None:
        return "n/a"
    return f"{c['nn_real']:.2f} &rarr; {c['nn_with_synthetic']:.2f}"


def _section(c: dict) -> str:
    e = html.escape
    examples = "".join(
        f'<figure class="example"><img loading="lazy" src="{e(x["src"])}" alt="real '
        f'{e(c["name"])}"><figcaption>{e(x["caption"])}</figcaption></figure>'
        for x in c["examples"]
    )
    if not examples:
        examples = '<p class="note">No real examples found (source dataset missing?).</p>'
    plot = (
        f'<img class="plot" loading="lazy" src="{e(c["plot"])}" alt="projection of '
        f'{e(c["name"])} crops">'
        if c.get("plot")
        else '<p class="note">Not enough crops for a projection.</p>'
    )
    contrast = c.get("contrast") or {}
    groups = [
        f"{label} {g['mean']:+.1f} &plusmn; {g['std']:.1f} (n={g['n']})"
        for label, g in (("dark", contrast.get("dark")), ("bright", contrast.get("bright")))
        if g and g.get("n")
    ]
    contrast_text = (
        "real contrast against surroundings (grey levels): " + ", ".join(groups)
        if groups
        else "no real contrast reference"
    )
    return f"""
<section class="class-section" id="class-{c["id"]}" data-class="{c["id"]}">
  <h2><span class="swatch c{c["id"] % 10}"></span><span class="class-name">{e(c["name"])}</span>
  <span class="counts">{c["images"]} synthetic images, {c["pastes"]} pastes,
  {c["real_train"]} real train instances</span></h2>
  <div class="class-top">
    <div class="real">
      <h3>Real examples (train)</h3>
      <div class="examples">{examples}</div>
      <p class="note">{contrast_text}; KID {_fmt_kid(c)}</p>
    </div>
    <div class="diag">
      <h3>Distribution ({e(c.get("method", "pca").upper())}: real train, synthetic, real test)</h3>
      {plot}
    </div>
  </div>
  <h3>Synthetic samples <span class="shown" data-class="{c["id"]}"></span></h3>
  <div class="grid" data-class="{c["id"]}"></div>
  <button type="button" class="more" data-class="{c["id"]}" hidden>Show more</button>
</section>"""


def _linker(root: Path, out: Path):
    """A function mapping a path relative to ``root`` to a percent-encoded URL from ``out``."""
    prefix = Path(os.path.relpath(root.resolve(), out.resolve())).as_posix()

    def link(relative: str | None) -> str | None:
        if not relative:
            return None
        return quote(f"{prefix}/{Path(relative).as_posix()}")

    return link


# --------------------------------------------------------------------------- caches


def _is_fresh(cached: Path, source: Path) -> bool:
    try:
        return cached.stat().st_mtime_ns >= source.stat().st_mtime_ns
    except FileNotFoundError:
        return False


def _scan_images(
    synth: SynthDir, out: Path, options: GalleryOptions
) -> tuple[dict[str, tuple[str, tuple[int, int]]], dict[str, np.ndarray]]:
    """One pass over the synthetic images: thumbnails and per-paste crop descriptors.

    Returns ``id -> (thumbnail URL, (width, height))`` and ``id -> (pastes, D)``
    descriptors. Both are cached (thumbnails as files, descriptors in
    ``cache/features.npz``) and an image is only decoded when one of them is missing or
    older than the image.
    """
    folder = out / "thumbs"
    folder.mkdir(exist_ok=True)
    sizes = {r.image_path.name: (r.width, r.height) for r in synth.dataset.split("train")}
    cache_path = out / "cache" / "features.npz"
    cached = _load_feature_cache(cache_path)
    wanted = diagnostic_pastes(synth, options)

    def one(record: dict):
        source = synth.path(record["image"])
        if not source.is_file():
            raise FactoryError(f"{synth.root}/manifest.jsonl: {record['id']}: {source} missing")
        mtime = source.stat().st_mtime_ns
        thumb = folder / f"{quote(record['id'], safe='')}.jpg"
        size = sizes.get(source.name)
        hit = cached.get(record["id"])
        need = wanted.get(record["id"], set())
        features = None
        valid = hit is not None and hit[0] == mtime and len(hit[1]) == len(record["pastes"])
        if valid and all(np.isfinite(hit[1][k]).all() for k in need):
            features = hit[1]
        fresh_thumb = _is_fresh(thumb, source) and size is not None
        if features is None or not fresh_thumb:
            image = read_image(source)
            size = (image.shape[1], image.shape[0])
            if not fresh_thumb:
                _write_thumbnail(image, thumb)
            if features is None:
                # Only the pastes sampled for diagnostics are described; others stay NaN.
                features = np.full((len(record["pastes"]), feature_dim()), np.nan, np.float32)
                for k in sorted(need):
                    features[k] = describe_crop(_safe_crop(image, record["pastes"][k]["xyxy"]))
        return record["id"], (quote(f"thumbs/{thumb.name}"), size), (mtime, features)

    thumbs, features, cache = {}, {}, {}
    with ThreadPoolExecutor(options.workers) as pool:
        for sample_id, thumb, (mtime, vectors) in pool.map(one, synth.records):
            thumbs[sample_id] = thumb
            features[sample_id] = vectors
            cache[sample_id] = (mtime, vectors)
    if cache != cached:
        _save_feature_cache(cache_path, cache)
    return thumbs, features


def diagnostic_pastes(synth: SynthDir, options: GalleryOptions) -> dict[str, set[int]]:
    """The pastes whose crops feed the diagnostics: up to ``max_crops`` per class, drawn
    deterministically from the manifest; ``id -> {paste index}``."""
    by_class: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for record in synth.records:
        for k, paste in enumerate(record["pastes"]):
            by_class[paste["class_id"]].append((record["id"], k))
    wanted: dict[str, set[int]] = defaultdict(set)
    for class_id, items in by_class.items():
        for sample_id, k in _sample(
            items, options.max_crops, options.seed, "gallery-syn", class_id
        ):
            wanted[sample_id].add(k)
    return wanted


def _safe_crop(image: np.ndarray, xyxy) -> np.ndarray:
    try:
        return crop_xyxy(image, xyxy)
    except ValueError:  # a degenerate box: describe a 1-pixel crop rather than fail
        return image[:1, :1]


def _write_thumbnail(image: np.ndarray, thumb: Path) -> None:
    height, width = image.shape[:2]
    scale = THUMB_SIZE / max(width, height)
    if scale < 1:
        image = cv2.resize(
            image,
            (max(1, round(width * scale)), max(1, round(height * scale))),
            interpolation=cv2.INTER_AREA,
        )
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise FactoryError(f"{thumb}: could not encode thumbnail")
    tmp = thumb.with_suffix(".tmp")
    tmp.write_bytes(encoded.tobytes())
    os.replace(tmp, thumb)


def _load_feature_cache(path: Path) -> dict[str, tuple[int, np.ndarray]]:
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            ids, mtimes, counts, vectors = (
                data["ids"],
                data["mtimes"],
                data["counts"],
                data["features"],
            )
    except (OSError, KeyError, ValueError):
        return {}  # a damaged cache is rebuilt, never trusted
    if vectors.ndim != 2 or vectors.shape[1] != feature_dim():
        return {}
    result, start = {}, 0
    for sample_id, mtime, count in zip(ids.tolist(), mtimes.tolist(), counts.tolist(), strict=True):
        result[sample_id] = (int(mtime), vectors[start : start + count])
        start += count
    return result


def _save_feature_cache(path: Path, cache: dict[str, tuple[int, np.ndarray]]) -> None:
    path.parent.mkdir(exist_ok=True)
    ids = list(cache)
    vectors = [cache[i][1] for i in ids]
    tmp = path.with_name("features.tmp.npz")
    np.savez(
        tmp,
        ids=np.array(ids, dtype=str),
        mtimes=np.array([cache[i][0] for i in ids], dtype=np.int64),
        counts=np.array([len(v) for v in vectors], dtype=np.int64),
        features=np.concatenate(vectors) if vectors else np.zeros((0, feature_dim()), np.float32),
    )
    os.replace(tmp, path)


def _qualities(
    synth: SynthDir, out: Path, class_stats: dict[int, dict], options: GalleryOptions
) -> dict[str, float | None]:
    """Quality score per sample: the manifest's, else computed once and cached."""
    cache_path = out / "cache" / "quality.json"
    try:
        cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    except json.JSONDecodeError:
        cache = {}
    todo, result = [], {}
    for record in synth.records:
        score = record_quality(record)
        if score is not None:
            result[record["id"]] = score
            continue
        mtime = synth.path(record["image"]).stat().st_mtime_ns
        hit = cache.get(record["id"])
        if hit and hit.get("mtime_ns") == mtime:
            result[record["id"]] = hit["score"]
            _merge_paste_quality(record, hit["pastes"])
        else:
            todo.append((record, mtime))

    def one(item):
        record, mtime = item
        return record, mtime, compute_quality(synth, record, class_stats)

    if todo:
        with ThreadPoolExecutor(options.workers) as pool:
            for record, mtime, quality in pool.map(one, todo):
                result[record["id"]] = quality["score"]
                cache[record["id"]] = {
                    "mtime_ns": mtime,
                    "score": quality["score"],
                    "pastes": quality["pastes"],
                }
                _merge_paste_quality(record, quality["pastes"])
        cache_path.parent.mkdir(exist_ok=True)
        cache_path.write_text(json.dumps(cache))
    return result


def _merge_paste_quality(record: dict, pastes: list[dict]) -> None:
    # In memory only: the page shows computed per-paste scores; the manifest is not touched.
    for paste, quality in zip(record["pastes"], pastes, strict=False):
        paste.setdefault("quality", quality)


def _real_examples(real, out: Path, num_classes: int, options: GalleryOptions) -> dict:
    folder = out / "real"
    examples: dict[int, list] = {}
    for class_id in range(num_classes):
        items = real.sample(class_id, options.real_per_class, options.seed, "examples")
        shown = []
        for index, (record, xyxy, _) in enumerate(items):
            target = folder / f"c{class_id}_{index:02d}.png"
            if not _is_fresh(target, record.image_path):
                crop = crop_xyxy(record.read(), xyxy, context=0.5)
                scale = EXAMPLE_SIZE / max(crop.shape[:2])
                crop = cv2.resize(
                    crop,
                    (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                    interpolation=cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA,
                )
                write_image(target, crop)
            shown.append({"src": f"real/{target.name}", "caption": record.key})
        examples[class_id] = shown
    return examples


# --------------------------------------------------------------------------- diagnostics


def _real_reference(
    real, num_classes: int, options: GalleryOptions, *, with_contrast: bool = True
) -> tuple[dict[int, dict], dict[int, np.ndarray]]:
    """Per class, from a sample of real instances: contrast stats and crop descriptors.

    Every image is decoded once, whatever the number of classes it holds.
    """
    wanted: dict[Path, list[tuple[int, tuple, int, object]]] = defaultdict(list)
    for class_id in range(num_classes):
        for record, xyxy, k in real.sample(class_id, options.max_crops, options.seed, "train"):
            wanted[record.image_path].append((class_id, xyxy, k, record))
    crops: dict[int, list] = defaultdict(list)
    contrasts: dict[int, list] = defaultdict(list)
    for items in wanted.values():
        record = items[0][3]
        image = record.read()
        masks = record.read_instance_masks() if with_contrast else None
        for class_id, xyxy, k, _ in items:
            crops[class_id].append(_safe_crop(image, xyxy))
            if with_contrast:
                contrasts[class_id].append(instance_contrast(image, xyxy, masks[k]))
    stats = {c: class_contrast_stats(contrasts.get(c, [])) for c in range(num_classes)}
    features = {c: describe_crops(crops.get(c, [])) for c in range(num_classes)}
    return stats, features


def _sample(items: list, limit: int, seed: int, *keys) -> list:
    if len(items) <= limit:
        return items
    keep = sorted(rng_for(seed, *keys).choice(len(items), limit, replace=False).tolist())
    return [items[i] for i in keep]


def _diagnostics(
    synth: SynthDir,
    real_features: dict[int, np.ndarray],
    test_features: dict[int, np.ndarray],
    paste_features: dict[str, np.ndarray],
    out: Path,
    options: GalleryOptions,
) -> dict:
    """Per class: KID (real train vs synthetic), test coverage, and a projection plot."""
    synthetic: dict[int, list[np.ndarray]] = defaultdict(list)
    by_id = synth.by_id()
    for sample_id, indices in sorted(diagnostic_pastes(synth, options).items()):
        for k in sorted(indices):
            class_id = by_id[sample_id]["pastes"][k]["class_id"]
            synthetic[class_id].append(paste_features[sample_id][k])
    result = {}
    for class_id, name in enumerate(synth.class_names):
        f_real, f_test = real_features[class_id], test_features[class_id]
        syn = synthetic.get(class_id, [])
        f_syn = np.stack(syn) if syn else np.zeros((0, feature_dim()), np.float32)
        entry: dict = {"kid": None, "kid_std": None, "nn_real": None, "plot": None}
        # Scale by the training distribution (real train + synthetic), never by the test set.
        reference = np.concatenate([f_real, f_syn])
        if len(reference) < 2:
            result[class_id] = entry
            continue
        s_real, s_syn, s_test = standardise(reference, f_real, f_syn, f_test)[1:]
        scores = kid(s_real, s_syn, rng_for(options.seed, "gallery-kid", class_id))
        if scores is not None:
            entry["kid"], entry["kid_std"] = scores.kid, scores.std
        if len(s_test) and len(s_real):
            entry["nn_real"] = _mean_nn(s_test, s_real)
            entry["nn_with_synthetic"] = _mean_nn(s_test, np.concatenate([s_real, s_syn]))
        (p_real, p_syn), (p_test,), method = project_2d(
            [s_real, s_syn], [s_test], method=options.projection, seed=options.seed
        )
        plot = out / "diagnostics" / f"class_{class_id}.png"
        plot_projection(
            plot,
            f"{name}: real train vs synthetic vs real test",
            [
                ("real train", p_real, "#1f77b4", "o"),
                ("synthetic", p_syn, "#ff7f0e", "^"),
                ("real test (coverage only)", p_test, "#2ca02c", "s"),
            ],
            method,
        )
        entry["plot"] = f"diagnostics/{plot.name}"
        entry["method"] = method
        result[class_id] = entry
    return result


def _mean_nn(queries: np.ndarray, pool: np.ndarray) -> float:
    if not len(pool):
        return float("nan")
    d2 = (queries**2).sum(1)[:, None] + (pool**2).sum(1)[None, :] - 2 * queries @ pool.T
    return float(np.sqrt(np.maximum(d2.min(axis=1), 0)).mean() / np.sqrt(feature_dim()))


__all__ = [
    "GalleryOptions",
    "build_gallery",
    "json_for_script",
    "render_page",
]
