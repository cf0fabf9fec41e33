"""The plugin routes (``/api/similar_tracks`` ...) on a real store with known vectors.

The server's id mapping is written here directly, as a sync would store it (the sync itself,
against a real Subsonic server, is exercised by ``test_plugin_contracts.py``); this module checks
the answers' shapes, ids, ordering, errors and access rules quickly on both database backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from sequencing_library import circle_vectors, fill
from sonicmap.api import create_app
from sonicmap.config import AppConfig, GmmConfig, load_settings
from sonicmap.pipeline import servers as srv
from sonicmap.store.db import Store
from sonicmap.store.schema import ServerArtist, ServerSong

KEY = "k" * 32
N = 40
UNMAPPED = (5, 6)  # tracks the server does not have


def _song(i: int) -> str:
    return f"{i:032x}"[::-1]  # 32-hex ids (Jellyfin-like), never equal to a sonicmap id


def _config(tmp_path: Path, **env: str) -> AppConfig:
    base = {"SONICMAP_DATA_DIR": str(tmp_path), "SONICMAP_API_KEY": KEY}
    base.update({f"SONICMAP_{k.upper()}": v for k, v in env.items()})
    return AppConfig(settings=load_settings(base), gmm=GmmConfig())


@pytest.fixture
def library(store: Store) -> dict:
    artist_of = [i // 4 for i in range(N)]  # 10 artists x 4 tracks
    ids = fill(store, circle_vectors(N), artist_of=artist_of, album_of=artist_of)
    out = {"ids": ids, "songs": {}, "servers": {}}
    for name, prefix in (("navi", ""), ("other", "x")):
        info = srv.add_server(
            store,
            name=name,
            kind="subsonic",
            url="http://127.0.0.1:1",
            username="u",
            secret={"type": "password", "source": "env", "ref": "PW"},
        )
        songs = {}
        with store.session() as ses:
            for i, tid in enumerate(ids):
                if i in UNMAPPED:
                    continue
                sid = prefix + _song(i)
                songs[tid] = sid
                ses.add(
                    ServerSong(
                        server_id=info.id,
                        server_song_id=sid,
                        server_artist_id=f"{prefix}ar-{artist_of[i]}",
                        track_id=tid,
                        method="path",
                        generation=1,
                    )
                )
            from sonicmap.store.schema import Track

            for a in sorted(set(artist_of)):
                aid = ses.get(Track, ids[4 * a]).artist_id
                ses.add(
                    ServerArtist(
                        server_id=info.id,
                        server_artist_id=f"{prefix}ar-{a}",
                        name=f"Artist {a}",
                        artist_id=aid,
                        generation=1,
                    )
                )
        out["songs"][name] = songs
    return out


@pytest.fixture
def client_for(store: Store, tmp_path: Path) -> Iterator:
    clients = []

    def make(*, hot: bool = True, **env: str) -> TestClient:
        app = create_app(_config(tmp_path, **env), store=store, hot_plugin_routes=hot)
        c = TestClient(app, raise_server_exceptions=False)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


AUTH = {"Authorization": f"Bearer {KEY}"}


def test_similar_tracks_answers_in_the_servers_ids(library, client_for) -> None:
    c = client_for(compat_server="navi")
    songs = library["songs"]["navi"]
    seed = songs[library["ids"][10]]
    r = c.get("/api/similar_tracks", params={"item_id": seed, "n": 8}, headers=AUTH)
    assert r.status_code == 200
    rows = r.json()
    assert isinstance(rows, list) and len(rows) == 8
    own = set(songs.values())
    for row in rows:
        assert set(row) >= {"item_id", "title", "author", "album", "album_artist", "distance"}
        assert isinstance(row["item_id"], str) and row["item_id"] in own
        assert isinstance(row["distance"], float) and 0.0 <= row["distance"] <= 2.0
        assert all(isinstance(row[k], str) for k in ("title", "author", "album", "album_artist"))
    assert seed not in {row["item_id"] for row in rows}
    d = [row["distance"] for row in rows]
    assert d == sorted(d)
    # the nearest neighbours on the circle are the adjacent tracks (4 per artist: capped at 3)
    near = {songs[library["ids"][i]] for i in (9, 11)}
    assert near <= {row["item_id"] for row in rows[:3]}
    assert (
        max(sum(row["author"] == a for row in rows) for a in {row["author"] for row in rows}) <= 3
    )


def test_unmapped_tracks_never_appear_and_distance_is_one_minus_cosine(library, client_for):
    c = client_for(compat_server="navi")
    ids = library["ids"]
    seed = library["songs"]["navi"][ids[4]]  # neighbours 5 and 6 are not on the server
    rows = c.get(
        "/api/similar_tracks",
        params={"item_id": seed, "n": 5, "eliminate_duplicates": "false"},
        headers=AUTH,
    ).json()
    back = {v: k for k, v in library["songs"]["navi"].items()}
    got = [back[r["item_id"]] for r in rows]
    assert ids[5] not in got and ids[6] not in got and len(got) == 5
    v = circle_vectors(N)
    for r, tid in zip(rows, got, strict=True):
        cos = float(v[4] @ v[ids.index(tid)]) / (
            np.linalg.norm(v[4]) * np.linalg.norm(v[ids.index(tid)])
        )
        assert r["distance"] == pytest.approx(1 - cos, abs=1e-4)


def test_unknown_and_own_ids_are_404_json(library, client_for) -> None:
    c = client_for(compat_server="navi")
    own_id = str(library["ids"][3])  # a sonicmap track id is not a server song id
    for item in (own_id, "nope", library["songs"]["other"][library["ids"][3]]):
        r = c.get("/api/similar_tracks", params={"item_id": item}, headers=AUTH)
        assert r.status_code == 404
        assert isinstance(r.json()["error"], str)
    r = c.get("/api/similar_tracks", headers=AUTH)
    assert r.status_code == 400 and "item_id" in r.json()["error"]


def test_token_chooses_the_server_and_access_rules(library, client_for) -> None:
    ids = library["ids"]
    c = client_for(compat_tokens="navi=tok-navi,other=tok-other")
    # two servers, no default: the API key alone cannot say which ids to speak
    r = c.get("/api/similar_tracks", params={"item_id": "x"}, headers=AUTH)
    assert r.status_code == 503 and "SONICMAP_COMPAT_SERVER" in r.json()["error"]
    other_seed = library["songs"]["other"][ids[20]]
    rows = c.get(
        "/api/similar_tracks",
        params={"item_id": other_seed, "n": 3},
        headers={"Authorization": "Bearer tok-other"},
    ).json()
    assert all(r["item_id"].startswith("x") for r in rows) and len(rows) == 3
    # the navi token does not resolve other's ids
    r = c.get(
        "/api/similar_tracks",
        params={"item_id": other_seed},
        headers={"Authorization": "Bearer tok-navi"},
    )
    assert r.status_code == 404
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
        r = c.get("/api/similar_tracks", params={"item_id": other_seed}, headers=headers)
        assert r.status_code == 401 and isinstance(r.json()["error"], str)
        assert "tok-" not in r.text and KEY not in r.text
    assert c.get("/api/health").json() == {"status": "ok"}  # always open
    assert c.get("/").status_code == 200  # Jellyfin's health probe


def test_open_access_is_opt_in_and_limited_to_listed_addresses(library, client_for) -> None:
    seed = library["songs"]["navi"][library["ids"][1]]
    c = client_for(compat_server="navi", compat_open="true")
    assert c.get("/api/similar_tracks", params={"item_id": seed}).status_code == 200
    c = client_for(compat_server="navi", compat_open="true", compat_allow_from="10.1.2.0/24")
    r = c.get("/api/similar_tracks", params={"item_id": seed})  # TestClient comes from "testclient"
    assert r.status_code == 403 and "SONICMAP_COMPAT_ALLOW_FROM" in r.json()["error"]
    # a wrong token is refused even when open
    r = c.get(
        "/api/similar_tracks", params={"item_id": seed}, headers={"Authorization": "Bearer x"}
    )
    assert r.status_code == 401


def test_find_path_ends_length_and_errors(library, client_for) -> None:
    c = client_for(compat_server="navi")
    songs, ids = library["songs"]["navi"], library["ids"]
    a, b = songs[ids[0]], songs[ids[30]]
    r = c.get(
        "/api/find_path",
        params={"start_song_id": a, "end_song_id": b, "max_steps": 8, "path_fix_size": "false"},
        headers=AUTH,
    )
    assert r.status_code == 200
    body = r.json()
    path = body["path"]
    assert path[0]["item_id"] == a and path[-1]["item_id"] == b
    assert 2 <= len(path) <= 8 and len({p["item_id"] for p in path}) == len(path)
    assert all(isinstance(p["item_id"], str) for p in path)
    assert isinstance(body["total_distance"], float) and body["total_distance"] > 0
    assert path[0]["distance"] == pytest.approx(0.0, abs=1e-6)
    cases = [
        ({"start_song_id": a}, 400),
        ({"start_song_id": a, "end_song_id": a}, 400),
        ({"start_song_id": a, "end_song_id": "unknown"}, 404),
    ]
    for params, status in cases:
        r = c.get("/api/find_path", params=params, headers=AUTH)
        assert r.status_code == status and isinstance(r.json()["error"], str)
    # a bad max_steps falls back to 25, as AudioMuse-AI reads it
    r = c.get(
        "/api/find_path",
        params={"start_song_id": a, "end_song_id": b, "max_steps": "many"},
        headers=AUTH,
    )
    assert r.status_code == 200 and len(r.json()["path"]) == 25


def test_similar_artists_by_name_or_server_id(library, client_for) -> None:
    c = client_for(compat_server="navi")
    by_id = c.get("/api/similar_artists", params={"artist": "ar-3", "n": 3}, headers=AUTH).json()
    by_name = c.get(
        "/api/similar_artists", params={"artist": "Artist 3", "n": 3}, headers=AUTH
    ).json()
    assert by_id == by_name and len(by_id) == 3
    assert {r["artist_id"] for r in by_id[:2]} == {"ar-2", "ar-4"}  # neighbours on the circle
    assert all(isinstance(r["artist_id"], str) and r["artist"] for r in by_id)
    div = [r["divergence"] for r in by_id]
    assert div == sorted(div)
    comp = c.get(
        "/api/similar_artists",
        params={"artist": "ar-3", "n": 2, "include_component_matches": "true"},
        headers=AUTH,
    ).json()
    songs = set(library["songs"]["navi"].values())
    for row in comp:
        m = row["component_matches"][0]
        for key in ("artist1_representative_songs", "artist2_representative_songs"):
            assert m[key] and all(s["item_id"] in songs for s in m[key])
    r = c.get("/api/similar_artists", params={"artist": "Nobody"}, headers=AUTH)
    assert r.status_code == 404 and "Nobody" in r.json()["error"]
    assert c.get("/api/similar_artists", headers=AUTH).status_code == 400


def test_alchemy_search_and_active_tasks(library, client_for) -> None:
    c = client_for(compat_server="navi")
    songs, ids = library["songs"]["navi"], library["ids"]
    body = {
        "items": [
            {"id": songs[ids[12]], "op": "ADD", "type": "song"},
            {"id": songs[ids[13]], "op": "ADD", "type": "song"},
            {"id": songs[ids[30]], "op": "SUBTRACT", "type": "song"},
        ],
        "n": 6,
    }
    r = c.post("/api/alchemy", json=body, headers=AUTH)
    assert r.status_code == 200
    out = r.json()
    assert len(out["results"]) == 6 and isinstance(out["filtered_out"], list)
    got = {x["item_id"] for x in out["results"]}
    assert not got & {songs[ids[12]], songs[ids[13]], songs[ids[30]]}
    assert all(x["item_id"] in set(songs.values()) for x in out["results"])
    bad = c.post("/api/alchemy", json={"items": [{"id": "x", "op": "SUBTRACT"}]}, headers=AUTH)
    assert bad.status_code == 400 and bad.json() == {"error": "Invalid request"}
    found = c.get("/api/search_tracks", params={"search_query": "song 17"}, headers=AUTH).json()
    assert [(x["title"], x["author"]) for x in found] == [("Song 17", "Artist 4")]
    by_artist = c.get("/api/search_tracks", params={"artist": "Artist 9"}, headers=AUTH).json()
    assert {x["title"] for x in by_artist if x["author"] == "Artist 9"} == {
        f"Song {i}" for i in range(36, 40)
    }
    assert all("9" in x["title"] + x["author"] for x in by_artist)
    assert c.get("/api/search_tracks", params={"search_query": ""}, headers=AUTH).json() == []
    assert c.get("/api/active_tasks", headers=AUTH).json() == {}


def test_other_api_paths_answer_json_errors(library, client_for) -> None:
    c = client_for(compat_server="navi")
    for method, path in (
        ("GET", "/api/sonic_fingerprint/generate"),
        ("POST", "/api/analysis/start"),
        ("GET", "/api/similar_tracks/extra"),
    ):
        r = c.request(method, path, headers=AUTH)
        assert 400 <= r.status_code < 500
        assert r.headers["content-type"].startswith("application/json")
        assert isinstance(r.json()["error"], str)
    r = c.post("/api/similar_tracks", headers=AUTH)
    assert r.status_code == 405 and isinstance(r.json()["error"], str)
    # sonicmap's own API keeps its error object
    r = c.get("/api/v1/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    # a plugin URL configured with a trailing slash
    assert c.get("http://testserver//api/health").json() == {"status": "ok"}


def test_memory_snapshot_answers_like_the_database(library, client_for, store) -> None:
    from sonicmap.api.compat import answers
    from sonicmap.api.compat.ids import ServerIds, choose_server

    c = client_for(compat_server="navi")
    songs, ids = library["songs"]["navi"], library["ids"]
    direct = ServerIds(store, choose_server(store, "navi"))  # no snapshot: the database
    assert c.app.state.compat_snapshot.refresh_now() is not None
    for i in (0, 4, 17, 33):
        r = c.get("/api/similar_tracks", params={"item_id": songs[ids[i]], "n": 7}, headers=AUTH)
        assert r.headers["x-sonicmap-answered-from"] == "memory"
        want = answers.similar_tracks(direct, songs[ids[i]], 7)
        assert [x["item_id"] for x in r.json()] == [x["item_id"] for x in want]
        assert [x["distance"] for x in r.json()] == pytest.approx(
            [x["distance"] for x in want], abs=1e-5
        )
    a, b = songs[ids[1]], songs[ids[38]]
    r = c.get(
        "/api/find_path",
        params={"start_song_id": a, "end_song_id": b, "max_steps": 9},
        headers=AUTH,
    )
    assert r.headers["x-sonicmap-answered-from"] == "memory"
    path = r.json()["path"]
    assert path[0]["item_id"] == a and path[-1]["item_id"] == b and len(path) == 9
    assert not {p["item_id"] for p in path} - set(songs.values())
    # a new sync of the server is seen: its songs are re-read from the mapping
    with store.session() as ses:
        ses.query(ServerSong).filter(ServerSong.server_song_id == songs[ids[2]]).delete()
        from sonicmap.store.schema import Server

        ses.query(Server).filter(Server.name == "navi").update({"sync_generation": 2})
    c.app.state.compat_snapshot.refresh_now()
    r = c.get("/api/similar_tracks", params={"item_id": songs[ids[1]], "n": 5}, headers=AUTH)
    assert songs[ids[2]] not in {x["item_id"] for x in r.json()}


def test_hot_routes_answer_byte_for_byte_like_the_routes(library, client_for, monkeypatch) -> None:
    """In front of the framework, similar_tracks and find_path give the routes' exact answers
    (body and headers) from memory; every other case still reaches the routes."""
    from sonicmap.api.compat import routes

    songs, ids = library["songs"]["navi"], library["ids"]
    hot, plain = client_for(compat_server="navi"), client_for(compat_server="navi", hot=False)
    a, b = songs[ids[1]], songs[ids[30]]
    requests = [
        f"/api/similar_tracks?item_id={a}",
        f"/api/similar_tracks?item_id={b}&n=12&eliminate_duplicates=false",
        f"/api/similar_tracks?item_id={a}&n=x&radius_similarity=true&item_id={b}",
        f"http://testserver//api/similar_tracks?item_id={b}&n=500",
        f"/api/find_path?start_song_id={a}&end_song_id={b}",
        f"/api/find_path?start_song_id={b}&end_song_id={a}&max_steps=7&path_fix_size=false",
        f"/api/find_path?start_song_id={a}&end_song_id={b}&max_steps=1",
    ]
    for c in (hot, plain):
        assert c.app.state.compat_snapshot.refresh_now() is not None
        c.get(requests[0], headers=AUTH)  # checks the schema, loads the server's mapping
    for path in requests:
        got, want = hot.get(path, headers=AUTH), plain.get(path, headers=AUTH)
        assert got.status_code == want.status_code == 200, path
        assert got.content == want.content, path
        assert got.headers.items() == want.headers.items(), path
        assert got.headers["x-sonicmap-answered-from"] == "memory"

    def no_route(*args: object) -> None:
        raise AssertionError("the route was called")

    monkeypatch.setattr(routes, "_answer", no_route)
    for path in requests:  # answered in front of the routes
        assert hot.get(path, headers=AUTH).status_code == 200, path
    # errors, refusals and bodies are the routes' own (here: the patched route's 500)
    for path, headers in (
        (f"/api/similar_tracks?item_id={a}", {"Authorization": "Bearer wrong"}),
        ("/api/similar_tracks?item_id=unknown", AUTH),
        (f"/api/find_path?start_song_id={a}&end_song_id={a}", AUTH),
        (f"/api/find_path?start_song_id={a}", AUTH),
        (f"/api/similar_tracks?item_id={a}", {**AUTH, "Content-Length": "2"}),
    ):
        assert hot.get(path, headers=headers).status_code == 500, path
    r = hot.get("/api/similar_tracks?n=3", headers=AUTH)  # checked by the route itself
    assert r.status_code == 400 and isinstance(r.json()["error"], str)
