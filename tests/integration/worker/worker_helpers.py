"""Helpers of the worker integration tests (importable by worker subprocesses via PYTHONPATH).

* seeding a library straight into the store (artists, analysed tracks, 64-D artist vectors in
  well-separated styles) so that training has something to fit without analysing audio;
* tiny WAV files and a fast fake analyser for the scan tests;
* ``python worker_helpers.py worker ...``: a Celery worker whose ``clustering.train`` first
  sleeps ``SONICMAP_TEST_TRAIN_DELAY_S`` seconds (to kill it mid-training).
"""

from __future__ import annotations

import os
import signal
import sys
import time
import wave
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import update

DIM = 64


def style_centres(n_styles: int, *, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n_styles, DIM)) * 4.0).astype(np.float32)


def seed_library(
    store: Any,
    *,
    n_artists: int,
    tracks_per_artist: int = 2,
    n_styles: int = 3,
    seed: int = 0,
    prefix: str = "/seeded",
) -> list[int]:
    """Insert ``n_artists`` artists (round-robin over styles) with analysed tracks and vectors."""
    from sonicmap.pipeline import embeddings
    from sonicmap.store.repo import set_state
    from sonicmap.store.schema import Artist, ArtistEmbedding, Track, TrackEmbedding
    from sonicmap.store.vectors import to_blob

    rng = np.random.default_rng(seed + 1)
    centres = style_centres(n_styles, seed=seed)
    now = datetime.now(UTC)
    ids = []
    with store.session() as s:
        for i in range(n_artists):
            a = Artist(key=f"name:{prefix}-artist-{i}", name=f"{prefix} artist {i}")
            s.add(a)
            s.flush()
            ids.append(a.id)
            v = centres[i % n_styles] + rng.normal(size=DIM).astype(np.float32) * 0.3
            for t in range(tracks_per_artist):
                tr = Track(
                    path=f"{prefix}/{i}/{t}.flac",
                    size=1,
                    mtime=1.0,
                    artist_id=a.id,
                    status="analysed",
                    duration_s=180.0,
                    created_at=now,
                    updated_at=now,
                    analysed_at=now,
                )
                s.add(tr)
                s.flush()
                # the same vector for each track: re-aggregating the artist gives v again
                s.add(
                    TrackEmbedding(
                        track_id=tr.id,
                        layout_version=_layout_version(),
                        vector=to_blob(v.astype(np.float32)),
                    )
                )
            s.add(
                ArtistEmbedding(
                    artist_id=a.id,
                    layout_version=_layout_version(),
                    vector=to_blob(v.astype(np.float32)),
                    n_tracks=tracks_per_artist,
                    total_duration_s=180.0 * tracks_per_artist,
                )
            )
        # the embeddings pipeline must not think the layout changed (it would re-embed all)
        set_state(
            s,
            embeddings.STATE_KEY,
            {"version": _layout_version(), "weights": embeddings._effective_weights(None)},
        )
    return ids


def _layout_version() -> int:
    try:
        from sonicmap.embedding import LAYOUT_VERSION

        return int(LAYOUT_VERSION)
    except Exception:  # noqa: BLE001
        return 1


def drift_library(
    store: Any, artist_ids: list[int], *, fraction: float, n_styles: int = 3, seed: int = 0
) -> int:
    """Move the first ``fraction`` of the artists (seeded by :func:`seed_library` with the same
    ``n_styles`` and ``seed``) into the next style, and mark their tracks changed."""
    from sonicmap.store.schema import ArtistEmbedding, Track
    from sonicmap.store.vectors import to_blob

    rng = np.random.default_rng(seed + 2)
    centres = style_centres(n_styles, seed=seed)
    moved = artist_ids[: int(round(len(artist_ids) * fraction))]
    now = datetime.now(UTC)
    with store.session() as s:
        for j, aid in enumerate(moved):
            v = centres[(j + 1) % n_styles] + rng.normal(size=DIM).astype(np.float32) * 0.3
            s.execute(
                update(ArtistEmbedding)
                .where(ArtistEmbedding.artist_id == aid)
                .values(vector=to_blob(v.astype(np.float32)), updated_at=now)
            )
        s.execute(update(Track).where(Track.artist_id.in_(moved)).values(updated_at=now))
    return len(moved)


def touch_tracks(store: Any, artist_ids: list[int]) -> None:
    """Mark the artists' tracks changed (re-analysed) without moving their vectors."""
    from sonicmap.store.schema import Track

    with store.session() as s:
        s.execute(
            update(Track)
            .where(Track.artist_id.in_(artist_ids))
            .values(updated_at=datetime.now(UTC))
        )


def write_wav(path: Path, *, seconds: float = 0.2, freq: float = 440.0, sr: int = 8000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * seconds)) / sr
    y = (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(y.tobytes())


def fake_analyze(path: str, *, max_duration_s: float | None = None, tags: Any = None) -> Any:
    """Reads the WAV header, sleeps ``SONICMAP_TEST_ANALYZE_SLEEP_S``, measures nothing."""
    with wave.open(path, "rb") as w:
        dur = w.getnframes() / w.getframerate()
    time.sleep(float(os.environ.get("SONICMAP_TEST_ANALYZE_SLEEP_S", "0")))
    from sonicmap.worker.distributed import CachedAnalysis  # the Analysis shape

    return CachedAnalysis(
        features={"bpm": 120.0, "duration_s": dur, "pid": os.getpid()}, duration_s=dur
    )


def kill_or_hang(path: str, *, max_duration_s: float | None = None, tags: Any = None) -> Any:
    """:func:`fake_analyze`, except that a file named ``KILL...`` kills the analysing process
    (SIGKILL, like the out-of-memory killer) and one named ``HANG...`` never returns."""
    name = Path(path).name
    if name.startswith("KILL"):
        os.kill(os.getpid(), signal.SIGKILL)
    if name.startswith("HANG"):
        while True:
            time.sleep(60)
    return fake_analyze(path, max_duration_s=max_duration_s, tags=tags)


def _patched_worker(argv: list[str]) -> None:
    """Celery worker whose GMM fit first sleeps ``SONICMAP_TEST_TRAIN_DELAY_S`` (after touching
    ``SONICMAP_TEST_TRAIN_MARKER``), so a test can kill it in the middle of a real training."""
    delay = float(os.environ.get("SONICMAP_TEST_TRAIN_DELAY_S", "0"))
    from sonicmap.worker.app import app

    if delay > 0:
        from sonicmap.clustering.gmm import ArtistGmm

        real_fit = ArtistGmm.fit

        def slow_fit(self: Any, *a: Any, **kw: Any) -> Any:
            marker = os.environ.get("SONICMAP_TEST_TRAIN_MARKER")
            if marker:
                Path(marker).write_text(str(os.getpid()))
            time.sleep(delay)
            return real_fit(self, *a, **kw)

        ArtistGmm.fit = slow_fit  # type: ignore[method-assign]
    app.worker_main(argv)


if __name__ == "__main__":
    _patched_worker(sys.argv[1:])
