"""GET /tracks/{id}/path and POST /mix: same JSON as the pipeline, 404 naming ids, 422 on count."""

from __future__ import annotations

import pytest
from apitest import API

from sequencing_library import circle_vectors, fill
from sonicmap.pipeline.paths import sonic_mix, sonic_path


@pytest.fixture
def lib(client_factory, sqlite_store):
    ids = fill(sqlite_store, circle_vectors(30), artist_of=[i // 3 for i in range(30)])
    return client_factory(), sqlite_store, ids


def test_path_equals_the_pipeline(lib) -> None:
    c, store, ids = lib
    r = c.get(f"{API}/tracks/{ids[0]}/path", params={"to": ids[29], "count": 7})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == sonic_path(store, ids[0], ids[29], 7).to_dict()
    got = [t["id"] for t in body["tracks"]]
    assert got[0] == ids[0] and got[-1] == ids[29] and len(set(got)) == 7
    assert all(0 <= t["similarity"] <= 1 for t in body["tracks"])
    r = c.get(f"{API}/tracks/{ids[0]}/path", params={"to": ids[29], "max_per_artist": 1})
    assert len({t["artist_id"] for t in r.json()["tracks"]}) == len(r.json()["tracks"])


def test_path_errors(lib) -> None:
    c, _, ids = lib
    r = c.get(f"{API}/tracks/{ids[0]}/path", params={"to": 987654})
    assert r.status_code == 404 and "987654" in r.json()["error"]["message"]
    r = c.get(f"{API}/tracks/876543/path", params={"to": ids[0]})
    assert r.status_code == 404 and "876543" in r.json()["error"]["message"]
    for bad in (1, 501):
        r = c.get(f"{API}/tracks/{ids[0]}/path", params={"to": ids[1], "count": bad})
        assert r.status_code == 422 and r.json()["error"]["field"] == "count"
    r = c.get(f"{API}/tracks/{ids[0]}/path")
    assert r.status_code == 422


def test_mix_equals_the_pipeline_and_errors(lib) -> None:
    c, store, ids = lib
    body = {
        "seeds": [{"kind": "track", "id": ids[10]}, {"kind": "artist", "id": 9}],
        "count": 8,
        "exclude": [ids[11], 999999],
        "max_per_artist": None,
    }
    r = c.post(f"{API}/mix", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    want = sonic_mix(
        store, [ids[10]], artists=[9], count=8, exclude=[ids[11], 999999], max_per_artist=None
    )
    assert out == want.to_dict()
    got = [t["id"] for t in out["tracks"]]
    assert len(got) == 8 and ids[10] not in got and ids[11] not in got
    assert out["max_per_album"] == 2  # default cap
    r = c.post(f"{API}/mix", json={"seeds": [{"kind": "track", "id": 4242}]})
    assert r.status_code == 404 and "4242" in r.json()["error"]["message"]
    r = c.post(f"{API}/mix", json={"seeds": [{"kind": "track", "id": ids[0]}], "count": 0})
    assert r.status_code == 422
    r = c.post(f"{API}/mix", json={"seeds": []})
    assert r.status_code == 422
    r = c.post(f"{API}/mix", json={"seeds": [{"kind": "cluster", "id": 1}]})
    assert r.status_code == 404  # no active model


def test_openapi_documents_both(lib) -> None:
    c, _, _ = lib
    spec = c.get(f"{API}/openapi.json").json()
    path = spec["paths"]["/api/v1/tracks/{track_id}/path"]["get"]
    assert {"200", "404", "422"} <= set(path["responses"])
    assert spec["paths"]["/api/v1/mix"]["post"]["requestBody"]
    assert "similarity" in spec["components"]["schemas"]["PlaylistTrackOut"]["properties"]
    assert "similarity" in spec["components"]["schemas"]["SimilarTrack"]["properties"]
