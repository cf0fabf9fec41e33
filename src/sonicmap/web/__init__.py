"""The web page: static files shipped in the package, served by the API process.

``install(app)`` adds ``GET /`` (the page), ``GET /ui/{file}`` (its ES modules, CSS and icon)
and ``GET /docs`` (Swagger UI from the ``swagger-ui-bundle-v2`` wheel, so the interactive API
docs work with no internet). Nothing is fetched from a CDN and nothing is built: the page is
hand-written ES modules. Files are read once, kept in memory with a gzip copy, and answered
with an ``ETag`` (a reload costs one 304 per file).
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html

STATIC = Path(__file__).with_name("static")
#: Swagger UI files served under /ui/swagger/ (the rest of the wheel is not needed).
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    gz: bytes | None
    media_type: str
    etag: str

    @classmethod
    def load(cls, path: Path) -> Asset:
        body = path.read_bytes()
        media = (
            _TYPES.get(path.suffix)
            or mimetypes.guess_type(path.name)[0]
            or "application/octet-stream"
        )
        if media.startswith("text/") or media.endswith(("javascript", "json", "xml")):
            media += "; charset=utf-8"
            gz = gzip.compress(body, compresslevel=9, mtime=0)
        else:
            gz = None
        return cls(body, gz, media, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')

    def response(self, request: Request) -> Response:
        headers = {"ETag": self.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
        if request.headers.get("if-none-match") == self.etag:
            return Response(status_code=304, headers=headers)
        if self.gz is not None and "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(self.gz, media_type=self.media_type, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


def swagger_dir() -> Path:
    """The Swagger UI dist folder inside the ``swagger_ui_bundle`` package."""
    vendor = Path(str(resources.files("swagger_ui_bundle"))) / "vendor"
    found = sorted(vendor.glob("swagger-ui-*"))
    if not found:
        raise FileNotFoundError(f"no swagger-ui-* folder in {vendor}")
    return found[-1]


def load_assets() -> dict[str, Asset]:
    """Every file of the page (``static/``) and the Swagger UI files, by their URL name."""
    assets = {
        p.relative_to(STATIC).as_posix(): Asset.load(p)
        for p in sorted(STATIC.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }
    sw = swagger_dir()
    for name in SWAGGER_FILES:
        assets[f"swagger/{name}"] = Asset.load(sw / name)
    return assets


def install(app: FastAPI, *, openapi_url: str) -> None:
    """Serve the page at ``/``, its files at ``/ui/...`` and Swagger UI at ``/docs``."""
    assets = load_assets()
    not_found = {"error": {"code": "not_found", "message": "no such file of the web page"}}

    @app.get("/", include_in_schema=False)
    async def page(request: Request) -> Response:
        return assets["index.html"].response(request)

    @app.get("/ui/{name:path}", include_in_schema=False)
    async def asset(name: str, request: Request) -> Response:
        found = assets.get(name)
        if found is None:
            from fastapi.responses import JSONResponse

            return JSONResponse(not_found, status_code=404)
        return found.response(request)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} — API docs",
            swagger_js_url="/ui/swagger/swagger-ui-bundle.js",
            swagger_css_url="/ui/swagger/swagger-ui.css",
            swagger_favicon_url="/ui/swagger/favicon-32x32.png",
        )
