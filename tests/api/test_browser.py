"""The home page in a real browser (headless Chromium, Debian's package; .ci/run installs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium(*args: str, profile: Path) -> str:
    result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],  # type: ignore[list-item]
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_home_page_renders_what_is_loaded(server: str, tmp_path: Path) -> None:
    dom = chromium("--dump-dom", server + "/", profile=tmp_path / "profile")
    assert '<table id="sources">' in dom
    assert 'href="/sources/charing-cross"' in dom and "1068" in dom
    assert "ov:Investigation" in dom and 'href="/docs"' in dom
    shot = tmp_path / "home.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,900", server + "/", profile=tmp_path / "profile")
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one


@pytest.fixture(scope="session")
def editor_dir() -> str:
    """The query page's editor, installed from the npm registry as `oversight serve` does (once)."""
    from api import editor
    from graph.settings import resolve

    settings = resolve()
    editor.install(settings["EDITOR_DIR"], settings["NPM_REGISTRY"])
    return str(settings["EDITOR_DIR"])


def test_the_query_page_runs_a_query_and_shows_its_results(editor_dir: str, tmp_path: Path) -> None:
    """Drive YASGUI in Chromium: run the pre-filled query, then an example; read the tables and links."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import serving

    with serving(tmp_path / "served", EDITOR_DIR=editor_dir) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[f for f in FLAGS if f != "--headless"])
        page = browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        outside: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(url) else outside.append(r.url))
        page.goto(url + "/sparql")
        page.wait_for_selector(".yasqe .CodeMirror")
        assert "PREFIX ov: <https://w3id.org/oversight/ontology#>" in page.evaluate(
            "document.querySelector('.CodeMirror').CodeMirror.getValue()")
        page.click(".tabPanel.active .yasqe_queryButton")
        page.wait_for_selector(".tabPanel.active .yasr table tbody tr")
        first = page.locator(".tabPanel.active .yasr table tbody tr").all_inner_texts()
        assert any("Officer A" in row for row in first) and len(first) == 18

        page.click("#examples button[data-example=officers-in-several-investigations]")
        page.click(".tabPanel.active .yasqe_queryButton")
        page.wait_for_selector(".tabPanel.active .yasr table tbody tr")
        rows = page.locator(".tabPanel.active .yasr table tbody tr").all_inner_texts()
        assert sorted(row.split("\t")[2].strip() for row in rows) == list("ABCDE")
        links = page.locator("#downloads a").evaluate_all("all => all.map(a => [a.dataset.format, a.href])")
        assert [format for format, _ in links] == ["json", "xml", "csv", "tsv"]
        csv_link = dict(links)["csv"]
        download = page.request.get(csv_link)
        assert download.ok and download.headers["content-type"].startswith("text/csv")
        assert len(download.text().strip().splitlines()) == 1 + 5

        page.click("#examples button[data-example=inquiry-network]")  # a CONSTRUCT: graph formats
        links = page.locator("#downloads a").evaluate_all("all => all.map(a => a.dataset.format)")
        assert links == ["ttl", "nt", "jsonld", "rdf", "trig", "nq"]
        page.screenshot(path=str(tmp_path / "sparql.png"), full_page=True)
        browser.close()
    assert problems == [] and outside == []
