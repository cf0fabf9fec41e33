"""The test suite's own PostgreSQL (with pgvector) and Redis: throwaway servers, loopback only.

The first test that needs one starts it (once per pytest process): a ``postgres`` from the
``pgserver`` wheel (PostgreSQL 16 with pgvector; Debian's binaries when the wheel is missing, then
without pgvector) initialised with ``initdb`` in a temporary folder, and a ``redis-server`` with
no persistence in another; each listens on a free 127.0.0.1 port. They are stopped, and their
folders deleted, when the session ends (and die with the pytest process if it is killed). Run as
root, both servers run as the unprivileged ``nobody`` user (PostgreSQL refuses root); no user is
created, no system file is read or written, no system service is started.

``SONICMAP_TEST_PG_URL`` (an admin URL, e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``)
and ``SONICMAP_TEST_REDIS_URL`` (e.g. ``redis://127.0.0.1:6379``) point the suite at existing
servers instead, on purpose: tests then create (and drop) their own databases there and use Redis
database indexes 1-15, which they empty.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

PG_ENV = "SONICMAP_TEST_PG_URL"
REDIS_ENV = "SONICMAP_TEST_REDIS_URL"
COUNTER_KEY = "sonicmap:test:redis-db-counter"
UNPRIVILEGED_USER = "nobody"


class ServiceUnavailable(RuntimeError):
    """A throwaway server could not be started here (the message says why and what to install)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) to drop to when running as root, else None."""
    if os.geteuid() != 0:
        return None
    pw = pwd.getpwnam(UNPRIVILEGED_USER)
    return pw.pw_uid, pw.pw_gid


def _preexec(ids: tuple[int, int] | None, death_signal: int):  # noqa: ANN202
    """Child setup: drop root (if any), then ask Linux to signal the child when pytest dies."""

    def setup() -> None:
        os.setsid()
        if ids is not None:
            os.setgroups([])
            os.setgid(ids[1])
            os.setuid(ids[0])
        with contextlib.suppress(Exception):  # PR_SET_PDEATHSIG = 1 (Linux only)
            ctypes.CDLL(None, use_errno=True).prctl(1, death_signal, 0, 0, 0)

    return setup


def _owned_tempdir(prefix: str, ids: tuple[int, int] | None) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if ids is not None:
        os.chown(folder, *ids)
    return folder


def _wait(check, what: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise ServiceUnavailable(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            check()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise ServiceUnavailable(
                    f"{what} not ready after {timeout} s:\n{_tail(log)}"
                ) from None
            time.sleep(0.1)


def _tail(log: Path, n: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


class _Server:
    """One child process in its own session, stopped by its pid; its folder deleted after."""

    proc: subprocess.Popen[bytes] | None = None
    folder: Path | None = None
    stop_signal = signal.SIGTERM

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def pg_bindir() -> tuple[Path, bool]:
    """The folder of ``initdb``/``postgres`` and whether it ships pgvector.

    The ``pgserver`` wheel (test extra) first: PostgreSQL 16 with pgvector. Else the machine's
    binaries (``pg_config --bindir``, Debian's ``/usr/lib/postgresql/<v>/bin``).
    """
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
        if (root / "bin" / "postgres").exists():
            return root / "bin", True
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for c in candidates:
        if (c / "postgres").exists() and (c / "initdb").exists():
            share = subprocess.run([str(c / "pg_config"), "--sharedir"], capture_output=True)
            ext = Path(share.stdout.decode().strip()) / "extension" / "vector.control"
            return c, ext.exists()
    raise ServiceUnavailable(
        "no PostgreSQL binaries: install the test extra (pip install -e '.[test]', brings "
        "pgserver) or Debian's postgresql package"
    )


def _runs_as(ids: tuple[int, int], binary: Path) -> bool:
    """Whether the user ``ids`` can run ``binary`` (every folder above it searchable)."""
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, timeout=30,
            preexec_fn=_preexec(ids, signal.SIGKILL),
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0


class PostgresServer(_Server):
    """``initdb`` + ``postgres`` in a temp folder on a free loopback port, trust auth."""

    stop_signal = signal.SIGINT  # PostgreSQL's "fast" shutdown

    def __init__(self) -> None:
        self.bindir, self.has_pgvector = pg_bindir()
        ids = _run_as()
        self.folder = _owned_tempdir("sonicmap-test-pg-", ids)
        if ids is not None and not _runs_as(ids, self.bindir / "postgres"):
            # e.g. a checkout under /root: the unprivileged user cannot reach the binaries;
            # a copy of the installation (bin, lib, share and the wheel's bundled libraries:
            # ~35 MB) in the server's folder can
            install = self.folder / "pg" / self.bindir.parent.parent.name / "pginstall"
            shutil.copytree(self.bindir.parent, install, symlinks=True)
            libs = self.bindir.parent.parent.parent / "pgserver.libs"  # the wheel's RPATH
            if libs.is_dir():
                shutil.copytree(libs, install.parent.parent / libs.name, symlinks=True)
            self.bindir = install / "bin"
        data = self.folder / "data"
        log = self.folder / "server.log"
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        init = subprocess.run(
            [str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--no-sync"],
            capture_output=True, env=env, preexec_fn=_preexec(ids, signal.SIGKILL), timeout=120,
        )  # fmt: skip
        if init.returncode != 0:
            self.stop()
            raise ServiceUnavailable("initdb failed: " + init.stderr.decode(errors="replace"))
        self.port = free_port()
        argv = [
            str(self.bindir / "postgres"), "-D", str(data), "-p", str(self.port),
            "-k", str(self.folder), "-c", "listen_addresses=127.0.0.1",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=300", "-c", "shared_buffers=32MB",
        ]  # fmt: skip
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                preexec_fn=_preexec(ids, signal.SIGINT),
            )  # fmt: skip
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        import psycopg

        def check() -> None:
            psycopg.connect(self.admin_url, connect_timeout=2).close()

        try:
            _wait(check, "PostgreSQL", self.proc, log, 60)
        except ServiceUnavailable:
            self.stop()
            raise


class RedisServer(_Server):
    """A ``redis-server`` without persistence in a temp folder on a free loopback port."""

    def __init__(self) -> None:
        # Debian's redis-tools ships the server as redis-check-rdb, a server when named so.
        binary = shutil.which("redis-server") or shutil.which("redis-check-rdb")
        if binary is None:
            raise ServiceUnavailable(
                "redis-server is not installed (Debian: apt-get install redis-tools; "
                "./scripts/test installs it, which needs root)"
            )
        ids = _run_as()
        self.folder = _owned_tempdir("sonicmap-test-redis-", ids)
        self.port = free_port()
        log = self.folder / "redis.log"
        argv = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--databases", "16",
            "--logfile", str(log),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            argv, executable=binary, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            preexec_fn=_preexec(ids, signal.SIGTERM),
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{self.port}"
        import redis

        def check() -> None:
            redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()

        try:
            _wait(check, "redis-server", self.proc, log, 30)
        except ServiceUnavailable:
            self.stop()
            raise


_started: dict[str, _Server] = {}
_failed: dict[str, str] = {}


def _server(kind: str, factory) -> _Server:  # noqa: ANN001
    if kind in _failed:
        raise ServiceUnavailable(_failed[kind])
    if kind not in _started:
        try:
            _started[kind] = factory()
        except ServiceUnavailable as exc:
            _failed[kind] = str(exc)
            raise
    return _started[kind]


def stop_all() -> None:
    """Stop every server this process started (called at session end and at exit)."""
    for kind in list(_started):
        _started.pop(kind).stop()


atexit.register(stop_all)


def owns(kind: str) -> bool:
    """Whether the suite started its own server of ``kind`` (``pg``/``redis``) in this process."""
    return kind in _started


# -- PostgreSQL -------------------------------------------------------------------------------


def pg_admin_url() -> str:
    """Admin URL of the suite's PostgreSQL (``SONICMAP_TEST_PG_URL``, else a throwaway one)."""
    given = os.environ.get(PG_ENV)
    if given:
        return given
    return _server("pg", PostgresServer).admin_url  # type: ignore[attr-defined]


def pg_available() -> bool:
    try:
        from sonicmap.store.db import make_engine

        eng = make_engine(pg_admin_url(), connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
        return True
    except Exception:
        return False


def create_pg_database(admin_url: str | None = None) -> str:
    """Create a fresh, empty database on the suite's PostgreSQL; return its URL."""
    from sonicmap.store.db import make_engine

    admin_url = admin_url or pg_admin_url()
    name = "sonicmap_test_" + uuid.uuid4().hex[:12]
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str, admin_url: str | None = None) -> None:
    from sonicmap.store.db import make_engine

    name = make_url(url).database
    admin = make_engine(admin_url or pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# -- Redis ------------------------------------------------------------------------------------


def redis_base_url() -> str:
    """``redis://host:port`` of the suite's Redis (``SONICMAP_TEST_REDIS_URL``, else its own)."""
    given = os.environ.get(REDIS_ENV)
    if given:
        return given.rstrip("/")
    return _server("redis", RedisServer).url  # type: ignore[attr-defined]


def redis_available() -> bool:
    try:
        import redis

        redis.Redis.from_url(redis_base_url() + "/0", socket_connect_timeout=2).ping()
        return True
    except Exception:
        return False


def allocate_redis_db() -> str:
    """A Redis URL on a database index (1..15) of this session, emptied before use.

    On the suite's own Redis every index is its own; on one given by ``SONICMAP_TEST_REDIS_URL``
    concurrent sessions each take the next index from a counter in db 0 (``INCR``).
    """
    import redis

    base = redis_base_url()
    r0 = redis.Redis.from_url(base + "/0", socket_connect_timeout=3)
    index = int(r0.incr(COUNTER_KEY)) % 15 + 1
    r0.close()
    url = f"{base}/{index}"
    r = redis.Redis.from_url(url, socket_connect_timeout=3)
    r.flushdb()
    r.close()
    return url
