"""Headless Chromium for the dashboard tests: Debian's ``chromium`` driven by Playwright.

Playwright's own browser download is never used (no ``playwright install``). Without a
Chromium the browser tests skip with a message, except under CI=true, where it is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CANDIDATES = ("/usr/bin/chromium",)


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}, and CI=true requires the browser tests to run")
    pytest.skip(reason)


def find_chromium() -> str:
    for candidate in (*CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    _missing("no Chromium found (apt-get install -y chromium)")
    raise AssertionError("unreachable")


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless Chromium (a Playwright ``Browser``)."""
    executable = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed (pip install -e '.[dev]')")
        raise
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def watched_page(browser: Any, *, height: int, timeout_ms: int) -> Iterator[Any]:
    """A fresh page whose test fails on any page error or Content-Security-Policy report.
    ``timeout_ms`` bounds every wait, the page's and ``expect``'s (5 s by default: too
    short for a loaded machine)."""
    from playwright.sync_api import expect

    expect.set_options(timeout=timeout_ms)
    context = browser.new_context(viewport={"width": 1280, "height": height})
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    yield page
    context.close()
    assert not problems, problems
