"""Helpers for the browser tests and ``bench/ui.py``: find Debian's Chromium and chromedriver,
start ``sonicmap serve`` on a free loopback port, open a headless Selenium session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

KEY = "browser-test-key-0123456789"


def find_browser() -> tuple[str, str] | None:
    chrome = os.environ.get("SONICMAP_CHROMIUM") or shutil.which("chromium")
    driver = os.environ.get("SONICMAP_CHROMEDRIVER") or shutil.which("chromedriver")
    return (chrome, driver) if chrome and driver else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, data_dir: Path, *, key: str = KEY) -> tuple[subprocess.Popen, str]:
    """``sonicmap serve`` on a free loopback port; returns the process and its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONICMAP_")}
    env.update(
        SONICMAP_DATABASE_URL=url,
        SONICMAP_DATA_DIR=str(data_dir),
        SONICMAP_API_KEY=key,
        SONICMAP_LOG_LEVEL="WARNING",
        SONICMAP_TIMEZONE="UTC",
    )
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "sonicmap"), "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((data_dir / "server.log").read_text()[-2000:]) from None
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("sonicmap serve did not start within 60 s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def make_driver(
    *, width: int = 1100, height: int = 760, dark: bool = False, mobile: bool = False
) -> Any:
    found = find_browser()
    if found is None:
        pytest.skip("no chromium + chromedriver (Debian: apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extra")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chrome, driver = found
    opts = Options()
    opts.binary_location = chrome
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--no-first-run",
        f"--window-size={max(width, 500)},{height}",
        "--force-device-scale-factor=1",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(driver), options=opts)
    if mobile:  # a phone's viewport (a window cannot be narrower than 500 px)
        d.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True},
        )
        d.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True})
    if dark:
        d.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
        )
    return d


def screenshot(driver: Any, name: str) -> None:
    """Save a screenshot when ``SONICMAP_SCREENSHOTS`` names a folder (docs/img/ui for the docs),
    reduced to 64 colours when Pillow is there (a third of the size, same look)."""
    folder = os.environ.get("SONICMAP_SCREENSHOTS")
    if not folder:
        return
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as img:
        small = img.convert("RGB").quantize(colors=64, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
