"""Drive the gallery in a real headless browser (Debian's chromium through playwright).

Set-up: ``apt-get install -y chromium`` (gives /usr/bin/chromium); playwright's own
browser download is never used. Skipped, with the reason, when chromium is absent.
"""

import json
import shutil
from pathlib import Path

import pytest

from factory.gallery import build_gallery
from factory.gallery.testing import make_fake_synth
from tests.conftest import make_tiny_dataset

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
EVIL = "<script>alert(1)</script>"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason="Debian chromium not installed (/usr/bin/chromium); run: apt-get install -y chromium",
)


def test_gallery_in_headless_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    source = make_tiny_dataset(tmp_path / "src")
    synth = make_fake_synth(
        source,
        tmp_path / "synth",
        samples=9,
        pastes_range=(1, 1),
        class_names=[EVIL, "scratch", "stain"],
    )
    index = build_gallery(synth)
    manifest = [json.loads(line) for line in (synth / "manifest.jsonl").read_text().splitlines()]
    with_class = {
        c: [r["id"] for r in manifest if r["pastes"][0]["class_id"] == c] for c in range(3)
    }
    failed, external, errors = [], [], []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(accept_downloads=True, viewport={"width": 1280, "height": 900})
            page.on("requestfailed", lambda r: failed.append((r.url, r.failure)))
            page.on(
                "request",
                lambda r: (
                    None
                    if r.url.startswith(("file://", "data:", "blob:"))
                    else external.append(r.url)
                ),
            )
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))
            page.goto(index.as_uri())
            page.wait_for_selector("body[data-ready='1']")
            # Force every lazy thumbnail to load, then check they decoded.
            page.evaluate("document.querySelectorAll('img').forEach(i => i.loading = 'eager')")
            page.wait_for_function(
                "Array.from(document.querySelectorAll('.card img')).every(i => i.complete)"
            )
            widths = page.eval_on_selector_all(".card img", "imgs => imgs.map(i => i.naturalWidth)")
            assert len(widths) == len(manifest) and all(w > 0 for w in widths)
            # The evil class name is shown as text, and never ran.
            assert page.locator("#class-0 .class-name").text_content() == EVIL
            assert page.locator("#class-0 .box .lbl").first.text_content() == EVIL
            assert page.evaluate("document.querySelectorAll('script').length") == 2

            # The class filter hides the other classes.
            page.select_option("#filter-class", "1")
            assert page.locator("#class-1").is_visible()
            assert not page.locator("#class-0").is_visible()
            assert not page.locator("#class-2").is_visible()
            visible = page.eval_on_selector_all(
                ".card", "cs => cs.filter(c => c.offsetParent !== null).map(c => c.dataset.id)"
            )
            assert sorted(visible) == sorted(with_class[1])
            page.select_option("#filter-class", "all")

            # The detail view opens with the full image, a zoom canvas and the source patch.
            page.locator(f'#class-2 .card[data-id="{with_class[2][0]}"] .frame').click()
            assert page.locator("#detail").is_visible()
            assert page.locator("#detail canvas").count() == 1
            page.wait_for_function(
                "Array.from(document.querySelectorAll('#detail img')).every(i => i.complete && i.naturalWidth > 0)"
            )
            page.screenshot(path=str(tmp_path / "gallery_detail.png"))
            page.keyboard.press("Escape")

            # Reject two samples, un-reject one, reject another; export.
            rejected = [with_class[0][0], with_class[1][0], with_class[2][0]]
            for sample_id in rejected:
                page.locator(f'.card[data-id="{sample_id}"] .toggle').first.click()
            page.locator(f'.card[data-id="{rejected[1]}"] .toggle').first.click()
            expected = sorted([rejected[0], rejected[2]])
            assert page.locator("#reject-count").text_content() == "2"
            page.screenshot(path=str(tmp_path / "gallery.png"), full_page=True)
            with page.expect_download() as info:
                page.click("#export")
            download = info.value
            assert download.suggested_filename == "rejected.json"
            target = tmp_path / "rejected.json"
            download.save_as(target)
        finally:
            browser.close()
    exported = json.loads(target.read_text())
    assert exported["rejected"] == expected
    assert failed == [] and external == [] and errors == []
    assert (tmp_path / "gallery.png").stat().st_size > 10_000
    shutil.rmtree(tmp_path / "src")
