"""A library for the web page's tests, screenshots and ``bench/ui.py``: artists in styles,
tracks with vectors, two trained models (one archived), drift checks and job runs.

Vectors are written directly (no audio): ``n_artists`` artists from a correlated Gaussian
mixture (``sonicmap.clustering.synthetic``), each with ``tracks_per_artist`` tracks near its
vector. Models are trained by the real pipeline, so the map is the one a user gets.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from sonicmap.clustering.synthetic import correlated_mixture
from sonicmap.config import AppConfig, load_settings, parse_gmm_config
from sonicmap.embedding import LAYOUT_VERSION
from sonicmap.pipeline import clustering
from sonicmap.store import migrate
from sonicmap.store import schema as db
from sonicmap.store.db import Store, make_engine
from sonicmap.store.repo import put_embeddings

_FIRST = "Amber Basalt Cinder Delta Ember Fjord Garnet Harbor Indigo Juniper Kestrel Lumen Marlow".split()
_SECOND = "Falls Owls Radio Tides Union Circuit Choir Lanterns Static Orchard Motel Parade".split()


def artist_name(i: int) -> str:
    return f"{_FIRST[i % len(_FIRST)]} {_SECOND[(i // len(_FIRST)) % len(_SECOND)]} {i}"


def build(
    url: str,
    *,
    n_artists: int = 60,
    tracks_per_artist: int = 3,
    k: int = 5,
    seed: int = 0,
    models: int = 2,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Create and fill the database at ``url``; returns ids useful to tests."""
    now = now or datetime.now(UTC)
    engine = make_engine(url)
    migrate.upgrade(engine)
    store = Store(engine)
    rng = np.random.default_rng(seed)
    X, comp = correlated_mixture(n_artists, k, seed=seed, separation=12.0)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    n_tracks = n_artists * tracks_per_artist
    T = np.repeat(X, tracks_per_artist, axis=0) + 0.08 * rng.normal(size=(n_tracks, X.shape[1]))
    T = (T / np.linalg.norm(T, axis=1, keepdims=True)).astype(np.float32)
    with store.session() as s:
        s.execute(
            db.Artist.__table__.insert(),
            [{"id": i + 1, "key": f"name:{i}", "name": artist_name(i)} for i in range(n_artists)],
        )
        s.execute(
            db.Album.__table__.insert(),
            [{"id": i + 1, "key": f"album:{i}", "title": f"Album {i}"} for i in range(n_artists)],
        )
        s.execute(
            db.Track.__table__.insert(),
            [
                {
                    "id": j + 1,
                    "path": f"/music/{artist_name(j // tracks_per_artist)}/{j % tracks_per_artist + 1:02d} Song {j}.flac",
                    "size": 1,
                    "mtime": 0.0,
                    "duration_s": 180.0 + j % 60,
                    "title": f"Song {j}",
                    "artist_id": j // tracks_per_artist + 1,
                    "album_id": j // tracks_per_artist + 1,
                    "tags": {},
                    "status": "analysed",
                    "format": "flac",
                }
                for j in range(n_tracks)
            ],
        )
        # Descriptors that follow the styles, so clusters get labels ("fast · energetic", ...).
        c = comp[np.arange(n_tracks) // tracks_per_artist] / max(1, k - 1)
        s.execute(
            db.TrackFeatures.__table__.insert(),
            [
                {
                    "track_id": j + 1,
                    "analysis_version": 1,
                    "features": {
                        "bpm": float(75 + 70 * c[j] + rng.normal(0, 4)),
                        "energy": float(np.clip(0.2 + 0.6 * c[j] + rng.normal(0, 0.05), 0, 1)),
                        "acousticness": float(np.clip(0.9 - 0.8 * c[j], 0, 1)),
                        "mode": "minor" if (j // tracks_per_artist) % 3 == 0 else "major",
                    },
                    "sources": {},
                }
                for j in range(n_tracks)
            ],
        )
        put_embeddings(s, "track", list(range(1, n_tracks + 1)), T, layout_version=LAYOUT_VERSION)
        put_embeddings(
            s,
            "artist",
            list(range(1, n_artists + 1)),
            X,
            layout_version=LAYOUT_VERSION,
            n_tracks=[tracks_per_artist] * n_artists,
            total_duration_s=[600.0] * n_artists,
        )
    gmm = parse_gmm_config(
        {"gmm_clustering": {"auto_queue": {"min_artists": 10, "max_components": max(2, k + 2)}}}
    )
    cfg = AppConfig(settings=load_settings({}), gmm=gmm)
    first = None
    if models > 1:
        first = clustering.train(store, cfg, force=True, now=now - timedelta(days=7), seed=1)
    second = clustering.train(store, cfg, force=True, now=now - timedelta(days=1), seed=0)
    with store.session() as s:
        for d in range(6):
            drift = [0.02, 0.04, 0.05, 0.09, 0.07, 0.11][d]
            s.add(
                db.DriftCheck(
                    checked_at=now - timedelta(days=6 - d),
                    model_id=second.model_id,
                    drift=drift,
                    threshold=0.15,
                    decision="stable",
                    inputs={},
                )
            )
        s.add(
            db.JobRun(
                task="scan_library",
                task_id="t-failed",
                status="failed",
                args={},
                result={"status": "error", "message": "library root /music is not readable"},
                started_at=now - timedelta(hours=2),
                finished_at=now - timedelta(hours=2) + timedelta(seconds=3),
            )
        )
        s.add(
            db.JobRun(
                task="train_gmm",
                task_id="t-running",
                status="running",
                args={"reason": "manual"},
                started_at=now - timedelta(minutes=1),
            )
        )
    store.dispose()
    return {
        "active_model": second.model_id,
        "archived_model": first.model_id if first else None,
        "n_artists": n_artists,
        "n_tracks": n_tracks,
    }
