"""Distributed-scan pieces: candidates, parked analyses and the cached analyser seam."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from sonicmap.config import load_config
from sonicmap.worker import distributed

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration" / "worker"))
from worker_helpers import write_wav  # noqa: E402

FAKE = "worker_helpers:fake_analyze"


def test_chunks():
    assert distributed.chunks(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["e"]]


def test_parked_analysis_is_used_while_the_file_is_unchanged(sqlite_store, tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    good, bad = lib / "good.wav", lib / "bad.wav"
    write_wav(good)
    bad.parent.mkdir(exist_ok=True)
    bad.write_bytes(b"RIFF not really")
    cfg = load_config({"SONICMAP_LIBRARY_ROOTS": str(lib), "SONICMAP_DATA_DIR": str(tmp_path)})
    todo = distributed.find_candidates(sqlite_store, cfg, None)
    assert todo == sorted([str(bad), str(good)])

    cache = distributed.AnalysisCache(sqlite_store, "scan-a", fallback=FAKE)
    counts = cache.park(todo, max_duration_s=None, analyzer=FAKE)
    assert counts == {"files": 2, "failed": 1}

    monkeypatch.setenv("SONICMAP_TEST_ANALYZE_SLEEP_S", "0")
    parked = cache.analyze(str(good))
    assert parked.duration_s == pytest.approx(0.2)
    assert parked.features["pid"] != os.getpid()  # computed by the chunk's analysis process
    with pytest.raises(distributed.CachedAnalysisError):
        cache.analyze(str(bad))
    # the file changed since: the parked analysis is ignored, the file analysed again
    write_wav(good, seconds=0.3)
    os.utime(good, (1, 1))
    fresh = cache.analyze(str(good))
    assert fresh.duration_s == pytest.approx(0.3)
    assert cache.clear() == 2


def test_each_scan_sees_and_deletes_only_its_own_parked_rows(sqlite_store, tmp_path, monkeypatch):
    monkeypatch.setenv("SONICMAP_TEST_ANALYZE_SLEEP_S", "0")
    track = tmp_path / "lib" / "a.wav"
    write_wav(track)
    mine = distributed.AnalysisCache(sqlite_store, "scan-1", fallback=FAKE)
    theirs = distributed.AnalysisCache(sqlite_store, "scan-2", fallback=FAKE)
    assert theirs.park([str(track)], max_duration_s=None, analyzer=FAKE)["files"] == 1
    # scan 1 parked nothing: it analyses the file itself (another pid stands in for "not parked")
    monkeypatch.setattr(os, "getpid", lambda: -1)
    assert mine.analyze(str(track)).features["pid"] == -1
    assert mine.clear() == 0
    # scan 2's row survived scan 1's clean-up and is still used by scan 2
    assert theirs.analyze(str(track)).features["pid"] != -1
    assert theirs.clear() == 1


def test_an_unpicklable_analyser_needs_in_process_and_the_cache_crosses_processes(
    sqlite_store, tmp_path, monkeypatch
):
    import multiprocessing

    from sonicmap.pipeline.scan import scan_library

    cfg = load_config({"SONICMAP_LIBRARY_ROOTS": str(tmp_path), "SONICMAP_DATA_DIR": str(tmp_path)})
    with pytest.raises(ValueError, match="in_process=True"):
        scan_library(sqlite_store, cfg, analyzer=lambda p, **kw: None, in_process=False)
    # the cache of parked analyses reaches an analysis process as its database URL
    monkeypatch.setenv("SONICMAP_TEST_ANALYZE_SLEEP_S", "0")
    track = tmp_path / "lib" / "a.wav"
    write_wav(track)
    cache = distributed.AnalysisCache(sqlite_store, "scan-p", fallback=FAKE)
    cache.park([str(track)], max_duration_s=None, analyzer=FAKE)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pid = pool.apply(_parked_pid, (cache, str(track)))
    assert pid == cache.analyze(str(track)).features["pid"]  # the parked one, not recomputed


def _parked_pid(cache: distributed.AnalysisCache, path: str) -> int:
    return int(cache(path).features["pid"])
