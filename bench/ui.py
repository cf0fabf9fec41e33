"""The web page in a real browser: how soon the map of 10,000 artists is drawn, and how much the
page transfers.

A SQLite library of ``--artists`` artists (one track each, vectors from a correlated Gaussian
mixture, a model trained by the pipeline: ``tests/ui_library.py``) is served by ``sonicmap
serve``; headless Chromium (Debian's, through its chromedriver and Selenium) opens ``/`` with
its cache disabled, ``--loads`` times. "Ready" is the page's own mark ``sonicmap:map-ready``
(set once every dot has been drawn), in ms after the start of the navigation; transferred bytes
are the sum of the navigation's and every resource's ``transferSize`` (compressed, as on the
wire). Target: ready ≤ 1 s.

    python bench/ui.py [--artists 10000] [--loads 5] [--write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "browser")]

from browserkit import find_browser, make_driver, start_server, stop  # noqa: E402

from ui_library import build  # noqa: E402

SECTION = "## Web page (`bench/ui.py`)"
TARGET_MS = 1000.0

MEASURE = """
const nav = performance.getEntriesByType('navigation')[0];
const ready = performance.getEntriesByName('sonicmap:map-ready')[0];
const res = performance.getEntriesByType('resource');
const bytes = res.reduce((s, r) => s + r.transferSize, nav.transferSize);
const map = res.find((r) => r.name.includes('/api/v1/map'));
return {ready: ready ? ready.startTime : null, bytes, files: res.length + 1,
        map_bytes: map ? map.transferSize : null, map_ms: map ? map.responseEnd - map.startTime : null,
        points: document.getElementById('map').dataset.points, frame_ms: frame()};
function frame() {  // one full redraw (what a pan or zoom step costs), median of 21
  const c = document.getElementById('map'), t = [];
  for (let i = 0; i < 21; i++) { const t0 = performance.now(); c.redraw(); t.push(performance.now() - t0); }
  return t.sort((a, b) => a - b)[10];
}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--artists", type=int, default=10_000)
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="replace the section of BENCHMARKS.md")
    args = ap.parse_args()
    if find_browser() is None:
        sys.exit("no chromium + chromedriver: apt-get install chromium chromium-driver")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'sonicmap.db'}"
        t0 = time.perf_counter()
        build(url, n_artists=args.artists, tracks_per_artist=1, k=8, models=1)
        print(f"library built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        proc, base = start_server(url, Path(tmp))
        d = make_driver(width=1280, height=800)
        load0 = os.getloadavg()[0]
        runs = []
        try:
            d.execute_cdp_cmd("Network.enable", {})
            d.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
            d.get(base + "/")  # warm the server (first request checks the schema)
            for _ in range(args.loads):
                d.get("about:blank")
                d.get(base + "/")
                deadline = time.monotonic() + 30
                while d.execute_script("return document.body.dataset.mapReady") != "1":
                    if time.monotonic() > deadline:
                        raise RuntimeError("the map was not ready within 30 s")
                    time.sleep(0.02)
                runs.append(d.execute_script(MEASURE))
        finally:
            d.quit()
            stop(proc)
        load1 = os.getloadavg()[0]
    assert all(r["points"] == str(args.artists) for r in runs), runs
    ready = sorted(r["ready"] for r in runs)
    med = statistics.median(ready)
    r0 = runs[0]
    lines = [
        SECTION,
        f"Command: `python bench/ui.py --artists {args.artists} --loads {args.loads}`. "
        f"Headless Chromium (Debian), cache disabled, page and API on one loopback "
        f"`sonicmap serve` (SQLite); {args.artists:,} artists on the map. 1-min load average "
        f"{load0:.1f} at the start, {load1:.1f} at the end (2 cores, shared).",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| map ready after navigation (all dots drawn), median of {len(ready)} | {med:.0f} ms |",
        f"| fastest / slowest load | {ready[0]:.0f} / {ready[-1]:.0f} ms |",
        f"| `GET /api/v1/map` (gzip) | {r0['map_bytes'] / 1024:.0f} kB, {r0['map_ms']:.0f} ms |",
        f"| whole page transferred ({r0['files']} requests) | {r0['bytes'] / 1024:.0f} kB |",
        f"| one full redraw of the map (a pan or zoom step), median | "
        f"{statistics.median(r['frame_ms'] for r in runs):.1f} ms |",
        "",
        f"Target (map of {args.artists:,} artists ready ≤ {TARGET_MS:.0f} ms after navigation): "
        f"**{'met' if med <= TARGET_MS else 'not met'}**.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        path = ROOT / "BENCHMARKS.md"
        doc = path.read_text(encoding="utf-8")
        if SECTION not in doc:
            doc = doc.rstrip("\n") + "\n\n" + SECTION + "\n"
        start = doc.index(SECTION)
        nxt = doc.find("\n## ", start + len(SECTION))
        end = len(doc) if nxt < 0 else nxt + 1
        path.write_text(
            doc[:start] + text + ("\n" if nxt >= 0 else "") + doc[end:], encoding="utf-8"
        )


if __name__ == "__main__":
    main()
