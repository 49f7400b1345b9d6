"""Headless Chromium (Debian's ``chromium`` package) driven by Playwright; never a
browser that Playwright downloads itself. ``.ci/run`` installs both."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("AGENTBATCH_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(reason: str) -> None:
    """Skip on a developer's machine; fail in CI (.ci/run installs both)."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install playwright)")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        # each launch gets a fresh, temporary profile (user data dir)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the test run saves its screenshots (``AGENTBATCH_SCREENSHOTS``, else
    build/screenshots in the checkout)."""
    default = Path(__file__).resolve().parents[2] / "build" / "screenshots"
    out = Path(os.environ.get("AGENTBATCH_SCREENSHOTS") or default)
    out.mkdir(parents=True, exist_ok=True)
    return out
