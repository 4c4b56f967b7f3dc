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
