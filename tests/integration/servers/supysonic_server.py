"""Run a real Subsonic server (supysonic, from PyPI) over a folder, for the server tests.

    python supysonic_server.py DIR MUSIC USER PASSWORD    # set up (if needed), scan, serve

Everything lives in DIR (its SQLite database, caches, daemon socket); it listens on a free
loopback port and prints ``PORT <n>`` on stdout once serving. Deleting ``DIR/supysonic.db``
and starting again is a fresh server: a new database, every song, album, artist and playlist id
new (supysonic's ids are random UUIDs). Run as a separate process so the tests can stop it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def main() -> None:
    work, music, user, password = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    work.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING)

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

    from supysonic.db import init_database, release_database
    from supysonic.managers.folder import FolderManager
    from supysonic.managers.user import UserManager
    from supysonic.scanner import Scanner

    init_database(Config.BASE["database_uri"])
    from supysonic.db import User

    if not User.select().where(User.name == user).exists():
        UserManager.add(user, password, admin=True)
        FolderManager.add("music", music)
    scanner = Scanner()
    scanner.queue_folder("music")
    scanner.run()
    release_database()

    from werkzeug.serving import make_server

    from supysonic.web import create_application

    app = create_application(Config())
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
