"""Helpers shared by the API tests (unit, integration, e2e): fake queue, config, seeding.

Imported as ``apitest`` (this folder is on ``sys.path`` under pytest's default import mode;
the integration and e2e conftests add it).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from sonicmap.api.errors import BrokerUnavailable
from sonicmap.config import AppConfig, load_config
from sonicmap.store import schema as db
from sonicmap.store.db import Store

API = "/api/v1"
KEY = "test-key-0123456789"


class FakeQueue:
    """Records what the API enqueues; coalesces trainings like the worker does."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.training: str | None = None
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise BrokerUnavailable("the task broker at redis://fake cannot be reached")

    def ping(self) -> str:
        self._check()
        return "reachable"

    def enqueue(self, task: str, kwargs: dict[str, Any]) -> str:
        self._check()
        self.sent.append((task, kwargs))
        return str(uuid.uuid4())

    def request_training(
        self, *, n_components: int | None, force: bool, reason: str
    ) -> tuple[str, bool]:
        self._check()
        if self.training is not None:
            return self.training, True
        self.training = self.enqueue(
            "train_gmm", {"n_components": n_components, "force_refresh": force, "reason": reason}
        )
        return self.training, False

    def status(self, task_id: str) -> dict[str, Any]:
        self._check()
        if task_id == self.training:
            return {
                "state": "SUCCESS",
                "ready": True,
                "result": {"status": "completed"},
                "error": None,
            }
        return {"state": "PENDING", "ready": False, "result": None, "error": None}


def make_config(tmp_path: Path, **env: str) -> AppConfig:
    base = {"SONICMAP_DATA_DIR": str(tmp_path / "data"), "SONICMAP_TIMEZONE": "UTC"}
    base.update({f"SONICMAP_{k.upper()}": v for k, v in env.items()})
    return load_config(base)


def unit(v: np.ndarray) -> bytes:
    v = np.asarray(v, dtype=np.float32)
    return (v / np.linalg.norm(v)).astype("<f4").tobytes()


def seed(store: Store, *, n_artists: int = 6, tracks_per_artist: int = 2) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ids: dict[str, Any] = {"artists": [], "tracks": []}
    with store.session() as s:
        for a in range(n_artists):
            artist = db.Artist(
                key=f"name:artist {a}", name=f"Artist {a}" + (" 100%" if a == 5 else "")
            )
            album = db.Album(key=f"album:{a}", title=f"Album {a}", album_artist=artist.name)
            s.add_all([artist, album])
            s.flush()
            ids["artists"].append(artist.id)
            for t in range(tracks_per_artist):
                track = db.Track(
                    path=f"/music/a{a}/t{t}.flac",
                    size=1000,
                    mtime=0.0,
                    format="flac",
                    duration_s=100.0 + 100 * t,
                    title=f"Song {a}-{t}",
                    artist_id=artist.id,
                    album_id=album.id,
                    tags={"genre": ["rock"]},
                    status="analysed",
                )
                s.add(track)
                s.flush()
                ids["tracks"].append(track.id)
                s.add(
                    db.TrackFeatures(
                        track_id=track.id,
                        analysis_version=1,
                        features={
                            "bpm": 100.0 + 20 * t,
                            "energy": 0.5,
                            "key": "C",
                            "truncated": False,
                            "chroma": [0.1] * 12,
                        },
                        sources={"bpm": "signal"},
                    )
                )
                s.add(
                    db.TrackEmbedding(
                        track_id=track.id, layout_version=1, vector=unit(rng.normal(size=64))
                    )
                )
            s.add(
                db.ArtistEmbedding(
                    artist_id=artist.id,
                    layout_version=1,
                    vector=unit(rng.normal(size=64)),
                    n_tracks=tracks_per_artist,
                    total_duration_s=300.0,
                )
            )
        # An artist with no tracks and no embedding.
        lonely = db.Artist(key="name:lonely", name="Lonely")
        s.add(lonely)
        s.flush()
        ids["lonely"] = lonely.id
        old = db.GmmModel(
            status="archived",
            format_version=1,
            k=2,
            trigger="manual",
            created_at=now - timedelta(days=3),
        )
        act = db.GmmModel(
            status="active",
            format_version=1,
            k=2,
            trigger="auto_queue",
            created_at=now,
            activated_at=now,
            active_flag=True,
            covariance_type="diag",
            n_artists=n_artists,
            params={"seed": 0},
        )
        s.add_all([old, act])
        s.flush()
        ids["archived_model"], ids["active_model"] = old.id, act.id
        for m in (old, act):
            s.add_all(
                [
                    db.GmmCluster(
                        model_id=m.id,
                        cluster_id=10,
                        component=0,
                        label="fast · loud",
                        size=3,
                        weight=0.5,
                        profile={"z": {"bpm": 1.2}, "representative": ids["artists"][:2]},
                    ),
                    db.GmmCluster(
                        model_id=m.id,
                        cluster_id=11,
                        component=1,
                        label="slow · quiet",
                        size=3,
                        weight=0.5,
                        profile={},
                    ),
                ]
            )
            for i, aid in enumerate(ids["artists"]):
                p0 = 0.9 if i < 3 else 0.2
                s.add(
                    db.ArtistCluster(
                        model_id=m.id,
                        artist_id=aid,
                        cluster_id=10 if i < 3 else 11,
                        probability=max(p0, 1 - p0),
                        probabilities=np.array([p0, 1 - p0], dtype="<f4").tobytes(),
                        map_x=-0.5 + i / 10 if i < 3 else 0.5 + i / 10,
                        map_y=i / 20,
                    )
                )
        scan = db.ScanSession(
            status="completed", roots=["/music"], added=12, failed=1, finished_at=now
        )
        s.add(scan)
        s.flush()
        s.add(
            db.ScanFailure(scan_id=scan.id, path="/music/bad.mp3", error="DecodeError: not audio")
        )
        ids["scan"] = scan.id
        s.add(
            db.JobRun(
                task="train_gmm",
                task_id="abc-1",
                status="succeeded",
                args={},
                result={"status": "completed"},
                started_at=now,
                finished_at=now,
            )
        )
        s.add(
            db.DriftCheck(
                checked_at=now,
                model_id=act.id,
                drift=0.05,
                threshold=0.15,
                decision="stable",
                inputs={"n": 6},
            )
        )
    return ids
