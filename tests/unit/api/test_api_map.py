"""GET /api/v1/map: every artist of a model with its map position and cluster, gzip on request."""

from __future__ import annotations

import gzip
import json

from apitest import API


def test_map_of_the_active_model(client_factory, seeded) -> None:
    c = client_factory()
    r = c.get(f"{API}/map")
    assert r.status_code == 200
    body = r.json()
    assert body["model_id"] == seeded["active_model"]
    assert [(k["id"], k["label"], k["size"]) for k in body["clusters"]] == [
        (10, "fast · loud", 3),
        (11, "slow · quiet", 3),
    ]
    a = body["artists"]
    assert a["id"] == sorted(seeded["artists"])
    assert len(a["name"]) == len(a["x"]) == len(a["y"]) == len(a["cluster"]) == 6
    assert a["cluster"] == [10, 10, 10, 11, 11, 11]
    assert a["x"][:2] == [-0.5, -0.4] and all(-1 <= v <= 1 for v in a["x"] + a["y"])


def test_map_of_another_model_unknown_model_and_gzip(client_factory, seeded) -> None:
    c = client_factory()
    r = c.get(f"{API}/map", params={"model_id": seeded["archived_model"]})
    assert r.json()["model_id"] == seeded["archived_model"]
    r = c.get(f"{API}/map", params={"model_id": 999})
    assert r.status_code == 404 and "999" in r.json()["error"]["message"]
    r = c.get(f"{API}/map", params={"model_id": 0})
    assert r.status_code == 422 and r.json()["error"]["field"] == "model_id"
    # Large answers are compressed for clients that accept it (httpx decodes transparently).
    raw = c.get(f"{API}/map", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["vary"] == "Accept-Encoding"


def test_map_without_a_model_is_empty(client_factory) -> None:
    body = client_factory().get(f"{API}/map").json()
    assert body == {
        "model_id": None,
        "clusters": [],
        "artists": {"id": [], "name": [], "x": [], "y": [], "cluster": []},
    }


def test_map_gzip_body(client_factory, seeded, monkeypatch) -> None:
    from sonicmap.api.routers import map as map_router

    monkeypatch.setattr(map_router, "GZIP_MIN", 10)
    c = client_factory()
    with c.stream("GET", f"{API}/map", headers={"Accept-Encoding": "gzip"}) as r:
        assert r.headers["content-encoding"] == "gzip"
        raw = b"".join(r.iter_raw())
    assert json.loads(gzip.decompress(raw))["model_id"] == seeded["active_model"]
