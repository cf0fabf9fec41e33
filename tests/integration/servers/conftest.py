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
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sonicmap.config import AppConfig, load_settings, parse_gmm_config
from sonicmap.store.db import Store, open_store

HERE = Path(__file__).parent
USER, PASSWORD = "alice", "correct horse"


@dataclass
class ServerLibrary:
    music: Path
    template: Path  # folder holding the template database files
    tracks: list[Any]


def make_cfg(music: Path) -> AppConfig:
    gmm = parse_gmm_config({"gmm_clustering": {"auto_queue": {"min_artists": 4}}})
    return AppConfig(settings=load_settings({"SONICMAP_LIBRARY_ROOTS": str(music)}), gmm=gmm)


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


class Supysonic:
    """A supysonic process over ``music``; ``restart(wipe=True)`` starts from an empty database
    (every id new, playlists gone); ``restart(reset_library=True)`` keeps users and playlists
    but re-creates the catalogue (every song id new)."""

    def __init__(self, work: Path, music: Path) -> None:
        self.work, self.music = work, music
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, *extra: str) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        with open(self.work / "server.log", "a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(HERE / "supysonic_server.py"), str(self.work),
                 str(self.music), USER, PASSWORD, *extra],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"supysonic did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()
            self.proc = None

    def restart(self, *, wipe: bool = False, reset_library: bool = False) -> None:
        self.stop()
        if wipe:
            (self.work / "supysonic.db").unlink()
        self.start(*(["--reset-library"] if reset_library else []))

    def client(self, **kw: Any) -> Any:
        from sonicmap.remote.subsonic import SubsonicClient

        return SubsonicClient(name="sup", url=self.url, username=USER, secret=PASSWORD, **kw)


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
    env = {
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
