"""Contract tests: each music-server plugin's requests against a running ``sonicmap serve``.

One real Subsonic server (supysonic) is synced four times, directly (Navidrome-like string ids)
and through :mod:`idproxy` for the id forms of the other servers (Jellyfin 32-hex Guids, Ampache
``so-<int>``, Lyrion integers), so every id the plugins send and receive comes from a real sync.
A client per plugin then makes exactly the requests that plugin makes (paths, parameters,
headers, id forms; read from the plugins' source, see ``shared/audiomuse-compat.md`` of the
project) and parses the answers as strictly as it does: a number where a string is expected, an
object where an array is expected, or an id of another server fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from idproxy import IdProxy
from servers_env import PASSWORD, USER, Supysonic, make_cfg
from sqlalchemy import select

from sonicmap.pipeline import servers as srv
from sonicmap.pipeline.serversync import sync_server
from sonicmap.remote import make_client
from sonicmap.store.db import open_store
from sonicmap.store.schema import ServerArtist, ServerSong

pytestmark = pytest.mark.integration

KEY = "plugin-contract-key-0123456789abcdef"
TOKENS = {"navidrome": "tok-nd", "jellyfin": "tok-jf", "lyrion": "tok-ly"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Http:
    """What a plugin's HTTP client does: one request, status + decoded JSON (or raw text)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        timeout: float = 10.0,
    ) -> tuple[int, Any]:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - loopback
                status, raw, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            status, raw, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
        assert ctype.startswith("application/json"), (path, status, ctype, raw[:200])
        return status, json.loads(raw)


@pytest.fixture(scope="module")
def stack(server_library: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    base = tmp_path_factory.mktemp("plugins")
    shutil.copytree(server_library.template, base / "db")
    url = f"sqlite:///{base / 'db' / 'sonicmap.db'}"
    sup = Supysonic(base / "supysonic", server_library.music)
    sup.start()
    proxies = {
        "jellyfin": IdProxy(sup.url, "hex"),
        "ampache": IdProxy(sup.url, "ampache"),
        "lyrion": IdProxy(sup.url, "int"),
    }
    store = open_store(url)
    cfg = make_cfg(server_library.music)
    songs: dict[str, dict[str, int]] = {}
    artists: dict[str, dict[str, int]] = {}
    try:
        for name in ("navidrome", "jellyfin", "ampache", "lyrion"):
            info = srv.add_server(
                store,
                name=name,
                kind="subsonic",
                url=proxies[name].url if name in proxies else sup.url,
                username=USER,
                secret={"type": "password", "source": "env", "ref": "SUP_PASSWORD"},
            )
            client = make_client(info, env={"SUP_PASSWORD": PASSWORD})
            report = sync_server(store, cfg, name, client, use_paths=True)
            assert report.to_dict()["unmatched_server"] == 0
            with store.session() as ses:
                sid = info.id
                songs[name] = dict(
                    ses.execute(
                        select(ServerSong.server_song_id, ServerSong.track_id).where(
                            ServerSong.server_id == sid
                        )
                    ).all()
                )
                artists[name] = dict(
                    ses.execute(
                        select(ServerArtist.server_artist_id, ServerArtist.artist_id).where(
                            ServerArtist.server_id == sid
                        )
                    ).all()
                )
    finally:
        store.dispose()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONICMAP_")}
    env.update(
        SONICMAP_DATABASE_URL=url,
        SONICMAP_DATA_DIR=str(base / "data"),
        SONICMAP_API_KEY=KEY,
        SONICMAP_COMPAT_TOKENS=",".join(f"{s}={t}" for s, t in TOKENS.items()),
        SONICMAP_COMPAT_SERVER="ampache",  # no token: Ampache, from loopback only
        SONICMAP_COMPAT_OPEN="true",
        SONICMAP_COMPAT_ALLOW_FROM="127.0.0.1",
    )
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "sonicmap"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(base / "serve.log", "w"),  # noqa: SIM115 - closed with the process
    )
    http = Http(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if http.call("GET", "/api/health")[0] == 200:
                    break
            except (OSError, AssertionError):
                pass
            assert proc.poll() is None, (base / "serve.log").read_text()
            assert time.monotonic() < deadline, "sonicmap serve did not start"
            time.sleep(0.3)
        yield {"http": http, "songs": songs, "artists": artists, "base": f"http://127.0.0.1:{port}"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        for p in proxies.values():
            p.close()
        sup.stop()


def _str_or_null(row: dict, *keys: str) -> None:
    for k in keys:
        assert k not in row or row[k] is None or isinstance(row[k], str), (k, row)


def _number_or_null(row: dict, key: str) -> None:
    v = row.get(key)
    assert v is None or (isinstance(v, int | float) and not isinstance(v, bool)), (key, row)


def _seeds(stack: dict, server: str, n: int = 3) -> list[str]:
    return sorted(stack["songs"][server])[:n]


# -- Navidrome (AudioMuse-AI-NV-plugin v8, Go encoding/json) ----------------------------------


def _nd_songs(doc: Any) -> list[dict]:
    assert isinstance(doc, list)  # a top-level object fails Go's unmarshal into a slice
    for row in doc:
        assert isinstance(row, dict)
        _str_or_null(row, "item_id", "title", "author", "album")
        _number_or_null(row, "distance")
    return doc


def test_navidrome_plugin(stack: dict) -> None:
    http, own = stack["http"], set(stack["songs"]["navidrome"])
    auth = {"Authorization": f"Bearer {TOKENS['navidrome']}"}
    for seed in _seeds(stack, "navidrome"):
        # GetSimilarSongsByTrack / GetSonicSimilarTracks
        status, doc = http.call(
            "GET",
            "/api/similar_tracks",
            {"item_id": seed, "n": 10, "eliminate_duplicates": "true", "radius_similarity": "true"},
            headers=auth,
        )
        assert status == 200
        rows = _nd_songs(doc)
        assert rows and seed not in {r["item_id"] for r in rows}
        assert {r["item_id"] for r in rows} <= own
        sims = [min(1.0, max(0.0, 1 - r["distance"])) for r in rows]  # normalizeSimilarity
        assert sims == sorted(sims, reverse=True) and 0 < sims[0] <= 1
    # FindSonicPath (count 25 → max_steps 25; apiUrl with a trailing slash → //api)
    a, b = _seeds(stack, "navidrome", 2)
    http_slash = Http(stack["base"] + "/")
    status, doc = http_slash.call(
        "GET",
        "/api/find_path",
        {
            "start_song_id": a,
            "end_song_id": b,
            "count": 25,
            "max_steps": 25,
            "path_fix_size": "false",
            "mood_pct": 100,
        },
        headers=auth,
    )
    assert status == 200 and isinstance(doc, dict)
    path = _nd_songs(doc["path"])
    assert path[0]["item_id"] == a and path[-1]["item_id"] == b and len(path) <= 25
    assert {r["item_id"] for r in path} <= own
    # GetSimilarArtists: the Navidrome artist *id* in `artist`
    artist = sorted(stack["artists"]["navidrome"])[0]
    status, doc = http.call(
        "GET",
        "/api/similar_artists",
        {"artist": artist, "n": 10, "include_component_matches": "false"},
        headers=auth,
    )
    assert status == 200 and isinstance(doc, list) and doc
    for row in doc:
        _str_or_null(row, "artist", "artist_id")
        assert row["artist_id"] in stack["artists"]["navidrome"]
    # GetSimilarSongsByArtist (artist radio): representative songs
    status, doc = http.call(
        "GET",
        "/api/similar_artists",
        {"artist": artist, "n": 10, "include_component_matches": "true"},
        headers=auth,
    )
    radio = [
        s["item_id"]
        for row in doc
        for m in row["component_matches"]
        for key in ("artist1_representative_songs", "artist2_representative_songs")
        for s in m[key]
        if s["item_id"]
    ]
    assert radio and set(radio) <= own
    # an unknown id: 404 with a JSON error, so Navidrome falls through to its next agent
    status, doc = http.call("GET", "/api/similar_tracks", {"item_id": "nope", "n": 5}, headers=auth)
    assert status == 404 and isinstance(doc["error"], str)


# -- Jellyfin (audiomuse-ai-plugin, System.Text.Json) ------------------------------------------


def test_jellyfin_plugin(stack: dict) -> None:
    http, own = stack["http"], set(stack["songs"]["jellyfin"])
    auth = {"Authorization": f"Bearer {TOKENS['jellyfin']}"}
    assert all(re.fullmatch(r"[0-9a-f]{32}", s) for s in own)  # Guids in "N" format
    # health (GET /, any 2xx) and the config page's test connection (GET /api/active_tasks)
    # .NET follows redirects and looks only at IsSuccessStatusCode (the web page is served there)
    req = urllib.request.Request(stack["base"] + "/", headers=auth)
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback
        assert 200 <= r.status < 300
    status, _ = http.call("GET", "/api/active_tasks", headers=auth)
    assert 200 <= status < 300
    # Instant Mix of a song: the seed first, then one call with n = limit - 1
    seed = _seeds(stack, "jellyfin", 1)[0]
    status, doc = http.call("GET", "/api/similar_tracks", {"n": 199, "item_id": seed}, headers=auth)
    assert status == 200 and isinstance(doc, list)
    got = []
    for row in doc:
        item = row["item_id"]
        assert isinstance(item, str)  # GetString() throws otherwise
        got.append(uuid.UUID(item))  # Guid.TryParse
    assert got and {g.hex for g in got} <= own and uuid.UUID(seed) not in got


# -- Ampache 8 (AmpacheAudioMuse; no token, <id> then so-<id>) ---------------------------------


def _ampache_ids(doc: Any) -> list[tuple[str, float]] | None:
    """OpenSubsonic_Api parsing: a non-array is null; ids must be digits or so-<digits>."""
    if not isinstance(doc, list):
        return None
    out = []
    for row in doc:
        item = row.get("item_id")
        if not isinstance(item, str) or not re.fullmatch(r"(so-)?\d+", item):
            continue
        d = row.get("distance")
        out.append((item, -1.0 if d is None else round(min(1.0, max(0.0, 1 - d)), 4)))
    return out


def test_ampache_plugin(stack: dict) -> None:
    http, own = stack["http"], set(stack["songs"]["ampache"])
    headers = {"Accept": "application/json", "User-Agent": "Ampache/8.0.0 (http://ampache.lan)"}
    song = _seeds(stack, "ampache", 1)[0]
    assert song.startswith("so-")
    bare = song.removeprefix("so-")
    # get_sonic_similar_songs: the bare id first; no usable match → so-<id>
    status, doc = http.call(
        "GET", "/api/similar_tracks", {"item_id": bare, "n": 50}, headers=headers, timeout=7
    )
    assert status == 404 and isinstance(doc["error"], str)  # never one of sonicmap's own ids
    assert _ampache_ids(doc) is None
    status, doc = http.call(
        "GET", "/api/similar_tracks", {"item_id": song, "n": 50}, headers=headers, timeout=7
    )
    rows = _ampache_ids(doc)
    assert status == 200 and rows and {i for i, _ in rows} <= own
    assert all(0 <= s <= 1 for _, s in rows)
    # get_sonic_path: both ends in the same form; count 50 by default
    end = sorted(own)[-1]
    status, doc = http.call(
        "GET",
        "/api/find_path",
        {"start_song_id": song, "end_song_id": end, "max_steps": 50},
        headers=headers,
        timeout=7,
    )
    assert status == 200
    path = _ampache_ids(doc["path"])
    assert path and path[0][0] == song and path[-1][0] == end
    assert path[0][1] == 1.0  # rows carry their distance to the start: real similarities


# -- Lyrion (JameZUK's plugin and CDrummond's mixer; LMS integer ids) ---------------------------


def _lyrion_decode(status: int, doc: Any) -> Any:
    """API.pm _decode: a hash with a non-empty error is a failure."""
    if isinstance(doc, dict) and doc.get("error"):
        raise AssertionError(f"plugin sees an error: {doc['error']} ({status})")
    return doc


def _lyrion_items(doc: Any) -> list[str]:
    if isinstance(doc, dict):
        for key in ("results", "path", "query_results"):
            if isinstance(doc.get(key), list):
                doc = doc[key]
                break
    assert isinstance(doc, list)
    ids = [str(r.get("item_id") or r.get("id")) for r in doc]
    return [i for i in ids if re.fullmatch(r"\d+", i)]


def test_lyrion_plugins(stack: dict) -> None:
    http, own = stack["http"], set(stack["songs"]["lyrion"])
    headers = {"Accept": "application/json", "Authorization": f"Bearer {TOKENS['lyrion']}"}
    assert _lyrion_decode(*http.call("GET", "/api/health", headers=headers)) == {"status": "ok"}
    assert _lyrion_decode(*http.call("GET", "/api/active_tasks", headers=headers)) == {}
    seed, end = _seeds(stack, "lyrion", 2)
    doc = _lyrion_decode(
        *http.call(
            "GET",
            "/api/similar_tracks",
            {"item_id": seed, "n": 25, "eliminate_duplicates": "true"},
            headers=headers,
        )
    )
    ids = _lyrion_items(doc)
    assert ids and set(ids) <= own and seed not in ids
    doc = _lyrion_decode(
        *http.call(
            "GET",
            "/api/find_path",
            {"start_song_id": seed, "end_song_id": end, "max_steps": 12},
            headers=headers,
        )
    )
    ids = _lyrion_items(doc)
    assert ids[0] == seed and ids[-1] == end and len(ids) <= 12
    # the pickers: search by artist name
    status, doc = http.call(
        "GET", "/api/similar_tracks", {"item_id": seed, "n": 1}, headers=headers
    )
    name = doc[0]["author"]
    found = _lyrion_decode(
        *http.call("GET", "/api/search_tracks", {"artist": name}, headers=headers)
    )
    assert found and all(isinstance(r["item_id"], str) and r["item_id"] in own for r in found)
    assert all((r.get("author") or r.get("album_artist")) for r in found)
    # CDrummond's mixer: one seed → similar_tracks with all three flags, n = max(40, 10 × 10)
    doc = _lyrion_decode(
        *http.call(
            "GET",
            "/api/similar_tracks",
            {
                "item_id": seed,
                "n": 100,
                "eliminate_duplicates": "true",
                "radius_similarity": "true",
                "mood_similarity": "true",
            },
            headers=headers,
        )
    )
    assert set(_lyrion_items(doc)) <= own
    # several seeds (DSTM, album / artist mixes) → alchemy
    seeds = _seeds(stack, "lyrion", 3)
    doc = _lyrion_decode(
        *http.call(
            "POST",
            "/api/alchemy",
            headers=headers,
            body={"items": [{"id": s, "op": "ADD", "type": "song"} for s in seeds], "n": 100},
        )
    )
    ids = _lyrion_items(doc)
    assert ids and set(ids) <= own and not set(ids) & set(seeds)
    assert all((r.get("author") or r.get("album_artist")) for r in doc["results"])
    # the mixer's other endpoints are not sonicmap's: a JSON error, which it skips
    status, doc = http.call(
        "POST", "/api/hyperbolic/similar", headers=headers, body={"item_id": seed, "limit": 10}
    )
    assert status == 404 and isinstance(doc["error"], str)


def test_ampache_open_access_is_loopback_only_and_tokens_stay_separate(stack: dict) -> None:
    http = stack["http"]
    nd_seed = _seeds(stack, "navidrome", 1)[0]
    # a Navidrome id sent with Jellyfin's token is unknown in Jellyfin's id space
    status, doc = http.call(
        "GET",
        "/api/similar_tracks",
        {"item_id": nd_seed},
        headers={"Authorization": f"Bearer {TOKENS['jellyfin']}"},
    )
    assert status == 404
    status, doc = http.call(
        "GET", "/api/similar_tracks", {"item_id": nd_seed}, headers={"Authorization": "Bearer x"}
    )
    assert status == 401 and "x" not in doc["error"].split()
