"""Deployment files: compose.yaml, Dockerfile, .env.example; and the containers' commands run as
plain processes against the machine's PostgreSQL and Redis (the wiring a container would see)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from api_services import (
    COMPOSE,
    ENTRYPOINT,
    ROOT,
    free_port,
    interpolate,
    load_compose,
    local_env,
    start_service,
    wait_http,
    wait_task,
)

from sonicmap.config import Settings

KEY = "wiring-key"


def _env_example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.M))


def test_compose_structure() -> None:
    doc = load_compose()
    services = doc["services"]
    assert {"api", "worker", "beat", "redis", "postgres"} <= set(services)
    assert services["postgres"]["image"].startswith("pgvector/pgvector:pg16")
    assert set(doc["volumes"]) >= {"postgres-data", "redis-data", "sonicmap-data"}
    for name in ("api", "worker"):
        vols = services[name]["volumes"]
        assert any(v.endswith(":/music:ro") for v in vols), f"{name}: music not mounted read-only"
    assert [services[n]["command"] for n in ("api", "worker", "beat")] == [
        ["api"],
        ["worker"],
        ["beat"],
    ]
    # Worker and beat start after the API is healthy, i.e. after its entrypoint migrated.
    for name in ("worker", "beat"):
        assert services[name]["depends_on"]["api"]["condition"] == "service_healthy"
    assert COMPOSE.read_text().startswith("# sonicmap in service mode")


def test_compose_publishes_the_api_on_loopback_unless_opted_in() -> None:
    (port,) = load_compose()["services"]["api"]["ports"]
    assert interpolate(port) == "127.0.0.1:8000:8000"  # default: this host only
    opted = interpolate(port, {"SONICMAP_PUBLISH_ADDRESS": "0.0.0.0"})
    assert opted == "0.0.0.0:8000:8000"
    for name, svc in load_compose()["services"].items():  # nothing else is published
        assert name == "api" or "ports" not in svc, name


def test_env_example_documents_every_variable() -> None:
    from sonicmap.worker.app import WorkerSettings

    names = _env_example_names()
    wanted = {f"SONICMAP_{n.upper()}" for n in Settings.model_fields}
    wanted |= {f"SONICMAP_WORKER_{n.upper()}" for n in WorkerSettings.model_fields}
    assert wanted - names == set()
    code = "\n".join(
        ln for ln in COMPOSE.read_text().splitlines() if not ln.lstrip().startswith("#")
    )
    compose_vars = set(re.findall(r"\$\{(\w+)", code))
    assert compose_vars - names == set(), (
        "compose.yaml uses variables .env.example does not document"
    )
    used_by_entrypoint = set(re.findall(r"\$\{(SONICMAP_\w+)", ENTRYPOINT.read_text()))
    assert used_by_entrypoint - names == set()


def test_dockerfile_is_multistage_nonroot_with_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, flags=re.M)) >= 2
    # the base is a build argument whose default is the official Python image
    assert re.search(r"^ARG BASE_IMAGE=python:\$\{PYTHON_VERSION\}-slim", text, flags=re.M)
    assert len(re.findall(r"^FROM \$\{BASE_IMAGE\}", text, flags=re.M)) >= 2
    user = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert user and user[-1] not in ("root", "0")
    assert "HEALTHCHECK" in text and "/api/v1/health" in text
    assert 'ENTRYPOINT ["sonicmap-entrypoint"]' in text


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_config_accepts_the_file() -> None:
    res = subprocess.run(
        [
            "docker-compose",
            "-f",
            str(COMPOSE),
            "--env-file",
            str(ROOT / ".env.example"),
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr


def test_entrypoint_passes_arguments_without_a_shell_string(tmp_path: Path) -> None:
    out = subprocess.run(
        ["sh", str(ENTRYPOINT), "printf", "%s|", "a b", "$(touch pwned)", ";rm -rf x"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout == "a b|$(touch pwned)|;rm -rf x|"
    assert not (tmp_path / "pwned").exists()


@pytest.mark.integration
@pytest.mark.slow
def test_container_commands_wire_up_on_postgres_and_redis(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """entrypoint api/worker/beat as processes: migrate, serve, consume tasks, run beat."""
    db_url = pg_url
    music, data, logs = tmp_path / "music", tmp_path / "data", tmp_path / "logs"
    for d in (music, data, logs):
        d.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    extra = {"SONICMAP_API_KEY": KEY, "SONICMAP_WORKER_CONCURRENCY": "1"}
    services = []
    try:
        env = local_env(
            "api",
            database_url=db_url,
            broker_url=redis_url,
            music=music,
            data=data,
            port=port,
            extra=extra,
        )
        api = start_service("api", env, data, logs)
        services.append(api)
        wait_http(f"{base}/health", api)
        ready = httpx.get(f"{base}/ready", timeout=10)
        assert ready.status_code == 200, ready.text  # the entrypoint migrated the fresh database
        assert ready.json()["mode"] == "service"
        for name in ("worker", "beat"):
            env = local_env(
                name,
                database_url=db_url,
                broker_url=redis_url,
                music=music,
                data=data,
                port=port,
                extra=extra,
            )
            services.append(start_service(name, env, data, logs))
        r = httpx.post(f"{base}/gmm/cleanup", headers={"X-API-Key": KEY}, timeout=10)
        assert r.status_code == 202, r.text
        st = wait_task(base, r.json()["task_id"])
        assert st["state"] == "SUCCESS", st
        jobs = httpx.get(f"{base}/jobs", params={"task": "cleanup_old_models"}, timeout=5).json()
        assert jobs["total"] >= 1
        for svc in services:
            assert svc.alive(), f"{svc.name} died:\n{svc.log_tail()}"
        beat = services[-1]
        deadline = time.monotonic() + 60
        while "beat: Starting" not in beat.log_tail(200) and time.monotonic() < deadline:
            assert beat.alive(), beat.log_tail()
            time.sleep(0.5)
        assert "beat: Starting" in beat.log_tail(200), beat.log_tail()
    finally:
        for svc in reversed(services):
            svc.stop()
