"""Authentication of every mutating endpoint, and of reads when they are protected."""

from __future__ import annotations

from typing import Any

import pytest
from apitest import API, KEY

# (method, path, json body) for every mutating endpoint; the last test checks this list is complete.
MUTATING: list[tuple[str, str, Any]] = [
    ("POST", "/scans", None),
    ("POST", "/gmm/train", {"force": True}),
    ("POST", "/gmm/stability-check", None),
    ("POST", "/gmm/cleanup", None),
    ("POST", "/gmm/models/{archived}/activate", None),
    ("DELETE", "/gmm/models/{archived}", None),
    ("POST", "/servers", {"name": "new", "kind": "subsonic", "url": "http://127.0.0.1:9",
                          "user": "u", "secret": {"type": "password", "value": "pw"},
                          "test": False}),
    ("PATCH", "/servers/{name}", {"use_paths": False}),
    ("DELETE", "/servers/{name}", None),
    ("POST", "/servers/{name}/test", None),
    ("POST", "/servers/{name}/sync", None),
    ("POST", "/playlists/push", {"server": "navi", "all_clusters": True}),
]  # fmt: skip


def _call(client, method: str, path: str, body: Any, ids: dict, headers: dict | None = None):  # noqa: ANN001, ANN202
    if "{name}" in path or path == "/playlists/push":
        _ensure_server(client)
    url = API + path.format(archived=ids["archived_model"], name="navi")
    return client.request(method, url, json=body, headers=headers or {})


def _ensure_server(client) -> None:  # noqa: ANN001
    """A music server named navi (on a port nothing listens on) for the /servers routes."""
    from sonicmap.pipeline import servers as srv

    store = client.app.state.store
    if not any(s.name == "navi" for s in srv.list_servers(store)):
        srv.add_server(
            store, name="navi", kind="subsonic", url="http://127.0.0.1:9", username="u",
            secret={"type": "password", "source": "stored", "value": "pw"},
        )  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body"), MUTATING)
def test_without_a_configured_key_mutations_answer_403_saying_how(
    client_factory, seeded, method, path, body
) -> None:
    c = client_factory()
    r = _call(c, method, path, body, seeded, {"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["code"] == "api_key_not_configured" and "SONICMAP_API_KEY" in err["message"]


@pytest.mark.parametrize(("method", "path", "body"), MUTATING)
@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": "Bearer wrong"}, "invalid_api_key"),
        ({"X-API-Key": KEY + "x"}, "invalid_api_key"),
        ({"Authorization": f"Basic {KEY}"}, "missing_api_key"),
    ],
)
def test_missing_or_wrong_key_is_401(
    client_factory, seeded, fake_queue, method, path, body, headers, code
) -> None:
    c = client_factory(api_key=KEY, library_roots="/nonexistent-root")
    r = _call(c, method, path, body, seeded, headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == code
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert fake_queue.sent == []


@pytest.mark.parametrize(("method", "path", "body"), MUTATING)
@pytest.mark.parametrize("style", ["bearer", "header"])
def test_right_key_is_accepted(
    client_factory, seeded, fake_queue, tmp_path, method, path, body, style, monkeypatch
) -> None:
    from types import SimpleNamespace

    fake = SimpleNamespace(
        activate_model=lambda store, mid: None, delete_model=lambda store, mid: None
    )
    monkeypatch.setattr("sonicmap.api.routers.gmm._clustering", lambda: fake)
    (tmp_path / "music").mkdir()
    c = client_factory(api_key=KEY, library_roots=str(tmp_path / "music"))
    headers = {"Authorization": f"Bearer {KEY}"} if style == "bearer" else {"X-API-Key": KEY}
    r = _call(c, method, path, body, seeded, headers)
    assert r.status_code in (200, 201, 202), r.text
    if r.status_code == 202:
        assert r.json()["task_id"] and fake_queue.sent


def test_reads_open_by_default_and_closed_when_protected(client_factory, seeded) -> None:
    assert client_factory(api_key=KEY).get(f"{API}/artists").status_code == 200
    c = client_factory(api_key=KEY, api_protect_reads="true")
    r = c.get(f"{API}/artists")
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
    assert c.get(f"{API}/artists", headers={"X-API-Key": KEY}).status_code == 200
    assert c.get(f"{API}/gmm/status", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    # Liveness stays open for health checks.
    assert c.get(f"{API}/health").status_code == 200
    assert c.get(f"{API}/ready").status_code == 200
    nokey = client_factory(api_protect_reads="true").get(f"{API}/artists")
    assert nokey.status_code == 403 and "SONICMAP_API_KEY" in nokey.json()["error"]["message"]


def test_every_mutating_route_is_covered_and_declares_security(client_factory) -> None:
    spec = client_factory().get(f"{API}/openapi.json").json()
    found = set()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method in ("post", "put", "patch", "delete"):
                found.add((method.upper(), path.removeprefix(API)))
                assert op.get("security"), f"{method} {path} declares no security"
    listed = {(m, p.replace("{archived}", "{model_id}")) for m, p, _ in MUTATING}
    assert found - READ_POSTS == listed


# POSTs that only read (a request body too rich for a query string): open like every read unless
# SONICMAP_API_PROTECT_READS is set.
READ_POSTS = {("POST", "/mix")}


def test_read_posts_need_a_key_only_when_reads_are_protected(client_factory, seeded) -> None:
    body = {"seeds": [{"kind": "track", "id": 10**9}]}
    assert client_factory(api_key=KEY).post(f"{API}/mix", json=body).status_code == 404
    c = client_factory(api_key=KEY, api_protect_reads="true")
    assert c.post(f"{API}/mix", json=body).status_code == 401
    assert c.post(f"{API}/mix", json=body, headers={"X-API-Key": KEY}).status_code == 404


def test_key_comparison_is_constant_time() -> None:
    import inspect

    from sonicmap.api import deps

    assert "hmac.compare_digest" in inspect.getsource(deps._check_key)
