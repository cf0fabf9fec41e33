"""Fixtures of the music-server tests.

``server_library`` (once per session): a small library written by the project's synthesiser
(10 artists × 3 tracks + a "Various Artists" compilation, FLAC/MP3/Ogg, 2 s each), scanned by
sonicmap with the real analysis into a template SQLite database, plus a trained 2-cluster
model. ``sm`` copies that database for one test. ``supysonic`` is a real Subsonic server
(supysonic from PyPI) over the same folder, in its own temp dir on a free loopback port,
stopped after the test.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # servers_env (also for the test modules)

from servers_env import PASSWORD, ServerLibrary, Supysonic, make_cfg  # noqa: E402

from sonicmap.config import AppConfig  # noqa: E402
from sonicmap.store.db import Store, open_store  # noqa: E402


@pytest.fixture(scope="session")
def server_library(tmp_path_factory: pytest.TempPathFactory) -> ServerLibrary:
    from sonicmap.pipeline import clustering
    from sonicmap.pipeline.scan import scan_library
    from sonicmap.synth import generate_library

    base = tmp_path_factory.mktemp("server-lib")
    music = base / "music"
    tracks = generate_library(
        music,
        n_artists=10,
        tracks_per_artist=3,
        formats=("flac", "mp3", "ogg"),
        duration_s=2.0,
        seed=17,
        various_artists=True,
    )
    cfg = make_cfg(music)
    template = base / "db"
    store = open_store(f"sqlite:///{template / 'sonicmap.db'}")
    try:
        res = scan_library(store, cfg, in_process=True)
        assert res.added == len(tracks) and not res.failures
        clustering.train(store, cfg, n_components=2, force=True)
        with store.engine.begin() as c:
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        store.dispose()
    return ServerLibrary(music=music, template=template, tracks=tracks)


@dataclass
class Sm:
    store: Store
    cfg: AppConfig
    db_url: str
    music: Path


@pytest.fixture
def sm(server_library: ServerLibrary, tmp_path: Path) -> Iterator[Sm]:
    """A copy of the scanned, clustered sonicmap database for this test."""
    folder = tmp_path / "sonicmap"
    shutil.copytree(server_library.template, folder)
    url = f"sqlite:///{folder / 'sonicmap.db'}"
    store = open_store(url)
    try:
        yield Sm(
            store=store, cfg=make_cfg(server_library.music), db_url=url, music=server_library.music
        )
    finally:
        store.dispose()


@pytest.fixture
def supysonic(server_library: ServerLibrary, tmp_path: Path) -> Iterator[Supysonic]:
    srv = Supysonic(tmp_path / "supysonic", server_library.music)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def cli_env(sm: Sm, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for in-process CLI runs against ``sm``'s database and the supysonic user."""
    from sonicmap.cli import _common

    for k in list(os.environ):
        if k.startswith("SONICMAP_"):
            monkeypatch.delenv(k)
    gmm = tmp_path / "gmm_config.yaml"
    gmm.write_text("gmm_clustering:\n  auto_queue:\n    min_artists: 4\n")
    env = {
        "SONICMAP_GMM_CONFIG": str(gmm),
        "SONICMAP_DATA_DIR": str(tmp_path / "data"),
        "SONICMAP_DATABASE_URL": sm.db_url,
        "SONICMAP_LIBRARY_ROOTS": str(sm.music),
        "SUP_PASSWORD": PASSWORD,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    _common.set_config(None)
    _common._state.pop("store", None)
    yield env
    s = _common._state.pop("store", None)
    if s is not None:
        s.dispose()
    _common.set_config(None)
