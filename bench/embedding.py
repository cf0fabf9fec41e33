"""Embedding benchmark: building track vectors, and similar-track query latency.

(a) Vectors for N tracks from stored descriptors: descriptor dicts (every descriptor of
    ``sonicmap.analysis.features.FEATURES`` plus genre tags) as the store hands them over, i.e.
    each decoded by its own ``json.loads`` like the ``track_features.features`` JSON column (the
    decode itself is timed separately, not in the rate). The batched, vectorised ``embed_tracks``
    next to the baseline of calling it once per track in a Python loop (the same formulas, one
    track at a time), in the same run; also the batch on the generated dicts before the JSON
    round trip (their floats sit column by column in memory, friendlier to the CPU caches than
    decoded dicts: the input of earlier runs of this benchmark). Also the full
    ``refresh_embeddings`` from the database (JSON decode + embed + write) for reference.
(b) ``similar_tracks`` end to end (k=10, and k=10 with ``max_per_album=1``) on SQLite + sqlite-vec
    holding N tracks: latency p50/p99 over random seeds, next to the raw vector-index k-NN and an
    in-memory numpy brute force (the floor) in the same run.

Run: ``python bench/embedding.py --tracks 100000 --queries 200`` (prints a Markdown section).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

from sonicmap.embedding import embed_tracks
from sonicmap.pipeline import embeddings as pe
from sonicmap.store.db import open_store
from sonicmap.store.schema import Album, Artist, Track, TrackFeatures
from sonicmap.store.vectors import open_index

GENRES = [
    "rock",
    "death metal",
    "synthpop",
    "techno",
    "hip hop",
    "jazz",
    "folk",
    "dub",
    "soul",
    "blues",
    "classical",
    "salsa",
    "pop",
    "ambient",
    "punk",
    "unknown-tag",
]
PITCHES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def fake_descriptors(n: int, seed: int = 0) -> tuple[list[dict[str, Any]], list[list[str]]]:
    """``n`` descriptor dicts shaped like ``analyze_file`` output (plausible random values)."""
    rng = np.random.default_rng(seed)

    def u(lo: float, hi: float) -> list[float]:
        return rng.uniform(lo, hi, n).round(4).tolist()

    cols: dict[str, list[Any]] = {
        "duration_s": u(60, 600),
        "bpm": u(60, 190),
        "bpm_confidence": u(0, 1),
        "pulse_strength": u(0, 1),
        "onset_rate": u(0.5, 8),
        "danceability": u(0, 1),
        "dfa_danceability": u(0.8, 3),
        "key_strength": u(0.5, 0.95),
        "tuning_cents": u(-20, 20),
        "loudness_lufs": u(-30, -5),
        "loudness_range_lu": u(0.2, 15),
        "dynamic_complexity": u(0.2, 6),
        "rms_mean_db": u(-30, -6),
        "rms_std_db": u(1, 6),
        "spectral_centroid_hz": u(300, 3000),
        "spectral_centroid_std_hz": u(50, 1000),
        "spectral_bandwidth_hz": u(300, 2500),
        "spectral_rolloff_hz": u(100, 3000),
        "spectral_flatness": (10 ** rng.uniform(-4, -1, n)).tolist(),
        "spectral_flux": u(0.2, 3),
        "hf_ratio": u(0, 0.2),
        "zcr": u(0.02, 0.3),
        "speech_modulation": u(0.05, 0.8),
        **{
            k: u(0, 1)
            for k in (
                "energy",
                "valence",
                "acousticness",
                "instrumentalness",
                "speechiness",
                "mood_happy",
                "mood_aggressive",
                "mood_party",
                "mood_relaxed",
            )
        },
    }
    keys = rng.integers(0, 12, n).tolist()
    modes = np.where(rng.random(n) < 0.4, "minor", "major").tolist()
    chroma = rng.dirichlet(np.ones(12), n).round(5).tolist()
    contrast = rng.uniform(10, 45, (n, 6)).round(3).tolist()
    mfcc_m = (rng.normal(0, 3, (n, 13)) + np.r_[-33.0, 15.0, np.zeros(11)]).round(3).tolist()
    mfcc_s = rng.uniform(0.5, 8, (n, 13)).round(3).tolist()
    names = list(cols)
    feats = []
    for i in range(n):
        f = {k: cols[k][i] for k in names}
        f.update(
            key=PITCHES[keys[i]],
            key_index=keys[i],
            mode=modes[i],
            chroma=chroma[i],
            spectral_contrast=contrast[i],
            mfcc_mean=mfcc_m[i],
            mfcc_std=mfcc_s[i],
            analysed_s=f["duration_s"],
            truncated=False,
        )
        feats.append(f)
    g = rng.integers(0, len(GENRES), (n, 2))
    genres = [[GENRES[a]] if a == b else [GENRES[a], GENRES[b]] for a, b in g.tolist()]
    return feats, genres


def as_stored(
    feats: list[dict], genres: list[list[str]]
) -> tuple[list[dict], list[list[str]], float]:
    """The dicts as the store returns them: each one JSON-encoded and decoded on its own (the
    ``track_features.features`` / ``tracks.tags`` JSON columns, one ``json.loads`` per row), and
    the seconds the descriptor decodes took."""
    blobs = [json.dumps(f) for f in feats]
    t0 = time.perf_counter()
    decoded = [json.loads(b) for b in blobs]
    decode_s = time.perf_counter() - t0
    return decoded, [json.loads(s) for s in map(json.dumps, genres)], decode_s


def time_batch(feats: list[dict], genres: list[list[str]], repeats: int) -> tuple[float, float]:
    """Best-of-``repeats`` wall and CPU seconds of ``embed_tracks`` on the whole batch."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        v = embed_tracks(feats, genres)
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    assert v.shape == (len(feats), 64) and np.isfinite(v).all()
    return wall, cpu


def bench_build(
    feats: list[dict],
    genres: list[list[str]],
    generated: tuple[list[dict], list[list[str]]],
    *,
    loop_n: int,
    repeats: int,
) -> dict:
    """Best-of-``repeats`` wall and CPU time of the batch (on the stored dicts, and on the
    ``generated`` ones); the per-track loop on ``loop_n`` stored dicts."""
    embed_tracks(feats[:100], genres[:100])  # load the taxonomy, warm caches
    wall, cpu = time_batch(feats, genres, repeats)
    gen_wall, gen_cpu = time_batch(*generated, repeats)
    m = min(loop_n, len(feats))
    t0, c0 = time.perf_counter(), time.process_time()
    for f, g in zip(feats[:m], genres[:m], strict=True):
        embed_tracks([f], [g])
    loop_wall, loop_cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(feats)
    return {
        "n": n,
        "batch_s": wall,
        "batch_rate": n / wall,
        "batch_cpu_rate": n / cpu,
        "gen_rate": n / gen_wall,
        "gen_cpu_rate": n / gen_cpu,
        "loop_n": m,
        "loop_rate": m / loop_wall,
        "loop_cpu_rate": m / loop_cpu,
    }


def fill_store(store: Any, feats: list[dict], genres: list[list[str]]) -> None:
    n = len(feats)
    n_artists = max(1, n // 10)
    with store.session() as ses:
        ses.execute(
            insert(Artist),
            [{"id": a + 1, "key": f"name:a{a}", "name": f"Artist {a}"} for a in range(n_artists)],
        )
        ses.execute(
            insert(Album),
            [{"id": a + 1, "key": f"al{a}", "title": f"Album {a}"} for a in range(n_artists * 2)],
        )
        for start in range(0, n, 20000):
            rows = range(start, min(n, start + 20000))
            ses.execute(
                insert(Track),
                [
                    {
                        "id": i + 1,
                        "path": f"/music/{i // 10}/{i}.flac",
                        "size": 1,
                        "mtime": 0.0,
                        "duration_s": feats[i]["duration_s"],
                        "artist_id": i // 10 + 1,
                        "album_id": i // 5 + 1,
                        "tags": {"genres": genres[i]},
                        "status": "analysed",
                    }
                    for i in rows
                ],
            )
            ses.execute(
                insert(TrackFeatures),
                [
                    {"track_id": i + 1, "analysis_version": 1, "features": feats[i], "sources": {}}
                    for i in rows
                ],
            )


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def bench_queries(store: Any, n: int, queries: int, seed: int = 1) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    seeds = (rng.integers(0, n, queries) + 1).tolist()
    index = open_index(store)
    # in-memory floor: all vectors loaded once, one mat-vec per query
    from sqlalchemy import select

    from sonicmap.store.schema import TrackEmbedding

    with store.session() as ses:
        rows = ses.execute(
            select(TrackEmbedding.track_id, TrackEmbedding.vector).order_by(TrackEmbedding.track_id)
        ).all()
    ids = np.array([r[0] for r in rows])
    mat = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(-1, 64)
    pos = {int(i): j for j, i in enumerate(ids)}

    def numpy_knn(tid: int) -> None:
        q = mat[pos[tid]]
        s = np.einsum("ij,j->i", mat, q)  # one thread (a BLAS pool fights other work for cores)
        s[pos[tid]] = -np.inf
        top = np.argpartition(-s, 10)[:10]
        ids[top[np.argsort(-s[top])]]

    cases = {
        "numpy in-memory brute force (floor)": numpy_knn,
        "vector index knn (sqlite-vec)": lambda t: index.knn_by_id("track", t, 10),
        "similar_tracks k=10": lambda t: pe.similar_tracks(store, t, 10),
        "similar_tracks k=10, max_per_album=1": lambda t: pe.similar_tracks(
            store, t, 10, max_per_album=1
        ),
    }
    out = {}
    for name, fn in cases.items():
        for t in seeds[:5]:  # warm caches
            fn(t)
        lat, cpu = [], []
        for t in seeds:
            t0, c0 = time.perf_counter(), time.process_time()
            fn(t)
            lat.append((time.perf_counter() - t0) * 1000.0)
            cpu.append((time.process_time() - c0) * 1000.0)
        out[name] = {
            "p50": pct(lat, 50),
            "p99": pct(lat, 99),
            "mean": statistics.fmean(lat),
            "cpu_p50": pct(cpu, 50),
            "cpu_p99": pct(cpu, 99),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument(
        "--loop-tracks",
        type=int,
        default=10_000,
        help="tracks for the per-track loop baseline (its rate is per track)",
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temp file)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    load_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    generated = fake_descriptors(args.tracks)
    print(
        f"generated {args.tracks} descriptor dicts in {time.perf_counter() - t0:.1f}s",
        file=sys.stderr,
    )
    feats, genres, decode_s = as_stored(*generated)
    build = bench_build(feats, genres, generated, loop_n=args.loop_tracks, repeats=args.repeats)
    del generated
    build["decode_s"] = decode_s
    print(build, file=sys.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.db"
        store = open_store(f"sqlite:///{db}")
        t0 = time.perf_counter()
        fill_store(store, feats, genres)
        print(f"filled store in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        del feats, genres
        t0 = time.perf_counter()
        pe.refresh_embeddings(store, None)
        refresh_s = time.perf_counter() - t0
        print(f"refresh_embeddings {refresh_s:.1f}s", file=sys.stderr)
        q = bench_queries(store, args.tracks, args.queries)
        store.dispose()

    cmd = "python bench/embedding.py " + " ".join(
        f"--{k.replace('_', '-')} {v}"
        for k, v in (
            ("tracks", args.tracks),
            ("queries", args.queries),
            ("loop_tracks", args.loop_tracks),
            ("repeats", args.repeats),
        )
    )
    lines = [
        "## Embedding (`bench/embedding.py`)",
        "",
        f"Command: `{cmd}` (Python {platform.python_version()}, numpy {np.__version__}; "
        f"1-min load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, "
        f"on {os.cpu_count()} cores).",
        "",
        f"**(a) Track vectors from stored descriptors** ({build['n']:,} tracks, every "
        "analysis descriptor + 1-2 genre tags each, as the store returns them: one `json.loads` "
        f"per track, {build['decode_s']:.1f} s for all, not counted in the rates; best of "
        f"{args.repeats}):",
        "",
        "| method | tracks/s (wall) | tracks/s (CPU time) | vs loop |",
        "|---|---|---|---|",
        f"| per-track Python loop (`embed_tracks([f], [g])` × {build['loop_n']:,}, baseline) "
        f"| {build['loop_rate']:,.0f} | {build['loop_cpu_rate']:,.0f} | 1.0× |",
        f"| batched, vectorised `embed_tracks` ({build['batch_s'] * 1000:.0f} ms for all) "
        f"| {build['batch_rate']:,.0f} | {build['batch_cpu_rate']:,.0f} "
        f"| {build['batch_rate'] / build['loop_rate']:.0f}× |",
        "| same batch on the generated dicts before the JSON round trip (floats laid out column "
        f"by column; the input of earlier runs) | {build['gen_rate']:,.0f} "
        f"| {build['gen_cpu_rate']:,.0f} | {build['gen_rate'] / build['loop_rate']:.0f}× |",
        "",
        f"Target ≥ 200,000 tracks/s: wall-clock **{'met' if build['batch_rate'] >= 200_000 else 'NOT met'}**, "
        f"CPU time **{'met' if build['batch_cpu_rate'] >= 200_000 else 'NOT met'}**. "
        f"For reference, `refresh_embeddings` on the SQLite store (JSON decode + embed + write "
        f"{args.tracks:,} track and {args.tracks // 10:,} artist vectors): {refresh_s:.1f} s.",
        "",
        f"**(b) Similar-track queries** on SQLite + sqlite-vec with {args.tracks:,} track vectors, "
        f"{args.queries} random seeds (ms):",
        "",
        "| query | p50 | p99 | mean | CPU-time p50 | CPU-time p99 |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in q.items():
        lines.append(
            f"| {name} | {r['p50']:.2f} | {r['p99']:.2f} | {r['mean']:.2f} "
            f"| {r['cpu_p50']:.2f} | {r['cpu_p99']:.2f} |"
        )
    p50 = q["similar_tracks k=10"]["p50"]
    cpu50 = q["similar_tracks k=10"]["cpu_p50"]
    lines += [
        "",
        f"Target p50 ≤ 10 ms for `similar_tracks`: wall-clock p50 {p50:.2f} ms "
        f"(**{'met' if p50 <= 10 else 'NOT met'}**), CPU-time p50 {cpu50:.2f} ms "
        f"(**{'met' if cpu50 <= 10 else 'NOT met'}**). Wall-clock figures include waiting for a "
        "core on this shared machine (see the load average above); CPU time is what a query "
        "costs.",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
