"""The music-server plugins' routes under concurrent load, at 100,000 tracks.

Populates a fresh database with ``--tracks`` random track vectors (``--tracks // 10`` artists of
10 tracks, drawn from a mixture of styles) and a music server whose every song maps to a track
(as a sync stores it), starts ``sonicmap serve`` as a separate process, and drives it from a
second process on loopback with a closed-loop load generator (``wrk`` when on PATH, else the
asyncio client of ``bench/api.py``; ``--connections`` keep-alive connections, ``--seconds`` each),
one case at a time, each request with ``Authorization: Bearer`` as the plugins send it:

* baseline: ``GET /api/health`` (framework floor);
* ``GET /api/similar_tracks?item_id=<random song>&n=10`` over all songs (nearly every request
  computes its k-NN) — what Jellyfin's Instant Mix calls up to 20 times in a row;
* ``GET /api/find_path?start_song_id=&end_song_id=&max_steps=25`` for 200 random pairs.

Targets (issue 18): ``similar_tracks`` p99 ≤ 20 ms and ``find_path`` (25) p99 ≤ 150 ms at 32
connections. Writes the Markdown section of BENCHMARKS.md to stdout (``--write`` replaces it).

    python bench/compat.py                      # SQLite (embedded default)
    python bench/compat.py --db-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import (  # noqa: E402 - the bench folder is not a package
    _fresh_pg,
    free_port,
    run_asyncio,
    run_wrk,
    server_cpu,
    start_server,
)

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Music-server plugin routes (`bench/compat.py`)"
TOKEN = "bench-compat-token"
TARGETS = {"similar_tracks": 20.0, "find_path": 150.0}
NOTES = (
    "Both routes are answered by an ASGI middleware in front of the framework "
    "(`sonicmap.api.compat.hot`: no routing, request guard, dependency solving or response class; "
    "similar_tracks on the event loop, find_path on the two compute threads) whenever the answer "
    "comes from the snapshot; errors and the database fallback go through the routes. Closed-loop "
    "latency at C connections is about C × (CPU per request) / cores, so p99 follows the CPU per "
    "request; compare it with the baseline's of the same run."
)


def populate(url: str, n_tracks: int, *, seed: int = 0, n_styles: int = 16) -> dict[str, Any]:
    """Tracks, artists, albums and vectors written directly; a server mapping every song."""
    from sonicmap.embedding import LAYOUT_VERSION
    from sonicmap.pipeline import servers
    from sonicmap.store import migrate
    from sonicmap.store import schema as db
    from sonicmap.store.db import Store, make_engine
    from sonicmap.store.repo import put_embeddings
    from sonicmap.store.vectors import open_index

    engine = make_engine(url)
    migrate.upgrade(engine)
    store = Store(engine)
    rng = np.random.default_rng(seed)
    n_artists = max(1, n_tracks // 10)
    centres = rng.normal(size=(n_styles, 64))
    style = rng.integers(0, n_styles, size=n_artists)
    artist_centre = centres[style] + 0.5 * rng.normal(size=(n_artists, 64))
    artist_of = np.arange(n_tracks) // 10 % n_artists
    vecs = artist_centre[artist_of] + 0.6 * rng.normal(size=(n_tracks, 64))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    t0 = time.perf_counter()
    with store.session() as s:
        s.execute(
            db.Artist.__table__.insert(),
            [
                {"id": a + 1, "key": f"name:a{a}", "name": f"Artist {a:05d}"}
                for a in range(n_artists)
            ],
        )
        s.execute(
            db.Album.__table__.insert(),
            [
                {"id": a + 1, "key": f"album {a}", "title": f"Album {a:05d}"}
                for a in range(n_artists)
            ],
        )
        s.execute(
            db.Track.__table__.insert(),
            [
                {
                    "id": i + 1,
                    "path": f"/music/{artist_of[i]:05d}/{i:06d}.flac",
                    "size": 1,
                    "mtime": 0.0,
                    "duration_s": 180.0,
                    "title": f"Song {i:06d}",
                    "artist_id": int(artist_of[i]) + 1,
                    "album_id": int(artist_of[i]) + 1,
                    "tags": {},
                    "status": "analysed",
                }
                for i in range(n_tracks)
            ],
        )
    with store.session() as s:
        for k in range(0, n_tracks, 20_000):
            ids = list(range(k + 1, min(n_tracks, k + 20_000) + 1))
            put_embeddings(s, "track", ids, vecs[k : k + len(ids)], layout_version=LAYOUT_VERSION)
        am = np.stack([vecs[artist_of == a].mean(0) for a in range(n_artists)])
        am /= np.linalg.norm(am, axis=1, keepdims=True)
        put_embeddings(
            s,
            "artist",
            list(range(1, n_artists + 1)),
            am,
            layout_version=LAYOUT_VERSION,
            n_tracks=[10] * n_artists,
        )
    info = servers.add_server(
        store,
        name="navi",
        kind="subsonic",
        url="http://127.0.0.1:4533",
        username="u",
        secret={"type": "password", "source": "env", "ref": "NAVI_PASSWORD"},
    )
    with store.session() as s:
        s.execute(
            db.ServerSong.__table__.insert(),
            [
                {
                    "server_id": info.id,
                    "server_song_id": f"nd{i + 1:07d}",
                    "server_artist_id": f"ar{int(artist_of[i]) + 1}",
                    "track_id": i + 1,
                    "method": "path",
                    "generation": 1,
                }
                for i in range(n_tracks)
            ],
        )
    open_index(store).rebuild("track")  # the index is built here, not in the first request
    open_index(store).rebuild("artist")
    fill_s = time.perf_counter() - t0
    store.dispose()
    return {"fill_s": fill_s, "vectors": vecs.astype(np.float32)}


def ivf_recall(vecs: np.ndarray, n_queries: int = 200, k: int = 10) -> dict[str, float]:
    """Recall@k of the IVF index against exact search, and its build time."""
    from sonicmap.embedding.ivf import IvfIndex

    t0 = time.perf_counter()
    idx = IvfIndex.build(vecs)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(3)
    hit = 0
    for s in rng.choice(len(vecs), n_queries, replace=False):
        exact = set(np.argsort(-(vecs @ vecs[s]))[: k + 1].tolist()) - {int(s)}
        got = set(idx.search(vecs[s], k + 1)[0].tolist()) - {int(s)}
        hit += len(exact & got)
    return {
        "recall": hit / (k * n_queries),
        "build_s": build_s,
        "lists": len(idx.offsets) - 1,
        "nprobe": idx.nprobe,
    }


def answer_cost(url: str, n_seeds: int = 400) -> dict[str, float]:
    """CPU ms per answer computed in this process from a snapshot (no HTTP): the routes' own
    work, against which the server's CPU per request shows the cost of everything else."""
    from sonicmap.api.compat import memory
    from sonicmap.api.compat.snapshot import SnapshotHolder
    from sonicmap.pipeline import servers
    from sonicmap.store.db import Store, make_engine

    store = Store(make_engine(url))
    try:
        snap = SnapshotHolder(store).refresh_now()
        assert snap is not None
        info = servers.list_servers(store)[0]
        smap = snap.server_map(store, info.id, info.sync_generation, info.last_sync_at)
        rng = random.Random(2)
        songs = list(smap.row_of_song)
        seeds = rng.sample(songs, n_seeds)
        pairs = [tuple(rng.sample(songs, 2)) for _ in range(n_seeds // 2)]
        out = {}
        for name, calls in (
            ("similar_tracks", [(memory.similar_tracks, (s, 10, True)) for s in seeds]),
            ("find_path", [(memory.find_path, (a, b, 25)) for a, b in pairs]),
        ):
            for fn, args in calls[:10]:
                fn(snap, smap, *args)
            t0 = time.thread_time()
            for fn, args in calls:
                fn(snap, smap, *args)
            out[name] = 1000 * (time.thread_time() - t0) / len(calls)
        return out
    finally:
        store.dispose()


def wait_for_memory(port: int, song: str, timeout_s: float = 300.0, streak: int = 30) -> float:
    """Seconds until the server answers the plugin routes from its in-memory snapshot: ``streak``
    answers in a row, each on a new connection (so that every API process has its snapshot, not
    just the one that took the first request: a process still building would measure its
    build and the database fallback)."""
    import urllib.request

    t0 = time.perf_counter()
    run = 0
    while time.perf_counter() - t0 < timeout_s:
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/similar_tracks?item_id={song}&n=10",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - loopback
            run = run + 1 if r.headers.get("X-Sonicmap-Answered-From") == "memory" else 0
        if run >= streak:
            return time.perf_counter() - t0
        if run == 0:
            time.sleep(0.5)
    raise RuntimeError("the server never answered from memory")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=100_000)
    ap.add_argument("--connections", default="32,4", help="comma list; the first is the headline")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--client", choices=("auto", "wrk", "asyncio"), default="auto")
    ap.add_argument(
        "--workers", type=int, default=1, help="API processes (sonicmap serve --workers)"
    )
    ap.add_argument("--db-url", default=None, help="PostgreSQL admin URL; default SQLite")
    ap.add_argument("--write", action="store_true", help="replace this section of BENCHMARKS.md")
    args = ap.parse_args()
    client = "wrk" if args.client == "auto" and shutil.which("wrk") else args.client
    client = "asyncio" if client == "auto" else client

    tmp = Path(tempfile.mkdtemp(prefix="sonicmap-bench-compat-"))
    drop = None
    if args.db_url:
        url, drop = _fresh_pg(args.db_url)
        backend = "PostgreSQL (pgvector)"
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
        backend = "SQLite + sqlite-vec"
    load = os.getloadavg()[0]
    results: list[tuple[str, dict[str, Any]]] = []
    try:
        info = populate(url, args.tracks)
        print(f"populated {args.tracks} tracks in {info['fill_s']:.1f} s", file=sys.stderr)
        recall = ivf_recall(info.pop("vectors"))
        print(f"IVF: {recall}", file=sys.stderr)
        cost = answer_cost(url)
        print(f"answers in-process (CPU ms): {cost}", file=sys.stderr)
        port = free_port()
        env = {
            "SONICMAP_COMPAT_TOKENS": f"navi={TOKEN}",
            "SONICMAP_API_KEY": "bench-key-not-used-by-the-plugins",
        }
        server = start_server(url, port, args.workers, tmp, tmp / "server.log", extra_env=env)
        try:
            rng = random.Random(1)
            songs = [f"nd{i:07d}" for i in range(1, args.tracks + 1)]
            rng.shuffle(songs)
            pairs = [(rng.choice(songs), rng.choice(songs)) for _ in range(200)]
            cases = [
                ("baseline: GET /api/health", ["/api/health"]),
                (
                    "similar_tracks",
                    [f"/api/similar_tracks?item_id={s}&n=10" for s in songs],
                ),
                (
                    "find_path",
                    [
                        f"/api/find_path?start_song_id={a}&end_song_id={b}&max_steps=25"
                        for a, b in pairs
                        if a != b
                    ],
                ),
            ]
            headers = {"Authorization": f"Bearer {TOKEN}"}
            ready_s = wait_for_memory(port, songs[0])
            print(f"snapshot ready {ready_s:.1f} s after the first request", file=sys.stderr)
            for conns in [int(c) for c in str(args.connections).split(",")]:
                for name, paths in cases:
                    cpu0 = server_cpu(server.pid)
                    if client == "wrk":
                        r = run_wrk(port, paths, conns, args.seconds, tmp, headers=headers)
                    else:
                        r = run_asyncio(port, paths, conns, args.seconds, headers=headers)
                    r["server_ms"] = 1000 * (server_cpu(server.pid) - cpu0) / max(1, r["requests"])
                    r["connections"] = conns
                    results.append((name, r))
                    print(
                        f"{conns:3d} conns {name:28s} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.1f} ms"
                        f"  p99 {r['p99_ms']:7.1f} ms  server {r['server_ms']:.3f} ms CPU/req  "
                        f"client {100 * r['client_cpu']:.0f}% CPU  errors {r['errors']}",
                        file=sys.stderr,
                    )
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=15)
            if any(r["errors"] for _, r in results):
                tail = (tmp / "server.log").read_text(errors="replace").splitlines()[-30:]
                print("server log (tail):\n" + "\n".join(tail), file=sys.stderr)
    finally:
        if drop is not None:
            drop()
        shutil.rmtree(tmp, ignore_errors=True)
    md = report(results, args, backend, client, load, recall, ready_s, cost)
    print(md)
    if args.write:
        path = ROOT / "BENCHMARKS.md"
        text = path.read_text()
        if SECTION in text:
            head, rest = text.split(SECTION, 1)
            nxt = rest.find("\n## ")
            text = head + md.rstrip() + "\n" + (rest[nxt:] if nxt >= 0 else "")
        else:
            text = text.rstrip() + "\n\n" + md
        path.write_text(text)


def report(
    results: list,
    args: Any,
    backend: str,
    client: str,
    load: float,
    recall: dict[str, float],
    ready_s: float,
    cost: dict[str, float],
) -> str:
    cmd = "python bench/compat.py" + (" --db-url <admin url>" if args.db_url else "")
    for flag, value, default in (
        ("--tracks", args.tracks, 100_000),
        ("--connections", args.connections, "32,4"),
        ("--seconds", args.seconds, 20.0),
        ("--workers", args.workers, 1),
    ):
        cmd += f" {flag} {value:g}" if isinstance(value, float) and value != default else ""
        cmd += f" {flag} {value}" if not isinstance(value, float) and value != default else ""
    lines = [
        SECTION,
        "",
        f"`{cmd}` — {args.tracks:,} tracks, {args.workers} API process(es), {backend}, load "
        f"generator: {client},"
        f" {args.seconds:g} s per case, load average before the run {load:.1f} (2-core machine"
        " shared with other work: wall-clock latencies include waiting for a core).",
        "",
        "| connections | request | req/s | p50 ms | p99 ms | server CPU ms/req | errors |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results:
        lines.append(
            f"| {r['connections']} | {name} | {r['rps']:.0f} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['server_ms']:.2f} | {r['errors']} |"
        )
    head = int(str(args.connections).split(",")[0])
    verdicts = []
    for name, target in TARGETS.items():
        got = [r for n, r in results if n == name and r["connections"] == head]
        if got:
            ok = got[0]["p99_ms"] <= target
            verdicts.append(
                f"{name} p99 at {head} connections {got[0]['p99_ms']:.1f} ms "
                f"(target ≤ {target:g} ms: **{'met' if ok else 'not met'}**)"
            )
    lines += [
        "",
        "Targets: " + "; ".join(verdicts) + ".",
        "",
        f"Both are answered from the API process's in-memory snapshot (IVF index of "
        f"{recall['lists']} lists, {recall['nprobe']} probed per query, built in "
        f"{recall['build_s']:.1f} s in this process; every API process answered from its snapshot "
        f"{ready_s:.1f} s after the first plugin request). Recall@10 of the IVF against exact "
        f"search on these vectors, same run: {recall['recall']:.3f} (200 random seeds).",
        "",
        f"The answers alone, computed in the bench process from the same snapshot (CPU per answer, "
        f"no HTTP): similar_tracks (n=10) {cost['similar_tracks']:.2f} ms, find_path (25) "
        f"{cost['find_path']:.2f} ms; the rest of the server's CPU per request is HTTP and the "
        f"response. {NOTES}",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
