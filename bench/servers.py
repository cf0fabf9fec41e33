"""Music-server sync benchmark: 20,000 songs from a local Subsonic server, mapped to tracks.

The server is a small Subsonic API server in its own process on loopback (``search3`` pages of
500 songs, JSON, as Navidrome answers them: id, title, artist, artistId, album, duration,
track, path); the sonicmap side is a SQLite store holding the same 20,000 tracks (tags and
paths, as a scan leaves them; no audio needed). Each row is one full ``sync_server`` call:

* ``fetch only`` (the baseline, same run): the client pages the whole catalogue and does
  nothing else — the floor any sync pays for the server and the transfer;
* ``first sync (paths)``: matching by path, every mapping row inserted;
* ``re-sync (paths)``: the same again (rows updated, ids unchanged);
* ``re-sync (tags only)``: paths ignored, the tag rungs of the ladder.

"server" is the time spent waiting for HTTP answers (the server's work and the transfer),
"sonicmap" the rest (matching, storage, the report). Run::

    python bench/servers.py --songs 20000 --write
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import insert

from sonicmap.store import migrate
from sonicmap.store.db import Store, make_engine
from sonicmap.store.schema import Album, Artist, ScanSession, Track

SECTION = "## Music-server sync (`bench/servers.py`)"
ROOT = "/bench/music"
TRACKS_PER_ALBUM = 10
ALBUMS_PER_ARTIST = 2


def catalogue(n: int) -> list[dict[str, Any]]:
    """``n`` songs: artist, album, title, track number, duration, relative path (deterministic)."""
    out = []
    per_artist = TRACKS_PER_ALBUM * ALBUMS_PER_ARTIST
    for i in range(n):
        a, rest = divmod(i, per_artist)
        b, t = divmod(rest, TRACKS_PER_ALBUM)
        artist, album, title = f"Artist {a:05d}", f"Album {a:05d}-{b}", f"Song {i:06d}"
        out.append(
            {
                "artist": artist,
                "album": album,
                "title": title,
                "track": t + 1,
                "duration": 120 + (i * 7) % 300,
                "path": f"{artist}/{album}/{t + 1:02d} {title}.flac",
                "a": a,
                "b": b,
            }
        )
    return out


# ----------------------------------------------------------------------------- the server


def _serve(n: int, conn: Any) -> None:
    songs = [
        {
            "id": f"so-{i + 1}",
            "parent": f"al-{s['a']}-{s['b']}",
            "isDir": False,
            "title": s["title"],
            "album": s["album"],
            "artist": s["artist"],
            "artistId": f"ar-{s['a']}",
            "albumId": f"al-{s['a']}-{s['b']}",
            "track": s["track"],
            "discNumber": 1,
            "duration": s["duration"],
            "suffix": "flac",
            "contentType": "audio/flac",
            "path": s["path"],
            "type": "music",
        }
        for i, s in enumerate(catalogue(n))
    ]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            q = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            method = parts.path.rsplit("/", 1)[-1].removesuffix(".view")
            body: dict[str, Any] = {"status": "ok", "version": "1.16.1"}
            if method == "search3":
                off, cnt = int(q.get("songOffset", 0)), int(q.get("songCount", 20))
                body["searchResult3"] = {"song": songs[off : off + cnt]}
            elif method == "getPlaylists":
                body["playlists"] = {"playlist": []}
            data = json.dumps({"subsonic-response": body}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    conn.send(httpd.server_port)
    httpd.serve_forever()


# ----------------------------------------------------------------------------- sonicmap side


def fill_store(url: str, n: int) -> Store:
    store = Store(make_engine(url))
    migrate.upgrade(store.engine)
    cat = catalogue(n)
    with store.session() as ses:
        ses.add(ScanSession(status="completed", roots=[ROOT]))
        n_artists = max(s["a"] for s in cat) + 1
        ses.execute(
            insert(Artist),
            [{"id": a + 1, "key": f"name:artist {a:05d}", "name": f"Artist {a:05d}"}
             for a in range(n_artists)],
        )  # fmt: skip
        albums = sorted({(s["a"], s["b"]) for s in cat})
        album_id = {ab: i + 1 for i, ab in enumerate(albums)}
        ses.execute(
            insert(Album),
            [{"id": album_id[(a, b)], "key": f"name:{a}\x1f{b}", "title": f"Album {a:05d}-{b}"}
             for a, b in albums],
        )  # fmt: skip
        ses.execute(
            insert(Track),
            [
                {
                    "path": f"{ROOT}/{s['path']}",
                    "size": 1,
                    "mtime": 0.0,
                    "title": s["title"],
                    "duration_s": s["duration"] + 0.4,
                    "artist_id": s["a"] + 1,
                    "album_id": album_id[(s["a"], s["b"])],
                    "status": "analysed",
                    "tags": {"title": s["title"], "artist": s["artist"], "album": s["album"],
                             "track_no": s["track"], "disc_no": 1},
                }
                for s in cat
            ],
        )  # fmt: skip
    return store


def run(n: int, page: int) -> list[dict[str, Any]]:
    from sonicmap.config import AppConfig, load_config
    from sonicmap.pipeline import servers as srv
    from sonicmap.pipeline.serversync import sync_server
    from sonicmap.remote.subsonic import SubsonicClient

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(n, child), daemon=True)
    proc.start()
    port = parent.recv()
    url = f"http://127.0.0.1:{port}"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            store = fill_store(f"sqlite:///{Path(tmp) / 'bench.db'}", n)
            cfg: AppConfig = load_config({"SONICMAP_DATA_DIR": tmp})
            info = srv.add_server(
                store, name="bench", kind="subsonic", url=url, username="u",
                secret={"type": "password", "source": "stored", "value": "p"},
            )  # fmt: skip

            def client() -> SubsonicClient:
                return SubsonicClient(name="bench", url=url, username="u", secret="p",
                                      page_size=page)  # fmt: skip

            c = client()
            t0 = time.perf_counter()
            fetched = sum(len(p) for p, _ in c.iter_catalogue())
            total = time.perf_counter() - t0
            rows.append(_row("fetch only (baseline)", fetched, total, c.server_seconds, c.requests))
            for label, use_paths in (
                ("first sync (paths)", True),
                ("re-sync (paths)", True),
                ("re-sync (tags only)", False),
            ):
                c = client()
                t0 = time.perf_counter()
                rep = sync_server(store, cfg, info, c, use_paths=use_paths)
                total = time.perf_counter() - t0
                row = _row(label, rep.server_songs, total, rep.server_seconds, rep.requests)
                row["matched"] = rep.matched_total
                rows.append(row)
            store.dispose()
        finally:
            proc.terminate()
            proc.join(5)
    return rows


def _row(label: str, songs: int, total: float, server: float, requests: int) -> dict[str, Any]:
    return {
        "label": label,
        "songs": songs,
        "total_s": total,
        "server_s": server,
        "sonicmap_s": total - server,
        "requests": requests,
        "songs_per_s": songs / total if total else 0.0,
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| run | songs | matched | total (s) | server (s) | sonicmap (s) | songs/s | requests |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['songs']} | {r.get('matched', '–')} | {r['total_s']:.2f} | "
            f"{r['server_s']:.2f} | {r['sonicmap_s']:.2f} | {r['songs_per_s']:.0f} | "
            f"{r['requests']} |"
        )
    return "\n".join(lines)


def write_section(path: Path, body: str) -> None:
    doc = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if SECTION in doc:
        start = doc.index(SECTION)
        nxt = re.search(r"^## ", doc[start + len(SECTION) :], flags=re.M)
        end = start + len(SECTION) + nxt.start() if nxt else len(doc)
        doc = doc[:start] + body + doc[end:]
    else:
        doc = doc.rstrip("\n") + "\n\n" + body
    path.write_text(doc, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--songs", type=int, default=20_000)
    ap.add_argument("--page", type=int, default=500, help="songs per search3 request")
    ap.add_argument("--write", action="store_true", help="replace the section in BENCHMARKS.md")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    rows = run(args.songs, args.page)
    load1 = os.getloadavg()[0]
    text = table(rows)
    print(text)
    worst = max(r["total_s"] for r in rows[1:])
    verdict = "met" if worst <= 60 else "NOT met"
    print(f"slowest sync {worst:.1f} s for {args.songs} songs: target ≤ 60 s {verdict}")
    if args.write:
        body = (
            f"{SECTION}\n"
            f"Command: `python bench/servers.py --songs {args.songs} --page {args.page}` — a "
            "local Subsonic API server in its own process on loopback (search3 pages, JSON), "
            f"sonicmap on SQLite holding the same {args.songs} tracks. Baseline (same run): "
            'fetching the whole catalogue with nothing else done. "server" = waiting for HTTP '
            'answers (the server\'s work and the transfer), "sonicmap" = the rest (matching, '
            f"storage, report). 1-min load average {load0:.1f} at start, {load1:.1f} at end (2 "
            "cores, shared with other work: compare rows of one run).\n\n"
            f"{text}\n\nTarget: a sync of 20,000 songs ≤ 60 s — slowest sync here "
            f"{worst:.1f} s ({verdict}).\n\n"
        )
        write_section(Path(__file__).resolve().parent.parent / "BENCHMARKS.md", body)


if __name__ == "__main__":
    main()
