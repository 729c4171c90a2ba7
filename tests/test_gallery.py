"""Gallery site, diagnostics and prune, on fake synth folders that follow the synth contract."""

import importlib
import json
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from typer.testing import CliRunner

from factory.cli import app
from factory.dataset import load_dataset
from factory.errors import FactoryError
from factory.gallery import GalleryOptions, build_gallery, prune, read_reject_list
from factory.gallery.features import describe_crops
from factory.gallery.kid import kid, mmd2_unbiased
from factory.gallery.projection import pca_fit
from factory.gallery.site import json_for_script
from factory.gallery.testing import make_fake_synth
from factory.seeding import rng_for
from tests.conftest import TINY_CLASSES, make_tiny_dataset

EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("src") / "tiny")


@pytest.fixture
def synth(source, tmp_path) -> Path:
    return make_fake_synth(source, tmp_path / "synth", samples=10)


class PageParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self.srcs, self.hrefs, self.text = [], [], [], []
        self.class_names, self._in_name, self._script = [], False, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts.append(attrs)
            self._script = attrs
        if "src" in attrs:
            self.srcs.append(attrs["src"])
        if "href" in attrs:
            self.hrefs.append(attrs["href"])
        if tag == "span" and attrs.get("class") == "class-name":
            self._in_name = True

    def handle_endtag(self, tag):
        if tag == "span":
            self._in_name = False
        if tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._in_name:
            self.class_names.append(data)
        if self._script is None:
            self.text.append(data)


def parse(index: Path) -> PageParser:
    parser = PageParser()
    parser.feed(index.read_text(encoding="utf-8"))
    return parser


def page_data(index: Path) -> dict:
    text = index.read_text(encoding="utf-8")
    start = text.index('<script type="application/json" id="gallery-data">')
    start = text.index(">", start) + 1
    return json.loads(text[start : text.index("</script>", start)])


def test_gallery_builds_offline_site_with_everything_linked(synth):
    index = build_gallery(synth)
    assert index == synth / "gallery" / "index.html"
    page = parse(index)
    # Two scripts: the JSON data block and the inline code; nothing loaded from anywhere.
    assert len(page.scripts) == 2 and all("src" not in s for s in page.scripts)
    assert "<link" not in index.read_text()
    data = page_data(index)
    urls = page.srcs + [s["thumb"] for s in data["samples"]] + [s["img"] for s in data["samples"]]
    urls += [s["bg"] for s in data["samples"]] + [
        p["patch"] for s in data["samples"] for p in s["pastes"]
    ]
    for url in urls:
        assert "://" not in url and not url.startswith("/")
        assert (index.parent / unquote(url)).resolve().is_file(), url
    manifest = [json.loads(line) for line in (synth / "manifest.jsonl").read_text().splitlines()]
    assert [s["id"] for s in data["samples"]] == [r["id"] for r in manifest]
    assert [c["name"] for c in data["classes"]] == TINY_CLASSES
    for c in data["classes"]:
        assert c["pastes"] == sum(p["class_id"] == c["id"] for r in manifest for p in r["pastes"])
        assert c["examples"], "real train examples shown for every class"
        assert (index.parent / c["plot"]).is_file()
        assert c["kid"] is not None
        assert c["contrast"]["n"] == 3  # the tiny source has 3 train instances per class
    text = " ".join(page.text)
    assert "Test data shown for coverage only" in text
    # Per-class sections with counts.
    assert "3 real train instances" in " ".join(text.split())


def test_class_names_and_paths_are_escaped(source, tmp_path):
    synth = make_fake_synth(
        source, tmp_path / "syn <b>&'quote\"", samples=4, class_names=[EVIL, "a&b", 'c"d']
    )
    index = build_gallery(synth)
    page = parse(index)
    assert len(page.scripts) == 2  # no injected script element
    assert EVIL in page.class_names and "a&b" in page.class_names
    raw = index.read_text()
    assert EVIL not in raw  # it only exists escaped (&lt;script&gt; or \u003c in the JSON)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    assert page_data(index)["classes"][0]["name"] == EVIL
    assert json.loads(json_for_script({"x": "</script><!--"})) == {"x": "</script><!--"}
    assert "<" not in json_for_script({"x": "</script>"})


def test_thumbnails_are_cached_and_refreshed_when_stale(synth):
    build_gallery(synth)
    thumbs = sorted((synth / "gallery" / "thumbs").glob("*.jpg"))
    assert len(thumbs) == 10
    before = {t.name: t.stat().st_mtime_ns for t in thumbs}
    build_gallery(synth)
    assert {t.name: t.stat().st_mtime_ns for t in thumbs} == before
    image = synth / "images" / "train" / "syn_000001.png"
    future = thumbs[1].stat().st_mtime_ns + 10**9
    os.utime(image, ns=(future, future))
    build_gallery(synth)
    after = {t.name: t.stat().st_mtime_ns for t in thumbs}
    assert after["syn_000001.jpg"] != before["syn_000001.jpg"]
    assert all(after[k] == before[k] for k in before if k != "syn_000001.jpg")


def test_quality_is_computed_and_cached_when_manifest_has_none(source, tmp_path):
    synth = make_fake_synth(source, tmp_path / "synth", samples=6, with_quality=False)
    index = build_gallery(synth, tmp_path / "site")
    data = page_data(index)
    assert all(isinstance(s["q"], float) for s in data["samples"])
    assert all(p["z"] is not None for s in data["samples"] for p in s["pastes"])
    cache = json.loads((tmp_path / "site" / "cache" / "quality.json").read_text())
    assert set(cache) == {s["id"] for s in data["samples"]}
    # Links still reach the synth folder from a gallery outside it.
    assert (index.parent / unquote(data["samples"][0]["img"])).resolve().is_file()


def test_missing_source_dataset_falls_back_to_real_copies(synth, tmp_path):
    summary = json.loads((synth / "summary.json").read_text())
    summary["dataset_root"] = str(tmp_path / "gone")
    (synth / "summary.json").write_text(json.dumps(summary))
    data = page_data(build_gallery(synth))
    assert all(c["examples"] for c in data["classes"])  # the real train copies in the set
    for image in (synth / "images" / "train").glob("img_*"):
        image.unlink()
        (synth / "labels" / "train" / f"{image.stem}.txt").unlink()
    shutil.rmtree(synth / "gallery")
    index = build_gallery(synth)
    data = page_data(index)
    assert all(not c["examples"] for c in data["classes"])
    assert "No real examples found" in index.read_text()


def test_kid_and_projection():
    rng = rng_for(0, "test-kid")
    a = rng.normal(size=(80, 16))
    b = rng.normal(size=(80, 16))
    far = rng.normal(loc=1.5, size=(80, 16))
    same = kid(a, b, rng_for(0, "k1"), subset_size=50)
    different = kid(a, far, rng_for(0, "k2"), subset_size=50)
    assert abs(same.kid) < 0.05 < different.kid
    assert kid(a[:1], b, rng) is None
    assert mmd2_unbiased(a, far) > mmd2_unbiased(a, b)
    _mean, axes = pca_fit(np.concatenate([a, far]))
    assert axes.shape == (2, 16)
    assert np.allclose(axes @ axes.T, np.eye(2), atol=1e-6)
    feats = describe_crops([np.full((10, 14), 100, np.uint8), np.zeros((8, 8, 3), np.uint8)])
    assert feats.shape[0] == 2 and np.isfinite(feats).all()


def test_prune_reject_list_removes_files_and_manifest_lines_atomically(synth, tmp_path):
    build_gallery(synth)
    test_files = sorted((synth / "images" / "test").iterdir())
    reject = tmp_path / "rejected.json"
    reject.write_text(json.dumps({"synth_dir": "x", "rejected": ["syn_000002", "syn_000005"]}))
    report = prune(synth, reject_ids=read_reject_list(reject), reject_source=str(reject))
    assert sorted(report.removed) == ["syn_000002", "syn_000005"]
    for stem in ("syn_000002", "syn_000005"):
        assert not (synth / "images" / "train" / f"{stem}.png").exists()
        assert not (synth / "labels" / "train" / f"{stem}.txt").exists()
        assert not (synth / "masks" / "train" / f"{stem}.png").exists()
    ids = [json.loads(line)["id"] for line in (synth / "manifest.jsonl").read_text().splitlines()]
    assert len(ids) == 8 and "syn_000002" not in ids
    pruned = [json.loads(line) for line in (synth / "pruned.jsonl").read_text().splitlines()]
    assert [p["id"] for p in pruned] == ["syn_000002", "syn_000005"]
    assert pruned[0]["reason"].startswith("rejected in review") and pruned[0]["record"]["pastes"]
    assert sorted((synth / "images" / "test").iterdir()) == test_files
    load_dataset(synth)  # still a valid dataset whose test lock verifies
    assert [s["id"] for s in page_data(synth / "gallery" / "index.html")["samples"]] == ids
    assert not [p for p in synth.parent.iterdir() if p.name.startswith(".")]


def test_prune_failure_leaves_folder_untouched(synth, monkeypatch):
    before = sorted(p.relative_to(synth) for p in synth.rglob("*"))
    manifest = (synth / "manifest.jsonl").read_text()

    def broken(source, target):
        raise OSError("disk full")

    # ``factory.gallery.prune`` the attribute is the function; patch the module's helper.
    monkeypatch.setattr(importlib.import_module("factory.gallery.prune"), "_link_or_copy", broken)
    with pytest.raises(OSError, match="disk full"):
        prune(synth, reject_ids=["syn_000001"])
    assert sorted(p.relative_to(synth) for p in synth.rglob("*")) == before
    assert (synth / "manifest.jsonl").read_text() == manifest
    assert not [p for p in synth.parent.iterdir() if p.name.startswith(".")]


def test_prune_min_quality_reports_acceptance_per_class(synth):
    manifest = [json.loads(line) for line in (synth / "manifest.jsonl").read_text().splitlines()]
    scores = sorted(r["quality"]["score"] for r in manifest)
    threshold = scores[len(scores) // 2]
    report = prune(synth, min_quality=threshold, rebuild_gallery=False)
    expected = {r["id"] for r in manifest if r["quality"]["score"] < threshold}
    assert set(report.removed) == expected and expected
    for entry in report.per_class:
        class_id = TINY_CLASSES.index(entry.name)
        pastes = [(r["id"], p) for r in manifest for p in r["pastes"] if p["class_id"] == class_id]
        assert entry.pastes == len(pastes)
        assert entry.kept == sum(i not in expected for i, _ in pastes)
    history = json.loads((synth / "summary.json").read_text())["pruned"]
    assert history[-1]["reasons"] == {f"quality < {threshold:g}": len(expected)}


def test_cli_gallery_and_prune(synth, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["gallery", str(synth), "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "site" / "index.html").is_file()
    reject = tmp_path / "rejected.json"
    reject.write_text(json.dumps(["syn_000001", "syn_999999", "bogus"]))
    result = runner.invoke(app, ["prune", str(synth), "--reject-list", str(reject)])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: {reject}: 2 id(s) not in {synth / 'manifest.jsonl'}: 'syn_999999', 'bogus'"
    )
    result = runner.invoke(app, ["prune", str(synth)])
    assert result.exit_code == 1
    assert "error: nothing to do: give a reject list and/or a minimum quality" in result.output
    reject.write_text("syn_000001\nsyn_000003\n")
    result = runner.invoke(app, ["prune", str(synth), "--reject-list", str(reject)])
    assert result.exit_code == 0, result.output
    assert "pruned 2 of 10 synthetic images; 8 kept" in result.output
    assert "Acceptance per class" in result.output


def test_bad_manifest_is_a_clear_error(synth):
    with (synth / "manifest.jsonl").open("a") as handle:
        handle.write("{not json\n")
    with pytest.raises(FactoryError, match=r"manifest.jsonl line 11: not valid JSON"):
        build_gallery(synth)
    with pytest.raises(FactoryError, match="manifest"):
        build_gallery(synth.parent / "nowhere")
    with pytest.raises(FactoryError, match="max_crops=1"):
        GalleryOptions(max_crops=1)


def test_feature_cache_is_reused_and_a_damaged_one_rebuilt(synth, monkeypatch):
    first = page_data(build_gallery(synth))
    cache = synth / "gallery" / "cache" / "features.npz"
    assert cache.is_file()
    calls = []
    import factory.gallery.site as site

    original = site.read_image
    monkeypatch.setattr(site, "read_image", lambda p: calls.append(p) or original(p))
    second = page_data(build_gallery(synth))
    assert calls == []  # thumbnails and descriptors all came from the caches
    assert [c["kid"] for c in second["classes"]] == [c["kid"] for c in first["classes"]]
    cache.write_bytes(b"not an npz")
    third = page_data(build_gallery(synth))
    assert len(calls) == 10  # every image decoded once to rebuild the descriptors
    assert [c["kid"] for c in third["classes"]] == [c["kid"] for c in first["classes"]]
