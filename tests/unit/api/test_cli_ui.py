"""``sonicmap ui``: serves the page on 127.0.0.1 (embedded mode) and prints its URL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def test_ui_prints_the_url_and_serves_the_page(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONICMAP_")}
    env.update(
        SONICMAP_DATABASE_URL=f"sqlite:///{tmp_path / 's.db'}",
        SONICMAP_DATA_DIR=str(tmp_path),
        DISPLAY="",
        WAYLAND_DISPLAY="",
    )
    exe = str(Path(sys.executable).parent / "sonicmap")
    proc = subprocess.Popen(
        [exe, "db", "upgrade"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    assert proc.wait(120) == 0
    proc = subprocess.Popen(
        [exe, "ui", "--no-browser"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        line = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "http" not in line:
            line = proc.stdout.readline().decode()
            assert line or proc.poll() is None, "sonicmap ui exited"
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        with urllib.request.urlopen(url.group(0), timeout=10) as r:
            assert r.status == 200 and b"<canvas" in r.read()
        with urllib.request.urlopen(url.group(0) + "api/v1/ready", timeout=10) as r:
            assert b'"embedded"' in r.read()
    finally:
        proc.terminate()
        proc.wait(15)
