"""Model activation and deletion through the API on the real GMM pipeline (SQLite and PG)."""

from __future__ import annotations

import pytest
from apitest import API, KEY, FakeQueue, make_config, seed
from fastapi.testclient import TestClient

from sonicmap.api import create_app

AUTH = {"X-API-Key": KEY}


@pytest.fixture
def client_ids(store, tmp_path):  # noqa: ANN001, ANN201
    ids = seed(store)
    app = create_app(make_config(tmp_path, api_key=KEY), store=store, queue=FakeQueue())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, ids


def test_rollback_then_delete_the_previous_model(client_ids) -> None:
    c, ids = client_ids
    old, cur = ids["archived_model"], ids["active_model"]
    r = c.post(f"{API}/gmm/models/{old}/activate", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    models = {m["id"]: m["status"] for m in c.get(f"{API}/gmm/models").json()["items"]}
    assert models == {old: "active", cur: "archived"}
    assert c.get(f"{API}/artists/{ids['artists'][0]}/cluster").json()["model_id"] == old
    r = c.delete(f"{API}/gmm/models/{old}", headers=AUTH)
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    r = c.delete(f"{API}/gmm/models/{cur}", headers=AUTH)
    assert r.status_code == 200 and r.json() == {"id": cur, "deleted": True}
    assert c.get(f"{API}/gmm/models/{cur}").status_code == 404
    assert c.get(f"{API}/gmm/clusters", params={"model_id": cur}).status_code == 404
