"""The web page in a real browser: Debian's Chromium driven by Selenium (system chromedriver;
nothing downloaded). One server and one browser per module, on a throwaway SQLite library.

``./scripts/test`` installs ``chromium`` and ``chromium-driver`` when they are missing; without
them these tests are skipped with the reason. ``SONICMAP_SCREENSHOTS=DIR`` saves the views'
screenshots there (``docs/img`` holds the committed ones).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browserkit import find_browser, make_driver, start_server, stop


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A 60-artist library with two models, served by ``sonicmap serve``."""
    if find_browser() is None:
        pytest.skip("no chromium + chromedriver (Debian: apt-get install chromium chromium-driver)")
    from ui_library import build

    tmp = tmp_path_factory.mktemp("ui")
    url = f"sqlite:///{tmp / 'sonicmap.db'}"
    info = build(url, n_artists=60, tracks_per_artist=3)
    proc, base = start_server(url, tmp)
    try:
        yield {**info, "base": base, "url": url, "dir": tmp}
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def browser(library: dict[str, Any]) -> Iterator[Any]:
    d = make_driver()
    try:
        yield d
    finally:
        d.quit()
