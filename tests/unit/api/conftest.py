"""Fixtures for API tests: a seeded SQLite store, a fake task queue and a client factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from apitest import FakeQueue, make_config, seed
from fastapi.testclient import TestClient

from sonicmap.api import create_app
from sonicmap.store.db import Store


@pytest.fixture
def fake_queue() -> FakeQueue:
    return FakeQueue()


@pytest.fixture
def client_factory(
    sqlite_store: Store, fake_queue: FakeQueue, tmp_path: Path
) -> Iterator[Callable[..., TestClient]]:
    """``client_factory(read_cache=True, **env)`` → a TestClient on the seeded-or-empty store."""
    clients: list[TestClient] = []

    def make(*, read_cache: bool = True, **env: str) -> TestClient:
        cfg = make_config(tmp_path, **env)
        app = create_app(cfg, store=sqlite_store, queue=fake_queue, read_cache=read_cache)
        c = TestClient(app, raise_server_exceptions=False)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def seeded(sqlite_store: Store) -> dict[str, Any]:
    """A small library: 6 artists x 2 tracks, features, embeddings, two models, a scan, jobs."""
    return seed(sqlite_store)
