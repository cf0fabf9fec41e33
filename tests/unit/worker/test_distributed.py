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

    counts = distributed.analyse_chunk(sqlite_store, todo, max_duration_s=None, analyzer=FAKE)
    assert counts == {"files": 2, "failed": 1}

    distributed.use_cache(sqlite_store, FAKE)
    try:
        monkeypatch.setenv("SONICMAP_TEST_ANALYZE_SLEEP_S", "0")
        parked = distributed.cached_analyze(str(good))
        assert parked.duration_s == pytest.approx(0.2)
        assert parked.features["pid"] == os.getpid()  # computed by the chunk, here in-process
        with pytest.raises(distributed.CachedAnalysisError):
            distributed.cached_analyze(str(bad))
        # the file changed since: the parked analysis is ignored, the file analysed again
        write_wav(good, seconds=0.3)
        os.utime(good, (1, 1))
        fresh = distributed.cached_analyze(str(good))
        assert fresh.duration_s == pytest.approx(0.3)
    finally:
        distributed.use_cache(None, None)
    assert distributed.clear_cache(sqlite_store) == 2
