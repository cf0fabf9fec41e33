"""Mutating gmm endpoints, task status, and 503/500 behaviour."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from apitest import API, KEY, make_config
from sqlalchemy import select

from sonicmap.api import create_app
from sonicmap.store import schema as db

AUTH = {"X-API-Key": KEY}


@pytest.fixture
def client(client_factory, seeded):  # noqa: ANN001, ANN201
    return client_factory(api_key=KEY)


def test_train_is_coalesced_while_one_is_queued(client, fake_queue) -> None:
    first = client.post(f"{API}/gmm/train", json={"n_components": 4}, headers=AUTH)
    assert first.status_code == 202 and first.json()["status"] == "queued"
    again = client.post(f"{API}/gmm/train", headers=AUTH)
    assert again.status_code == 202
    assert again.json() == {
        "task_id": first.json()["task_id"],
        "task": "train_gmm",
        "status": "coalesced",
    }
    assert fake_queue.sent == [
        ("train_gmm", {"n_components": 4, "force_refresh": False, "reason": "manual"})
    ]
    r = client.post(f"{API}/gmm/train", json={"n_components": 1}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["field"] == "n_components"


def test_maintenance_tasks_are_queued(client, fake_queue) -> None:
    a = client.post(f"{API}/gmm/stability-check", headers=AUTH)
    b = client.post(f"{API}/gmm/cleanup", headers=AUTH)
    assert a.status_code == b.status_code == 202
    assert [t for t, _ in fake_queue.sent] == ["check_cluster_stability", "cleanup_old_models"]
    st = client.get(f"{API}/tasks/{a.json()['task_id']}").json()
    assert st["state"] == "PENDING" and st["ready"] is False


def test_deleting_the_active_model_is_409(client, seeded, monkeypatch) -> None:
    deleted = []
    fake = SimpleNamespace(delete_model=lambda store, mid: deleted.append(mid))
    monkeypatch.setattr("sonicmap.api.routers.gmm._clustering", lambda: fake)
    r = client.delete(f"{API}/gmm/models/{seeded['active_model']}", headers=AUTH)
    assert r.status_code == 409 and "active" in r.json()["error"]["message"]
    assert deleted == []
    r = client.delete(f"{API}/gmm/models/{seeded['archived_model']}", headers=AUTH)
    assert r.status_code == 200 and r.json() == {"id": seeded["archived_model"], "deleted": True}
    assert deleted == [seeded["archived_model"]]
    assert client.delete(f"{API}/gmm/models/999", headers=AUTH).status_code == 404


def test_activate_a_failed_model_is_409(client, sqlite_store, monkeypatch) -> None:
    with sqlite_store.session() as s:
        m = db.GmmModel(status="failed", format_version=1, trigger="manual", error="boom")
        s.add(m)
        s.flush()
        mid = m.id
    r = client.post(f"{API}/gmm/models/{mid}/activate", headers=AUTH)
    assert r.status_code == 409 and "failed" in r.json()["error"]["message"]


def test_activate_calls_the_pipeline_and_returns_the_model(
    client, seeded, sqlite_store, monkeypatch
) -> None:
    def activate(store, mid):  # noqa: ANN001, ANN202
        with store.session() as s:
            for m in s.scalars(select(db.GmmModel)):
                m.active_flag = None
                m.status = "archived"
            s.flush()
            m = s.get(db.GmmModel, mid)
            m.status, m.active_flag = "active", True

    monkeypatch.setattr(
        "sonicmap.api.routers.gmm._clustering", lambda: SimpleNamespace(activate_model=activate)
    )
    r = client.post(f"{API}/gmm/models/{seeded['archived_model']}/activate", headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert client.get(f"{API}/gmm/status").json()["active_model"]["id"] == seeded["archived_model"]


def test_broker_down_is_503_with_a_clear_message(client, fake_queue) -> None:
    fake_queue.down = True
    r = client.post(f"{API}/gmm/train", headers=AUTH)
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "broker_unavailable"
    ready = client.get(f"{API}/ready")
    assert ready.status_code == 503 and "broker" in ready.json()["error"]["message"]


def test_embedded_mode_task_endpoints_explain_the_broker(client_factory, tmp_path) -> None:
    from sonicmap.store.db import open_store

    cfg = make_config(tmp_path, api_key=KEY)
    store = open_store(f"sqlite:///{tmp_path / 'e.db'}")
    from fastapi.testclient import TestClient

    with TestClient(create_app(cfg, store=store)) as c:
        r = c.post(f"{API}/gmm/cleanup", headers=AUTH)
        assert r.status_code == 503 and "SONICMAP_BROKER_URL" in r.json()["error"]["message"]
        assert c.get(f"{API}/ready").json()["mode"] == "embedded"
    store.dispose()


def test_database_down_is_503_and_health_stays_up(tmp_path, fake_queue) -> None:
    from fastapi.testclient import TestClient

    cfg = make_config(tmp_path, database_url="postgresql://postgres@127.0.0.1:9/nowhere")
    with TestClient(create_app(cfg, queue=fake_queue), raise_server_exceptions=False) as c:
        assert c.get(f"{API}/health").status_code == 200
        for path in ("/artists", "/gmm/status", "/jobs"):
            r = c.get(API + path)
            assert r.status_code == 503, r.text
            err = r.json()["error"]
            assert (
                err["code"] == "database_unavailable" and "SONICMAP_DATABASE_URL" in err["message"]
            )
            assert "Traceback" not in r.text
        ready = c.get(f"{API}/ready")
        assert ready.status_code == 503 and ready.json()["error"]["message"].startswith("database")


def test_unmigrated_database_is_503_schema_out_of_date(tmp_path, fake_queue) -> None:
    from fastapi.testclient import TestClient

    from sonicmap.store.db import Store, make_engine

    store = Store(make_engine(f"sqlite:///{tmp_path / 'empty.db'}"))
    with TestClient(create_app(make_config(tmp_path), store=store, queue=fake_queue)) as c:
        r = c.get(f"{API}/artists")
        assert r.status_code == 503 and r.json()["error"]["code"] == "schema_out_of_date"
        assert "sonicmap db upgrade" in r.json()["error"]["message"]
    store.dispose()


def test_a_bug_is_500_without_a_stack_trace(client_factory, seeded) -> None:
    c = client_factory()

    @c.app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals at line 42")

    r = c.get("/boom")
    assert r.status_code == 500
    assert r.json() == {
        "error": {
            "code": "internal_error",
            "message": "internal error; the server log has the details",
        }
    }
    assert "secret" not in r.text


def test_wrong_method_is_405_in_the_error_shape(client) -> None:
    r = client.put(f"{API}/gmm/train", headers=AUTH)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
