"""Run the containers' exact commands (docker/entrypoint.sh + compose ``command``) as processes.

The environment is the one compose.yaml gives the sonicmap containers, with the container-only
addresses (``postgres``, ``redis``, ``/music``, ``/data``) replaced by a database and a Redis
database index on the suite's own servers (``tests/testservices.py``) and temporary folders.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "compose.yaml"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
_VAR = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


from testservices import (  # noqa: E402, F401  (re-exported for the API / e2e tests)
    allocate_redis_db,
    create_pg_database,
    drop_pg_database,
    free_port,
    pg_available,
    redis_available,
)


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def interpolate(value: Any, env: dict[str, str] | None = None) -> str:
    """Resolve ``${NAME:-default}`` as compose does (from ``env``, else the default)."""
    env = env or {}
    return _VAR.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), str(value))


def container_env(service: str) -> dict[str, str]:
    """The environment compose.yaml gives ``service`` (defaults interpolated)."""
    svc = load_compose()["services"][service]
    return {k: interpolate(v) for k, v in (svc.get("environment") or {}).items()}


def container_command(service: str) -> list[str]:
    return [str(x) for x in load_compose()["services"][service]["command"]]


def local_env(
    service: str,
    *,
    database_url: str,
    broker_url: str,
    music: Path,
    data: Path,
    port: int,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Compose's environment for ``service`` mapped onto this machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONICMAP_")}
    env.update(container_env(service))
    for key, value in env.items():
        if key.startswith("SONICMAP_") and value == "":
            env[key] = ""
    env.update(
        {
            "SONICMAP_DATABASE_URL": database_url,
            "SONICMAP_BROKER_URL": broker_url,
            "SONICMAP_LIBRARY_ROOTS": str(music),
            "SONICMAP_DATA_DIR": str(data),
            "SONICMAP_HOST": "127.0.0.1",
            "SONICMAP_PORT": str(port),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    env.update(extra or {})
    return env


class Service:
    """One started process (own process group), stopped by its pid."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], cwd: Path, log: Path
    ) -> None:
        self.name = name
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 40) -> str:
        self._log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        self._log.close()


def start_service(service: str, env: dict[str, str], cwd: Path, logs: Path) -> Service:
    """``docker/entrypoint.sh <compose command...>`` with ``env``: what the container runs."""
    argv = ["sh", str(ENTRYPOINT), *container_command(service)]
    return Service(service, argv, env, cwd, logs / f"{service}.log")


def wait_http(url: str, svc: Service, *, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not svc.alive():
            raise AssertionError(f"{svc.name} exited early:\n{svc.log_tail()}")
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return r
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"{url} not up after {timeout} s ({last}):\n{svc.log_tail()}")


def wait_task(base: str, task_id: str, *, timeout: float = 90) -> dict[str, Any]:
    """Poll ``GET /tasks/{id}`` until the task is ready; return its status document."""
    deadline = time.monotonic() + timeout
    st: dict[str, Any] = {}
    while time.monotonic() < deadline:
        st = httpx.get(f"{base}/tasks/{task_id}", timeout=5).json()
        if st.get("ready"):
            return st
        time.sleep(0.5)
    raise AssertionError(f"task {task_id} not finished after {timeout} s: {st}")


# -- fixtures (imported by the integration/api and e2e conftests) ------------------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    """This test session's private Redis database (see :func:`allocate_redis_db`)."""
    return allocate_redis_db()


@pytest.fixture
def pg_url():  # noqa: ANN201
    """A fresh database on the suite's PostgreSQL (dropped afterwards)."""
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)
