"""Read endpoints on a seeded SQLite store: pagination, search, details, 404s, clusters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from apitest import API


@pytest.fixture
def client(client_factory, seeded):  # noqa: ANN001, ANN201
    return client_factory()


def test_artists_paginate_and_count_tracks(client, seeded: dict[str, Any]) -> None:
    r = client.get(f"{API}/artists", params={"limit": 4, "offset": 0})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 7 and body["limit"] == 4 and len(body["items"]) == 4
    r2 = client.get(f"{API}/artists", params={"limit": 4, "offset": 4}).json()
    names = [a["name"] for a in body["items"] + r2["items"]]
    assert len(set(names)) == 7
    assert {a["n_tracks"] for a in body["items"] if a["name"].startswith("Artist")} == {2}


def test_artist_search_escapes_like_wildcards(client) -> None:
    r = client.get(f"{API}/artists", params={"q": "100%"}).json()
    assert [a["name"] for a in r["items"]] == ["Artist 5 100%"]
    assert client.get(f"{API}/artists", params={"q": "artist 3"}).json()["total"] == 1
    assert client.get(f"{API}/artists", params={"q": "_"}).json()["total"] == 0


def test_artist_detail_has_descriptors_and_cluster(client, seeded) -> None:
    aid = seeded["artists"][0]
    d = client.get(f"{API}/artists/{aid}").json()
    assert d["n_tracks"] == 2 and d["n_albums"] == 1
    # duration-weighted: 100 s at 100 bpm, 200 s at 120 bpm → 113.33
    assert d["descriptors"]["bpm"] == pytest.approx((100 * 100 + 200 * 120) / 300)
    assert "key" not in d["descriptors"] and "truncated" not in d["descriptors"]
    assert d["cluster"] == {
        "model_id": seeded["active_model"],
        "cluster_id": 10,
        "label": "fast · loud",
        "probability": pytest.approx(0.9),
    }
    assert d["embedding"]["n_tracks"] == 2
    lonely = client.get(f"{API}/artists/{seeded['lonely']}").json()
    assert lonely["cluster"] is None and lonely["embedding"] is None and lonely["descriptors"] == {}


def test_artist_cluster_lists_every_probability(client, seeded) -> None:
    aid = seeded["artists"][4]
    d = client.get(f"{API}/artists/{aid}/cluster").json()
    assert d["cluster_id"] == 11 and d["label"] == "slow · quiet"
    assert [p["cluster_id"] for p in d["probabilities"]] == [11, 10]
    assert sum(p["probability"] for p in d["probabilities"]) == pytest.approx(1.0)
    r = client.get(f"{API}/artists/{seeded['lonely']}/cluster")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_assigned"


def test_tracks_list_search_and_detail(client, seeded) -> None:
    r = client.get(f"{API}/tracks", params={"q": "a3/"}).json()
    assert r["total"] == 2 and all("/a3/" in t["path"] for t in r["items"])
    assert client.get(f"{API}/tracks", params={"q": "Artist 2"}).json()["total"] == 2
    aid = seeded["artists"][1]
    assert client.get(f"{API}/tracks", params={"artist_id": aid}).json()["total"] == 2
    tid = seeded["tracks"][0]
    d = client.get(f"{API}/tracks/{tid}").json()
    assert d["features"]["bpm"] == 100.0 and d["feature_sources"] == {"bpm": "signal"}
    assert d["artist"] == "Artist 0" and d["album"] == "Album 0" and d["has_embedding"] is True
    assert d["cluster"]["cluster_id"] == 10


@pytest.mark.parametrize(
    "path",
    [
        "/artists/999",
        "/tracks/999",
        "/scans/999",
        "/gmm/models/999",
        "/gmm/clusters/999",
        "/artists/999/similar",
        "/tracks/999/similar",
        "/artists/999/cluster",
    ],
)
def test_unknown_ids_are_404_in_the_error_shape(client, path: str) -> None:
    r = client.get(API + path)
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] in ("not_found",) and "999" in err["message"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/artists?limit=0", "limit"),
        ("/artists?limit=501", "limit"),
        ("/tracks?offset=-1", "offset"),
        ("/artists?limit=abc", "limit"),
        ("/artists/abc", "artist_id"),
        ("/artists/0", "artist_id"),
        ("/tracks/1/similar?max_per_album=0", "max_per_album"),
        ("/gmm/clusters?model_id=-3", "model_id"),
        ("/tasks/bad%20id", "task_id"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(client, path: str, field: str) -> None:
    r = client.get(API + path)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_parameter" and err["field"] == field
    assert field in err["message"]


def test_scans_list_and_detail_with_failures(client, seeded) -> None:
    items = client.get(f"{API}/scans").json()["items"]
    assert [s["id"] for s in items] == [seeded["scan"]]
    d = client.get(f"{API}/scans/{seeded['scan']}").json()
    assert d["added"] == 12 and d["failed"] == 1
    assert d["failures"] == [{"path": "/music/bad.mp3", "error": "DecodeError: not audio"}]


def test_models_clusters_and_cluster_detail(client, seeded) -> None:
    models = client.get(f"{API}/gmm/models").json()
    assert [m["id"] for m in models["items"]] == [seeded["active_model"], seeded["archived_model"]]
    assert client.get(f"{API}/gmm/models", params={"status": "archived"}).json()["total"] == 1
    detail = client.get(f"{API}/gmm/models/{seeded['active_model']}").json()
    assert [c["id"] for c in detail["clusters"]] == [10, 11] and detail["params"] == {"seed": 0}
    cl = client.get(f"{API}/gmm/clusters").json()
    assert cl["items"][0]["artists"] == ["Artist 0", "Artist 1"] and cl["items"][1]["artists"] == []
    assert cl["model_id"] == seeded["active_model"] and [c["label"] for c in cl["items"]] == [
        "fast · loud",
        "slow · quiet",
    ]
    c = client.get(f"{API}/gmm/clusters/10", params={"limit": 2}).json()
    assert c["members_total"] == 3 and len(c["members"]) == 2
    assert c["profile"]["z"] == {"bpm": 1.2}
    assert c["members"][0]["probability"] >= c["members"][1]["probability"]
    rest = client.get(f"{API}/gmm/clusters/10", params={"limit": 2, "offset": 2}).json()
    assert len(rest["members"]) == 1 and rest["members_total"] == 3
    assert rest["members"][0]["id"] not in {m["id"] for m in c["members"]}
    other = client.get(f"{API}/gmm/clusters", params={"model_id": seeded["archived_model"]}).json()
    assert other["model_id"] == seeded["archived_model"]


def test_status_drift_and_jobs(client, seeded) -> None:
    st = client.get(f"{API}/gmm/status").json()
    assert st["active_model"]["id"] == seeded["active_model"]
    assert st["last_training"]["task_id"] == "abc-1" and st["training_in_progress"] is False
    assert st["last_drift"]["drift"] == pytest.approx(0.05)
    sched = {e["name"]: e for e in st["schedule"]}
    assert set(sched) == {"periodic-gmm-refresh", "check-cluster-stability", "cleanup-old-models"}
    refresh = sched["periodic-gmm-refresh"]
    assert refresh["enabled"] and refresh["schedule"] == "cron sun 03:00 UTC"
    due = datetime.fromisoformat(refresh["next_run_at"])
    assert due > datetime.now(UTC) and due.weekday() == 6 and (due.hour, due.minute) == (3, 0)
    drift = client.get(f"{API}/gmm/drift").json()
    assert drift["total"] == 1 and drift["items"][0]["decision"] == "stable"
    jobs = client.get(f"{API}/jobs", params={"task": "train_gmm"}).json()
    assert jobs["total"] == 1 and jobs["items"][0]["result"] == {"status": "completed"}
    assert client.get(f"{API}/jobs", params={"task": "nope"}).json()["total"] == 0


def test_empty_store_answers_empty_lists_not_errors(client_factory) -> None:
    c = client_factory()
    assert c.get(f"{API}/gmm/clusters").json() == {"model_id": None, "items": []}
    st = c.get(f"{API}/gmm/status").json()
    assert st["active_model"] is None and st["last_drift"] is None
    assert c.get(f"{API}/gmm/clusters/1").json()["error"]["code"] == "no_active_model"


def test_similar_artists_uses_the_pipeline(client_factory, seeded, monkeypatch) -> None:
    """Without the read cache (or when it can't answer) the pipeline answers."""
    from sonicmap.api import similar

    client = client_factory(read_cache=False)

    calls = []

    class FakePipeline:
        @staticmethod
        def similar_artists(store, artist_id, k, membership_weight):  # noqa: ANN001, ANN205
            calls.append((artist_id, k))
            return [
                {"id": seeded["artists"][2], "name": "Artist 2", "score": 0.9, "distance": 0.2},
                {"id": seeded["artists"][3], "name": "Artist 3", "score": 0.5, "distance": 1.0},
            ]

    monkeypatch.setattr(similar, "_pipeline", lambda: FakePipeline)
    aid = seeded["artists"][0]
    r = client.get(f"{API}/artists/{aid}/similar", params={"limit": 2}).json()
    assert calls == [(aid, 2)]
    assert [(i["name"], i["score"]) for i in r["items"]] == [("Artist 2", 0.9), ("Artist 3", 0.5)]
    r = client.get(f"{API}/artists/{seeded['lonely']}/similar")
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_embedding"
