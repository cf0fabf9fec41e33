"""``/servers`` and ``/playlists``: key on mutations, secrets never shown, tasks queued."""

from __future__ import annotations

import socket

import pytest
from apitest import API, KEY

AUTH = {"X-API-Key": KEY}


@pytest.fixture
def client(client_factory, seeded):  # noqa: ANN001, ANN201
    return client_factory(api_key=KEY)


def closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def test_add_list_patch_sync_push_delete(client, fake_queue) -> None:
    body = {
        "name": "navi", "kind": "subsonic", "url": "http://navidrome:4533", "user": "alice",
        "secret": {"type": "password", "value": "hunter2-secret"}, "test": False,
    }  # fmt: skip
    assert client.post(f"{API}/servers", json=body).status_code == 401
    r = client.post(f"{API}/servers", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["secret"] == {"type": "password", "source": "stored", "ref": None}
    assert client.post(f"{API}/servers", json=body, headers=AUTH).status_code == 409
    listing = client.get(f"{API}/servers")
    assert listing.status_code == 200 and "hunter2" not in listing.text
    assert [s["name"] for s in listing.json()] == ["navi"]
    one = client.get(f"{API}/servers/navi").json()
    assert one["mapping"] == {
        "songs": 0, "matched": 0,
        "by_method": {"path": 0, "mbid": 0, "isrc": 0, "tags": 0, "title_duration": 0},
    }  # fmt: skip
    r = client.patch(f"{API}/servers/navi", json={"sync_after_scan": False}, headers=AUTH)
    assert r.status_code == 200 and r.json()["options"]["sync_after_scan"] is False
    r = client.post(f"{API}/servers/navi/sync", headers=AUTH)
    assert r.status_code == 202 and r.json()["task"] == "sync_servers"
    r = client.post(
        f"{API}/playlists/push", json={"server": "navi", "all_clusters": True}, headers=AUTH
    )
    assert r.status_code == 202, r.text
    r = client.post(
        f"{API}/playlists/push", json={"server": "navi", "radio": 3, "count": 20}, headers=AUTH
    )
    assert r.status_code == 202
    assert fake_queue.sent == [
        ("sync_servers", {"name": "navi"}),
        ("push_playlists", {"server": "navi", "request": {"all_clusters": True}}),
        ("push_playlists", {"server": "navi", "request": {"radio": 3, "count": 20}}),
    ]
    r = client.post(
        f"{API}/playlists/push", json={"server": "navi", "radio": 3, "artist": 1}, headers=AUTH
    )
    assert r.status_code == 422
    assert client.post(f"{API}/servers/nope/sync", headers=AUTH).status_code == 404
    assert client.get(f"{API}/playlists").json() == []
    assert client.delete(f"{API}/servers/navi").status_code == 401
    assert client.delete(f"{API}/servers/navi", headers=AUTH).status_code == 200
    assert client.get(f"{API}/servers").json() == []


def test_secrets_only_by_value_or_a_sonicmap_server_variable(client) -> None:
    base = {"name": "j", "kind": "jellyfin", "url": "http://jf:8096", "test": False}
    for secret in (
        {"type": "api_key", "env": "SONICMAP_DATABASE_URL"},
        {"type": "api_key", "env": "HOME"},
        {"type": "api_key", "file": "/etc/shadow"},
        {"type": "api_key"},
    ):
        r = client.post(f"{API}/servers", json={**base, "secret": secret}, headers=AUTH)
        assert r.status_code == 422, secret
    r = client.post(
        f"{API}/servers",
        json={**base, "secret": {"type": "api_key", "env": "SONICMAP_SERVER_JF_KEY"}},
        headers=AUTH,
    )
    assert r.status_code == 201
    assert r.json()["secret"]["ref"] == "SONICMAP_SERVER_JF_KEY"


def test_a_failing_connection_test_is_422_and_stores_nothing(client) -> None:
    url = closed_port_url()
    body = {
        "name": "gone", "kind": "subsonic", "url": url, "user": "u",
        "secret": {"type": "password", "value": "pw"},
    }  # fmt: skip
    r = client.post(f"{API}/servers", json=body, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["code"] == "server_test_failed"
    assert r.json()["error"]["message"] == (
        f"server 'gone': cannot reach {url} (connection refused)"
    )
    assert client.get(f"{API}/servers").json() == []


def test_only_a_lyrion_server_without_a_user_may_have_no_secret(client) -> None:
    base = {"name": "lms", "kind": "lyrion", "url": "http://lms:9000", "test": False}
    r = client.post(f"{API}/servers", json={**base, "user": "admin"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["field"] == "secret"
    r = client.post(f"{API}/servers", json={**base, "kind": "jellyfin"}, headers=AUTH)
    assert r.status_code == 422
    r = client.post(f"{API}/servers", json=base, headers=AUTH)
    assert r.status_code == 201
    assert r.json()["kind"] == "lyrion" and r.json()["secret"]["source"] == "none"
