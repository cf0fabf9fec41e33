"""API under concurrent load: similar-artists and cluster-detail requests at 10k artists.

Populates a fresh database with ``--artists`` random artist vectors (drawn from a mixture of
styles, so the GMM has structure), trains and activates a model through the pipeline, starts
``sonicmap serve`` as a separate process, and drives it from a second process on loopback with a
closed-loop load generator (``--connections`` keep-alive HTTP/1.1 connections for
``--seconds``), one endpoint at a time:

* baseline: ``GET /api/v1/health`` (framework floor: no database, no computation);
* ``GET /api/v1/artists/{random id}/similar?limit=10``;
* ``GET /api/v1/gmm/clusters/{random cluster}`` (profile + first 50 members).

Reports requests/s and p50/p99 latency (ms) per endpoint and writes the Markdown section of
BENCHMARKS.md to stdout (``--write`` replaces the section in the file).

    python bench/api.py                         # SQLite (embedded default), 10k artists
    python bench/api.py --db-url postgresql://postgres@127.0.0.1:5432/postgres   # fresh PG db
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## API (`bench/api.py`)"


# -- data ---------------------------------------------------------------------------------------


def populate(url: str, n_artists: int, *, seed: int = 0, n_styles: int = 8) -> dict[str, Any]:
    """Artists + vectors written directly; a model trained and activated by the pipeline."""
    from sqlalchemy import select

    from sonicmap.config import AppConfig, GmmConfig, load_settings
    from sonicmap.embedding import LAYOUT_VERSION
    from sonicmap.pipeline import clustering
    from sonicmap.store import migrate
    from sonicmap.store import schema as db
    from sonicmap.store.db import Store, make_engine
    from sonicmap.store.vectors import open_index, to_blob

    engine = make_engine(url)
    migrate.upgrade(engine)
    store = Store(engine)
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_styles, 64)).astype(np.float32)
    labels = rng.integers(0, n_styles, size=n_artists)
    vecs = centres[labels] + 0.35 * rng.normal(size=(n_artists, 64)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    t0 = time.perf_counter()
    with store.session() as s:
        s.execute(
            db.Artist.__table__.insert(),
            [
                {"id": i + 1, "key": f"name:artist {i}", "name": f"Artist {i:05d}"}
                for i in range(n_artists)
            ],
        )
        s.execute(
            db.ArtistEmbedding.__table__.insert(),
            [
                {
                    "artist_id": i + 1,
                    "layout_version": LAYOUT_VERSION,
                    "vector": to_blob(vecs[i]),
                    "n_tracks": 10,
                    "total_duration_s": 2400.0,
                }
                for i in range(n_artists)
            ],
        )
    open_index(store).rebuild("artist")
    t_fill = time.perf_counter() - t0
    cfg = AppConfig(settings=load_settings({}), gmm=GmmConfig())
    t0 = time.perf_counter()
    summary = clustering.train(store, cfg, reason="manual", force=True)
    t_train = time.perf_counter() - t0
    with store.session() as s:
        clusters = [
            c
            for (c,) in s.execute(
                select(db.GmmCluster.cluster_id).where(db.GmmCluster.model_id == summary.model_id)
            )
        ]
    store.dispose()
    return {"fill_s": t_fill, "train_s": t_train, "k": summary.k, "clusters": clusters}


# -- server -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    url: str,
    port: int,
    workers: int,
    data_dir: Path,
    log: Path,
    *,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONICMAP_")}
    env.update(
        {
            "SONICMAP_DATABASE_URL": url,
            "SONICMAP_DATA_DIR": str(data_dir),
            "SONICMAP_LOG_LEVEL": "WARNING",
            "SONICMAP_TIMEZONE": "UTC",
            **(extra_env or {}),
        }
    )
    argv = [
        str(Path(sys.executable).parent / "sonicmap"),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    # The server's log goes to a file: a pipe nobody reads would block the server once full.
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start within 60 s")


# -- load generators (each runs in its own process) ---------------------------------------------

WRK_LUA = r"""
-- A random path of the list per request; the summary as one JSON line.
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local headers = {}
local hfile = os.getenv("BENCH_HEADERS")
if hfile then
  for line in io.lines(hfile) do
    local k, v = line:match("^([^:]+):%s*(.*)$")
    if k then headers[k] = v end
  end
end
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
request = function()
  return wrk.format("GET", paths[math.random(#paths)], headers)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_wrk(
    port: int,
    paths: list[str],
    connections: int,
    seconds: float,
    tmp: Path,
    *,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``wrk`` (C, epoll, one thread) with a Lua script picking a random path per request."""
    (tmp / "paths.txt").write_text("\n".join(paths) + "\n")
    (tmp / "mix.lua").write_text(WRK_LUA)
    env = {**os.environ, "BENCH_PATHS": str(tmp / "paths.txt")}
    if headers:
        (tmp / "headers.txt").write_text("".join(f"{k}: {v}\n" for k, v in headers.items()))
        env["BENCH_HEADERS"] = str(tmp / "headers.txt")
    url = f"http://127.0.0.1:{port}"

    def wrk(conns: int, secs: float) -> tuple[dict[str, Any], float, float]:
        cpu0, t0 = _children_cpu(), time.perf_counter()
        out = subprocess.run(
            ["wrk", "-t1", f"-c{conns}", f"-d{secs:g}s", "--timeout", "10s"]
            + ["-s", str(tmp / "mix.lua"), url],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - t0
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
        return json.loads(line), _children_cpu() - cpu0, wall

    wrk(min(4, connections), 1)  # warm-up, not measured
    r, cpu, wall = wrk(connections, seconds)
    elapsed = r["duration_us"] / 1e6
    return {
        "requests": r["requests"],
        "errors": r["errors"] + r["socket_errors"],
        "rps": r["requests"] / elapsed,
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "client_cpu": cpu / wall,
    }


async def _conn_loop(
    port: int,
    paths: list[str],
    stop_at: float,
    lat: list[float],
    errors: list[int],
    seed: int,
    headers: str = "",
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    rnd = random.Random(seed)  # one sequence per connection (not the same one replayed 32 times)
    try:
        while time.perf_counter() < stop_at:
            path = rnd.choice(paths)
            t0 = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n{headers}\r\n".encode())
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            if not status_line.startswith(b"HTTP/1.1 200"):
                errors.append(int(status_line.split()[1]))
    finally:
        writer.close()


async def _drive(
    port: int, paths: list[str], connections: int, seconds: float, headers: str = ""
) -> dict[str, Any]:
    lat: list[float] = []
    errors: list[int] = []
    # warm-up: one request per connection's worth, not measured
    warm_stop = time.perf_counter() + 1.0
    await asyncio.gather(
        *[
            _conn_loop(port, paths, warm_stop, [], [], -1 - i, headers)
            for i in range(min(4, connections))
        ]
    )
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    stop = t0 + seconds
    await asyncio.gather(
        *[_conn_loop(port, paths, stop, lat, errors, i, headers) for i in range(connections)]
    )
    elapsed = time.perf_counter() - t0
    ms = sorted(x * 1000 for x in lat)
    return {
        "requests": len(ms),
        "errors": len(errors),
        "rps": len(ms) / elapsed,
        "p50_ms": statistics.median(ms) if ms else float("nan"),
        "p99_ms": ms[min(len(ms) - 1, int(0.99 * len(ms)))] if ms else float("nan"),
        "client_cpu": (time.process_time() - cpu0) / elapsed,
    }


def load_main(argv: list[str]) -> None:
    """``python bench/api.py --load PORT CONNECTIONS SECONDS`` with the paths on stdin (JSON)."""
    port, connections, seconds = int(argv[0]), int(argv[1]), float(argv[2])
    doc = json.loads(sys.stdin.read())
    paths, headers = (doc, {}) if isinstance(doc, list) else (doc["paths"], doc["headers"])
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    print(json.dumps(asyncio.run(_drive(port, paths, connections, seconds, lines))))


def run_asyncio(
    port: int,
    paths: list[str],
    connections: int,
    seconds: float,
    *,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The fallback client: asyncio raw sockets in a second Python process."""
    out = subprocess.run(
        [sys.executable, __file__, "--load", str(port), str(connections), str(seconds)],
        input=json.dumps({"paths": paths, "headers": headers or {}}),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by the server process and its children (uvicorn workers)."""
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


# -- main ---------------------------------------------------------------------------------------


def _fresh_pg(admin_url: str) -> tuple[str, Any]:
    from sqlalchemy import text

    from sonicmap.store.db import make_engine

    name = "sonicmap_bench_" + uuid.uuid4().hex[:10]
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.rsplit("/", 1)[0] + "/" + name, drop


TARGET_P99_MS = 50.0
SIMILAR = "GET /artists/{id}/similar?limit=10"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        load_main(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artists", type=int, default=10_000)
    ap.add_argument(
        "--connections",
        default="32,4",
        help="comma list of connection counts; the first is the headline (default 32,4)",
    )
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument(
        "--client",
        choices=("auto", "wrk", "asyncio"),
        default="auto",
        help="load generator: wrk (if on PATH, the default) or the asyncio client",
    )
    ap.add_argument(
        "--db-url",
        default=None,
        help="PostgreSQL admin URL (a fresh database is made); default SQLite",
    )
    ap.add_argument("--write", action="store_true", help="replace the API section of BENCHMARKS.md")
    args = ap.parse_args()
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "asyncio"

    tmp = Path(tempfile.mkdtemp(prefix="sonicmap-bench-api-"))
    drop = None
    if args.db_url:
        url, drop = _fresh_pg(args.db_url)
        backend = "PostgreSQL (pgvector)"
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
        backend = "SQLite + sqlite-vec"
    load = os.getloadavg()[0]
    try:
        info = populate(url, args.artists)
        print(
            f"populated {args.artists} artists in {info['fill_s']:.1f} s; trained k={info['k']} in {info['train_s']:.1f} s",
            file=sys.stderr,
        )
        port = free_port()
        results: list[tuple[str, dict[str, Any]]] = []
        server = start_server(url, port, args.workers, tmp, tmp / "server.log")
        try:
            rng = random.Random(1)
            ids = [rng.randint(1, args.artists) for _ in range(2000)]
            # Every artist with 10 different limits: 10 x n distinct requests, far more than the
            # server's response cache holds, so nearly every request computes its k-NN.
            cold = [
                f"/api/v1/artists/{i}/similar?limit={lim}"
                for i in range(1, args.artists + 1)
                for lim in range(5, 15)
            ]
            rng.shuffle(cold)
            cases = [
                ("baseline: GET /health", ["/api/v1/health"]),
                (SIMILAR, [f"/api/v1/artists/{i}/similar?limit=10" for i in ids]),
                ("GET /artists/{id}/similar?limit=5..14 (all ids: computed)", cold[:200_000]),
                ("GET /gmm/clusters/{id}", [f"/api/v1/gmm/clusters/{c}" for c in info["clusters"]]),
            ]
            for conns in [int(c) for c in str(args.connections).split(",")]:
                for name, paths in cases:
                    cpu0 = server_cpu(server.pid)
                    if client == "wrk":
                        r = run_wrk(port, paths, conns, args.seconds, tmp)
                    else:
                        r = run_asyncio(port, paths, conns, args.seconds)
                    # (the warm-up's CPU is included: a slight overestimate)
                    r["server_ms"] = 1000 * (server_cpu(server.pid) - cpu0) / max(1, r["requests"])
                    r["connections"] = conns
                    results.append((name, r))
                    print(
                        f"{conns:3d} conns {name:58s} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.1f} ms  "
                        f"p99 {r['p99_ms']:7.1f} ms  server {r['server_ms']:.3f} ms CPU/req  "
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
    load_end = os.getloadavg()[0]
    cmd = (
        "python bench/api.py"
        + (f" --db-url {args.db_url}" if args.db_url else "")
        + (f" --workers {args.workers}" if args.workers != 1 else "")
        + (f" --client {args.client}" if args.client != "auto" else "")
    )
    gen = (
        "`wrk -t1` (C, one thread) with a Lua script picking a random path per request"
        if client == "wrk"
        else "an asyncio raw-socket client (one Python process)"
    )
    lines = [
        SECTION,
        f"Command: `{cmd}` — {args.artists} artists on {backend} (random 64-D vectors from 8 "
        f"styles), model trained and activated by the pipeline (k = {info['k']}); "
        f"`sonicmap serve --workers {args.workers}`, the load from a second process on loopback: "
        f"{gen}, keep-alive HTTP/1.1 connections ({args.connections}), closed loop, "
        f"{args.seconds:.0f} s per row. Baseline: `/health` (no database) under the same load. "
        f"Server CPU = CPU time of the server process(es) per request; client CPU = share of one "
        f"core used by the load generator. Load average {load:.1f} at start, {load_end:.1f} at "
        f"end (2 cores, shared).",
        "",
        "| connections | endpoint | req/s | p50 ms | p99 ms | server CPU ms/req | client CPU | errors |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results:
        lines.append(
            f"| {r['connections']} | {name} | {r['rps']:.0f} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['server_ms']:.3f} | {100 * r['client_cpu']:.0f} % | "
            f"{r['errors']} |"
        )
    head = next(
        (
            r
            for name, r in results
            if name == SIMILAR and r["connections"] == results[0][1]["connections"]
        ),
        None,
    )
    if head is not None:
        met = head["p99_ms"] <= TARGET_P99_MS and head["errors"] == 0
        lines += [
            "",
            f"Target (similar artists at {head['connections']} connections, p99 <= "
            f"{TARGET_P99_MS:.0f} ms): **{head['p99_ms']:.1f} ms, {'met' if met else 'not met'}**.",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        path = ROOT / "BENCHMARKS.md"
        doc = path.read_text(encoding="utf-8")
        start = doc.index(SECTION)
        nxt = doc.find("\n## ", start + len(SECTION))
        end = len(doc) if nxt < 0 else nxt + 1
        path.write_text(
            doc[:start] + text + ("\n" if nxt >= 0 else "") + doc[end:], encoding="utf-8"
        )


if __name__ == "__main__":
    main()
