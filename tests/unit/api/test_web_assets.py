"""The page and the API docs are served from the package: nothing from a CDN."""

from __future__ import annotations

import gzip
import re

from sonicmap.web import STATIC


def test_page_assets_and_docs_come_from_the_package(client_factory) -> None:
    c = client_factory()
    page = c.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    refs = re.findall(r'(?:src|href)="(/[^"]+)"', page.text)
    assert "/ui/js/app.js" in refs and "/ui/style.css" in refs
    for ref in refs:  # every file the page names is there
        if ref.startswith("/ui/"):
            assert c.get(ref).status_code == 200, ref
    # ES modules import each other by relative path: each import resolves to a shipped file.
    for js in (STATIC / "js").glob("*.js"):
        for dep in re.findall(r'from "\./([\w.]+)"', js.read_text()):
            assert (STATIC / "js" / dep).is_file(), (js.name, dep)
    docs = c.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower() and "/ui/swagger/swagger-ui-bundle.js" in docs.text
    bundle = c.get("/ui/swagger/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert c.get("/ui/swagger/swagger-ui.css").status_code == 200
    assert c.get("/ui/nothing.js").status_code == 404


def test_assets_are_compressed_and_revalidated(client_factory) -> None:
    c = client_factory()
    with c.stream("GET", "/ui/js/map.js", headers={"Accept-Encoding": "gzip"}) as r:
        raw = b"".join(r.iter_raw())
        etag = r.headers["etag"]
        assert r.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == (STATIC / "js" / "map.js").read_bytes()
    again = c.get("/ui/js/map.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
