"""What the music-server tests share, importable by name (``from servers_env import ...``):
the supysonic process wrapper, the test user, the configuration of the generated library.
(A test module importing ``conftest`` would get whichever conftest was imported last.)"""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sonicmap.config import AppConfig, load_settings, parse_gmm_config

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


class LoopbackServer:
    """An HTTP handler served on a free loopback port, in a thread (the servers' fakes);
    ``stop()`` closes it."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
