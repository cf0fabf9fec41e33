"""Request bodies: read only after the key is checked, never beyond SONICMAP_API_MAX_BODY_BYTES."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from apitest import API, KEY, make_config

from sonicmap.api import create_app

AUTH = {"Authorization": f"Bearer {KEY}"}


def test_a_body_over_the_cap_is_413_before_anything_runs(client_factory, fake_queue) -> None:
    c = client_factory(api_key=KEY, api_max_body_bytes="2048")
    big = json.dumps({"force": True, "pad": "x" * 4096})
    r = c.post(
        f"{API}/gmm/train", content=big, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text
    err = r.json()["error"]
    assert err["code"] == "payload_too_large" and "2048 bytes" in err["message"]
    assert fake_queue.sent == []
    ok = c.post(f"{API}/gmm/train", json={"force": True}, headers=AUTH)
    assert ok.status_code == 202, ok.text


def test_a_chunked_body_is_cut_off_at_the_cap(client_factory, fake_queue) -> None:
    c = client_factory(api_key=KEY, api_max_body_bytes="2048")

    def chunks() -> Any:  # no Content-Length: sent chunked
        yield b'{"force": true, "pad": "'
        for _ in range(64):
            yield b"x" * 1024
        yield b'"}'

    r = c.post(
        f"{API}/gmm/train", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text
    assert fake_queue.sent == []


def _asgi_post(app: Any, path: str, headers: dict[str, str], body: bytes) -> tuple[int, int]:
    """POST through the ASGI interface; returns (status, body chunks the app asked for)."""
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": raw, "client": ("127.0.0.1", 1), "server": ("t", 80),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], reads


def test_without_the_key_the_body_is_never_read(tmp_path, sqlite_store, fake_queue) -> None:
    cfg = make_config(tmp_path, api_key=KEY)
    app = create_app(cfg, store=sqlite_store, queue=fake_queue)
    body = json.dumps({"force": True}).encode()
    status, reads = _asgi_post(app, f"{API}/gmm/train", {"X-API-Key": "wrong"}, body)
    assert (status, reads) == (401, 0)
    status, reads = _asgi_post(
        app, f"{API}/gmm/train", {"X-API-Key": KEY, "Content-Type": "application/json"}, body
    )
    assert status == 202 and reads >= 1
