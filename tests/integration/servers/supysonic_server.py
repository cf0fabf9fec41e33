"""Run a real Subsonic server (supysonic, from PyPI) over a folder, for the server tests.

    python supysonic_server.py DIR MUSIC USER PASSWORD [--reset-library]

sets the server up (if needed), scans MUSIC and serves. ``--reset-library`` first removes the
music folder from the server and adds it again: every song, album and artist gets a new id while
the users and their playlists stay (as after a server rescan that re-creates its catalogue).

Everything lives in DIR (its SQLite database, caches, daemon socket); it listens on a free
loopback port and prints ``PORT <n>`` on stdout once serving. Deleting ``DIR/supysonic.db``
and starting again is a fresh server: a new database, every song, album, artist and playlist id
new (supysonic's ids are random UUIDs). Run as a separate process so the tests can stop it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def _prune_playlists() -> None:
    """Drop removed songs from every playlist, as supysonic does when it reads one (0.7.9 then
    fails with a 500, committing outside a transaction, so it is done here once)."""
    from uuid import UUID

    from supysonic.db import Playlist, Track

    for p in Playlist.select():
        keep = [t for t in (p.tracks or "").split(",") if t and Track.get_or_none(id=UUID(t))]
        p.tracks = ",".join(keep)
        p.save()


def main() -> None:
    work, music, user, password = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    work.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING)

    import supysonic.config
    from supysonic.config import DefaultConfig

    class Config(DefaultConfig):
        BASE = {**DefaultConfig.BASE, "database_uri": f"sqlite:///{work / 'supysonic.db'}"}
        WEBAPP = {
            **DefaultConfig.WEBAPP,
            "cache_dir": str(work / "cache"),
            "mount_webui": False,
            "log_level": "WARNING",
        }
        DAEMON = {**DefaultConfig.DAEMON, "socket": str(work / "daemon.sock")}

    supysonic.config.current_config = Config()  # daemon socket in DIR, not the temp folder
    from supysonic.db import init_database, release_database
    from supysonic.managers.folder import FolderManager
    from supysonic.managers.user import UserManager
    from supysonic.scanner import Scanner

    init_database(Config.BASE["database_uri"])
    from supysonic.db import User

    if not User.select().where(User.name == user).exists():
        UserManager.add(user, password, admin=True)
        FolderManager.add("music", music)
    elif "--reset-library" in sys.argv[5:]:
        FolderManager.delete_by_name("music")
        FolderManager.add("music", music)
    scanner = Scanner()
    scanner.queue_folder("music")
    scanner.run()
    if "--reset-library" in sys.argv[5:]:
        _prune_playlists()
    release_database()

    from supysonic.web import create_application
    from werkzeug.serving import make_server

    app = create_application(Config())
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
