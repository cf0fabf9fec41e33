"""Scan benchmarks (see BENCHMARKS.md, section "Scan").

(a) No-change rescan of many small files, next to the floor measured in the same run: a plain
    recursive ``os.scandir`` + ``stat`` of the same tree (what any scanner must at least do).
    The files are tiny WAVs; the first scan (untimed) stores them with an instant analyser at
    the pipeline's analyser seam, so the timed rescan is exactly what a user's no-change rescan
    does: load the stored map once, walk + stat, post-scan steps.
(b) Full scan of real-length synthetic tracks with ``--jobs 1`` and ``--jobs 2`` (real
    analysis): tracks/s, speed-up, and peak RSS of every analysis worker process (sampled with
    psutil every 50 ms) and of the main process. Unique tracks are rendered once (cached under
    the temp dir) and copied, re-tagged, to the requested count.

Usage::

    python bench/scan.py [--files 20000] [--tracks 200] [--unique 8] [--track-seconds 210]
                         [--skip-a] [--skip-b] [--cache DIR]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sonicmap.config import AppConfig, GmmConfig, Settings
from sonicmap.pipeline.scan import scan_library
from sonicmap.store import migrate
from sonicmap.store.db import Store, make_engine

log = logging.getLogger("bench.scan")


@dataclass
class InstantAnalysis:
    features: dict[str, Any]
    sources: dict[str, str]
    duration_s: float = 0.01
    analysed_s: float = 0.01
    truncated: bool = False


def instant_analyze(
    path: str, *, max_duration_s: float | None = None, tags: Any = None
) -> InstantAnalysis:
    """Analyser seam for (a)'s untimed first scan: no audio work at all."""
    return InstantAnalysis({"duration_s": 0.01, "bpm": 120.0}, {"bpm": "signal"})


def config(root: Path, db_url: str, data: Path, *, jobs: int = 1) -> AppConfig:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        library_roots=[root],
        database_url=db_url,
        data_dir=data,
        jobs=jobs,
    )
    return AppConfig(settings=settings, gmm=GmmConfig())


def open_store(db_url: str) -> Store:
    store = Store(make_engine(db_url))
    migrate.upgrade(store.engine)
    return store


# ------------------------------------------------------------------------------------------- (a)


def make_small_tree(root: Path, n: int) -> None:
    """``n`` tiny (0.01 s) WAV files, 100 per album folder, 2 albums per artist folder."""
    if root.is_dir() and sum(1 for _ in root.rglob("*.wav")) == n:
        return
    shutil.rmtree(root, ignore_errors=True)
    frames = os.urandom(441 * 2)
    for i in range(n):
        folder = root / f"Artist {i // 200:04d}" / f"Album {(i // 100) % 2}"
        if i % 100 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        with wave.open(str(folder / f"{i % 100:02d} Track {i}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(44100)
            w.writeframes(frames[: 441 * 2 - (i % 7) * 2])


def floor_walk(root: Path) -> int:
    """Plain recursive scandir + stat of every file (the floor)."""
    n = 0
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir():
                    stack.append(e.path)
                else:
                    e.stat()
                    n += 1
    return n


def bench_a(work: Path, n_files: int) -> dict[str, Any]:
    root = work / "small-lib"
    t = time.perf_counter()
    make_small_tree(root, n_files)
    log.info("tree of %d files ready in %.1fs", n_files, time.perf_counter() - t)
    db = work / "a.db"
    db.unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    store = open_store(url)
    cfg = config(root, url, work / "data")
    sys.modules.setdefault("bench_scan_seam", sys.modules[__name__])
    t = time.perf_counter()
    first = scan_library(store, cfg, in_process=True, analyzer="bench_scan_seam:instant_analyze")
    log.info(
        "first scan (instant analyser) %d files in %.1fs", first.added, time.perf_counter() - t
    )
    assert first.added == n_files, first.to_dict()
    floors, rescans, bare = [], [], []
    for _ in range(3):
        t = time.perf_counter()
        assert floor_walk(root) == n_files
        floors.append(time.perf_counter() - t)
        t = time.perf_counter()
        r = scan_library(store, cfg, in_process=True, analyzer="bench_scan_seam:instant_analyze")
        rescans.append(time.perf_counter() - t)
        assert r.unchanged == n_files and r.analysed == 0, r.to_dict()
        t = time.perf_counter()
        r = scan_library(
            store,
            cfg,
            in_process=True,
            analyzer="bench_scan_seam:instant_analyze",
            post_steps=False,
        )
        bare.append(time.perf_counter() - t)
    # the same through the CLI (adds interpreter start-up, imports and the auto-queue hook; the
    # first CLI run may train the GMM the policy asks for, so the second one is reported)
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("SONICMAP_")}
    env.update(
        SONICMAP_LIBRARY_ROOTS=str(root),
        SONICMAP_DATABASE_URL=url,
        SONICMAP_DATA_DIR=str(work / "data"),
        SONICMAP_LOG_LEVEL="WARNING",
    )
    exe = str(Path(sys.executable).parent / "sonicmap")
    clis = []
    for _ in range(2):
        t = time.perf_counter()
        subprocess.run([exe, "scan", "--json"], env=env, check=True, capture_output=True)
        clis.append(time.perf_counter() - t)
    cli = clis[-1]
    store.dispose()
    return {
        "files": n_files,
        "floor_s": statistics.median(floors),
        "rescan_s": statistics.median(rescans),
        "walk_compare_s": statistics.median(bare),
        "cli_rescan_s": cli,
    }


# ------------------------------------------------------------------------------------------- (b)


def make_real_library(
    cache: Path, root: Path, *, n_tracks: int, n_unique: int, seconds: float
) -> list[Path]:
    """``n_tracks`` files: ``n_unique`` rendered tracks (cached), copied and re-tagged."""
    from sonicmap.library.tags import write_tags
    from sonicmap.synth import generate_library

    uniq = cache / f"unique-{n_unique}-{int(seconds)}s"
    if not (uniq / ".done").is_file():
        shutil.rmtree(uniq, ignore_errors=True)
        t = time.perf_counter()
        generate_library(
            uniq,
            n_artists=n_unique,
            tracks_per_artist=1,
            formats=["mp3", "ogg", "flac", "m4a"],
            seed=7,
            duration_s=seconds,
        )
        (uniq / ".done").write_text("ok")
        log.info(
            "rendered %d unique %.0f s tracks in %.0fs", n_unique, seconds, time.perf_counter() - t
        )
    sources = sorted(p for p in uniq.rglob("*") if p.is_file() and p.name != ".done")
    shutil.rmtree(root, ignore_errors=True)
    out = []
    for i in range(n_tracks):
        src = sources[i % len(sources)]
        dst = root / f"Artist {i // 4:03d}" / f"{i:03d} {src.name}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
        write_tags(dst, artist=f"Artist {i // 4:03d}", title=f"Track {i}")
        out.append(dst)
    return out


class RssSampler:
    """Peak RSS (bytes) of this process and of every child process, sampled every 50 ms."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peaks: dict[int, int] = {}
        self.cpu: dict[int, float] = {}  # CPU seconds (user + system) of each child
        self.loads: list[float] = []
        self.main_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                self.main_peak = max(self.main_peak, self.proc.memory_info().rss)
                for c in self.proc.children(recursive=True):
                    try:
                        rss = c.memory_info().rss
                        ct = c.cpu_times()
                    except psutil.Error:
                        continue
                    self.peaks[c.pid] = max(self.peaks.get(c.pid, 0), rss)
                    self.cpu[c.pid] = max(self.cpu.get(c.pid, 0.0), ct.user + ct.system)
                self.loads.append(os.getloadavg()[0])
            except psutil.Error:
                pass
            time.sleep(0.05)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def bench_b(
    work: Path, cache: Path, *, n_tracks: int, n_unique: int, seconds: float
) -> dict[str, Any]:
    root = work / "real-lib"
    files = make_real_library(cache, root, n_tracks=n_tracks, n_unique=n_unique, seconds=seconds)
    out: dict[str, Any] = {"tracks": len(files), "unique": n_unique, "seconds": seconds}
    for jobs in (1, 2):
        db = work / f"b{jobs}.db"
        db.unlink(missing_ok=True)
        url = f"sqlite:///{db}"
        store = open_store(url)
        cfg = config(root, url, work / "data", jobs=jobs)
        with RssSampler() as rss:
            t = time.perf_counter()
            r = scan_library(store, cfg, jobs=jobs)
            dt = time.perf_counter() - t
        store.dispose()
        assert r.added == len(files) and r.failed == 0, r.to_dict()
        workers = [v for v in rss.peaks.values() if v > 50 * 2**20]  # analysis processes
        out[f"jobs{jobs}"] = {
            "seconds": dt,
            "tracks_per_s": len(files) / dt,
            "audio_x_realtime": len(files) * seconds / dt,
            "worker_peak_rss_mb": max(workers) / 2**20 if workers else None,
            "workers_seen": len(workers),
            "main_peak_rss_mb": rss.main_peak / 2**20,
            "worker_cpu_s": sum(rss.cpu.values()),
            "load_avg": statistics.mean(rss.loads) if rss.loads else None,
        }
        log.info("jobs=%d: %s", jobs, out[f"jobs{jobs}"])
    out["speedup"] = out["jobs2"]["tracks_per_s"] / out["jobs1"]["tracks_per_s"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--tracks", type=int, default=200)
    ap.add_argument("--unique", type=int, default=8)
    ap.add_argument("--track-seconds", type=float, default=210.0)
    ap.add_argument("--skip-a", action="store_true")
    ap.add_argument("--skip-b", action="store_true")
    ap.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "sonicmap-bench-scan"
    )
    args = ap.parse_args()
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    logging.getLogger("sonicmap").setLevel(logging.WARNING)
    args.cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="sonicmap-bench-scan-"))
    try:
        if not args.skip_a:
            a = bench_a(args.cache, args.files)
            print(
                f"(a) no-change rescan of {a['files']} files: {a['rescan_s']:.2f} s "
                f"(walk + compare only {a['walk_compare_s']:.2f} s; floor scandir+stat "
                f"{a['floor_s']:.2f} s, ratio {a['rescan_s'] / a['floor_s']:.1f}x; "
                f"via CLI incl. start-up {a['cli_rescan_s']:.2f} s)"
            )
        if not args.skip_b:
            b = bench_b(
                work,
                args.cache,
                n_tracks=args.tracks,
                n_unique=args.unique,
                seconds=args.track_seconds,
            )
            for j in ("jobs1", "jobs2"):
                x = b[j]
                print(
                    f"(b) {b['tracks']} x {b['seconds']:.0f} s tracks, --{j[:4]} {j[4:]}: "
                    f"{x['seconds']:.1f} s, {x['tracks_per_s']:.3f} tracks/s "
                    f"({x['audio_x_realtime']:.0f}x real time), worker peak RSS "
                    f"{x['worker_peak_rss_mb']:.0f} MB ({x['workers_seen']} workers), "
                    f"main {x['main_peak_rss_mb']:.0f} MB; worker CPU {x['worker_cpu_s']:.1f} s; "
                    f"machine load average {x['load_avg']:.1f}"
                )
            print(f"(b) speed-up jobs 2 / jobs 1: {b['speedup']:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
