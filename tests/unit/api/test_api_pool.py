"""A request never holds two database connections (else a loaded pool deadlocks).

Routers read with the request's session, then call pipeline functions that open their own
sessions; the request's connection must be given back first. With a pool of exactly one
connection and a 1 s timeout, every endpoint must still answer.
"""

from __future__ import annotations

import pytest
from apitest import API, KEY, FakeQueue, make_config
from fastapi.testclient import TestClient

from sonicmap.api import create_app
from sonicmap.store.db import Store, make_engine


@pytest.fixture
def one_connection_client(sqlite_store, seeded, tmp_path):  # noqa: ANN001, ANN201
    engine = make_engine(
        sqlite_store.engine.url.render_as_string(hide_password=False),
        pool_size=1,
        max_overflow=0,
        pool_timeout=1,
    )
    store = Store(engine)
    app = create_app(make_config(tmp_path, api_key=KEY), store=store, queue=FakeQueue())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, seeded
    store.dispose()


def test_every_read_endpoint_works_with_a_single_connection(one_connection_client) -> None:
    c, ids = one_connection_client
    a, t, m = ids["artists"][0], ids["tracks"][0], ids["active_model"]
    paths = [
        "/ready", "/scans", f"/scans/{ids['scan']}", "/artists", f"/artists/{a}",
        f"/artists/{a}/similar", f"/artists/{a}/cluster", "/tracks", f"/tracks/{t}",
        f"/tracks/{t}/similar?max_per_album=1", "/gmm/status", "/gmm/models", f"/gmm/models/{m}",
        "/gmm/clusters", "/gmm/clusters/10", "/gmm/drift", "/jobs",
    ]  # fmt: skip
    for path in paths:
        r = c.get(API + path)
        assert r.status_code == 200, (path, r.text)


def test_model_activation_and_deletion_with_a_single_connection(one_connection_client) -> None:
    c, ids = one_connection_client
    auth = {"X-API-Key": KEY}
    r = c.post(f"{API}/gmm/models/{ids['archived_model']}/activate", headers=auth)
    assert r.status_code == 200, r.text
    r = c.delete(f"{API}/gmm/models/{ids['active_model']}", headers=auth)
    assert r.status_code == 200, r.text
