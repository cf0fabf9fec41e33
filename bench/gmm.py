"""GMM training end to end on SQLite: sonicmap's pipeline vs a naive scikit-learn baseline.

Each measured run is a fresh subprocess on a fresh copy of the database holding n artists with
64-D vectors (a correlated Gaussian mixture with 6 components). It reads the vectors from the
database, selects k over 2..10, fits, and writes one assignment per artist:

* ``sonicmap``: ``sonicmap.pipeline.clustering.train`` (diag, within-cluster whitening + PCA to
  16 dims, BIC on a 1,000-row subsample, refit on ≤ 20,000 rows, float32, bulk inserts);
* ``naive``: ``sklearn.mixture.GaussianMixture(covariance_type="full")`` on the raw float64
  vectors, refitted on all rows for every k, best BIC kept, assignments written with the same
  bulk insert. Stopped after ``--budget`` seconds (reported as "> X s (stopped)").

Time is wall-clock of the whole operation; peak RSS growth is the process's peak resident size
at the end minus its resident size just before the training (after the imports). The sonicmap
run is repeated ``--repeat`` times (fresh process and database copy each) and the fastest is
reported with the slowest in brackets: this machine is shared and its load changes by minutes.

``--compare SRC [SRC ...]`` times sonicmap's training only, from each given source tree (its
``src`` folder, put first on ``PYTHONPATH``), the trees alternated run by run (the order rotated
each round) so that they share the machine's load; it reports wall-clock and CPU time (user +
system of the training) per tree, with one BLAS thread (idle BLAS threads spin on a loaded
machine, which makes CPU time noise), and the naive baseline is not run. For a code
change (the tree before it against the tree after it) on a shared machine.

    python bench/gmm.py [--sizes 1000 10000 100000] [--budget 300]
    python bench/gmm.py --compare ../before/src src [--sizes ...] [--repeat 7]
    python bench/gmm.py --compare ../before/src src --instructions --sizes 1000

``--instructions`` counts, instead of timing, the instructions each tree's training executes
(valgrind's callgrind: a run minus a run that stops just before the training), once per tree:
a figure the machine's load does not move, for a change that should not change the work done.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
mode, url, budget = sys.argv[1], sys.argv[2], float(sys.argv[3])
import numpy as np
from sonicmap.store.db import open_store
from sonicmap.config import AppConfig, load_settings, parse_gmm_config
from sonicmap.pipeline import clustering as pc
from sklearn.mixture import GaussianMixture

import psutil
import sonicmap, sonicmap.embedding, sonicmap.pipeline.maintenance  # imports are not the training's memory

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

store = open_store(url, check=False, init_if_new=False)
with store.engine.begin() as c:  # --compare: an older tree reads its own layout version
    stored = c.exec_driver_sql("SELECT layout_version FROM artist_embeddings LIMIT 1").scalar()
    if stored != sonicmap.embedding.LAYOUT_VERSION:
        c.exec_driver_sql("UPDATE artist_embeddings SET layout_version = ?",
                          (sonicmap.embedding.LAYOUT_VERSION,))
base = psutil.Process().memory_info().rss / 2**20  # resident now, before the training
t0, c0 = time.perf_counter(), time.process_time()
out = {"mode": mode, "package": sonicmap.__file__}
if mode == "setup":  # --instructions: everything but the training, to subtract
    print(json.dumps(out))
    sys.exit(0)
if mode == "sonicmap":
    gmm = parse_gmm_config({"gmm_clustering": {"auto_queue": {"min_artists": 50, "max_components": 10}}})
    cfg = AppConfig(settings=load_settings({}), gmm=gmm)
    res = pc.train(store, cfg, force=True)
    out.update(k=res.k, stopped=False, n_artists=res.n_artists)
else:
    from datetime import UTC, datetime
    from sonicmap.store.schema import GmmModel
    ids, X, _ = pc.load_vectors(store, layout_version=pc._layout_version())
    X64 = X.astype(np.float64)
    best, stopped = None, False
    for k in range(2, 11):
        if time.perf_counter() - t0 > budget:
            stopped = True
            break
        gm = GaussianMixture(k, covariance_type="full", random_state=0).fit(X64)
        bic = gm.bic(X64)
        if best is None or bic < best[0]:
            best = (bic, gm)
    probs = best[1].predict_proba(X64).astype(np.float32)
    with store.session() as s:
        row = GmmModel(status="archived", format_version=0, trigger="manual", params={})
        s.add(row); s.flush()
        pc._write_assignments(s, row.id, ids, probs, np.arange(probs.shape[1]), datetime.now(UTC))
    out.update(k=int(best[1].n_components), stopped=stopped, n_artists=len(ids))
out["seconds"] = time.perf_counter() - t0
out["cpu_seconds"] = time.process_time() - c0
out["rss_growth_mb"] = peak_mb() - base
print(json.dumps(out))
"""


def build_db(path: Path, n: int) -> None:
    import numpy as np
    from sqlalchemy import insert

    from sonicmap.clustering.synthetic import correlated_mixture
    from sonicmap.embedding import LAYOUT_VERSION
    from sonicmap.store.db import open_store
    from sonicmap.store.schema import Artist, ArtistEmbedding

    X, _ = correlated_mixture(n, 6, seed=n)
    store = open_store(f"sqlite:///{path}")
    with store.session() as s:
        for start in range(0, n, 10000):
            idx = range(start, min(n, start + 10000))
            s.execute(
                insert(Artist), [{"id": i + 1, "key": f"name:a{i}", "name": f"A{i}"} for i in idx]
            )
            s.execute(
                insert(ArtistEmbedding),
                [
                    {"artist_id": i + 1, "layout_version": LAYOUT_VERSION,
                     "vector": np.asarray(X[i], "<f4").tobytes(), "n_tracks": 5}
                    for i in idx
                ],
            )  # fmt: skip
    with store.engine.connect() as c:  # fold the WAL into the file: the runs copy the file only
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.dispose()


def run(
    mode: str,
    db: Path,
    workdir: Path,
    budget: float,
    src: Path | None = None,
    instructions: bool = False,
) -> dict:
    copy = workdir / f"{mode}.db"
    shutil.copyfile(db, copy)
    env = dict(os.environ)
    if src is not None:  # this tree's sonicmap ahead of the installed one
        # one BLAS thread: on a loaded machine idle BLAS threads spin, and their CPU time is noise
        env.update({v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
        env["PYTHONHASHSEED"] = "0"
    cmd = [sys.executable, "-c", CHILD, mode, f"sqlite:///{copy}", str(budget)]
    if instructions:  # count the instructions the process executes (independent of the load)
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    copy.unlink()
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if instructions:
        found = re.search(r"Collected : (\d+)", proc.stderr)
        if not found:
            raise SystemExit(f"no instruction count from valgrind:\n{proc.stderr[-3000:]}")
        res["instructions"] = int(found.group(1))
    if src is not None and not Path(res["package"]).resolve().is_relative_to(src):
        raise SystemExit(f"the run for {src} imported sonicmap from {res['package']}")
    return res


def check(res: dict, n: int) -> dict:
    if res["n_artists"] != n:
        raise SystemExit(f"{res['mode']} saw {res['n_artists']} artists, expected {n}")
    return res


def count_instructions(sizes: list[int], srcs: list[Path]) -> None:
    """Instructions of the training of each source tree (a run minus a run that stops just
    before the training), under callgrind: one row per (size, tree)."""
    print("| artists | tree | instructions of the training | vs tree 0 |")
    print("|---:|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in sizes:
            db = work / f"artists-{n}.db"
            build_db(db, n)
            base = None
            for i, src in enumerate(srcs):
                setup = run("setup", db, work, 0.0, src, instructions=True)["instructions"]
                full = check(run("sonicmap", db, work, 0.0, src, instructions=True), n)
                ir = full["instructions"] - setup
                base = base or ir
                print(
                    f"| {n:,} | {i}: {srcs[i]} | {ir:,} | {(ir / base - 1) * 100:+.3f} % |",
                    flush=True,
                )


def compare(sizes: list[int], srcs: list[Path], repeat: int) -> None:
    """Time the training of each source tree, alternated; print one row per (size, tree)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in sizes:
            db = work / f"artists-{n}.db"
            build_db(db, n)
            runs: dict[Path, list[dict]] = {src: [] for src in srcs}
            for r in range(repeat):
                order = srcs[r % len(srcs) :] + srcs[: r % len(srcs)]
                for src in order:
                    runs[src].append(check(run("sonicmap", db, work, 0.0, src), n))
            for i, src in enumerate(srcs):
                wall = sorted(x["seconds"] for x in runs[src])
                cpu = sorted(x["cpu_seconds"] for x in runs[src])
                ks = sorted({x["k"] for x in runs[src]})
                rows.append((n, i, wall, cpu, ks))
                print(json.dumps({"n": n, "src": str(src), "wall": wall, "cpu": cpu, "k": ks}),
                      file=sys.stderr, flush=True)  # fmt: skip
    print("| artists | tree | CPU median (min–max) | wall median (min–max) | k | CPU vs tree 0 |")
    print("|---:|---|---:|---:|---:|---:|")
    base: dict[int, float] = {}
    for n, i, wall, cpu, ks in rows:
        med = statistics.median(cpu)
        base.setdefault(n, med)
        print(
            f"| {n:,} | {i}: {srcs[i]} | {med:.3f} s ({cpu[0]:.3f}–{cpu[-1]:.3f}) | "
            f"{statistics.median(wall):.3f} s ({wall[0]:.3f}–{wall[-1]:.3f}) | "
            f"{'/'.join(map(str, ks))} | {(med / base[n] - 1) * 100:+.1f} % |"
        )
    print(
        f"\nmachine: {os.cpu_count()} cores, load {os.getloadavg()}; {repeat} runs per tree, one BLAS thread"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--budget", type=float, default=300.0, help="naive baseline cap, seconds")
    ap.add_argument("--repeat", type=int, default=3, help="sonicmap runs per size (fastest kept)")
    ap.add_argument(
        "--compare",
        type=Path,
        nargs="+",
        metavar="SRC",
        help="source trees (src folders) whose training is timed in alternation, no baseline",
    )
    ap.add_argument(
        "--instructions",
        action="store_true",
        help="with --compare: count the training's instructions under valgrind instead of timing",
    )
    args = ap.parse_args()
    if args.compare and args.instructions:
        count_instructions(args.sizes, [p.resolve() for p in args.compare])
        return
    if args.compare:
        print(f"load at start {os.getloadavg()}", file=sys.stderr)
        compare(args.sizes, [p.resolve() for p in args.compare], args.repeat)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in args.sizes:
            db = work / f"artists-{n}.db"
            build_db(db, n)
            runs = [check(run("sonicmap", db, work, args.budget), n) for _ in range(args.repeat)]
            ours = min(runs, key=lambda r: r["seconds"])
            ours["slowest"] = max(r["seconds"] for r in runs)
            ours["rss_growth_mb"] = max(r["rss_growth_mb"] for r in runs)
            naive = check(run("naive", db, work, args.budget), n)
            rows.append({"n": n, "sonicmap": ours, "naive": naive})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(
        "| artists | sonicmap | peak RSS growth | k | naive full-cov baseline | peak RSS growth | k | speed-up |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        o, b = r["sonicmap"], r["naive"]
        bt = f"> {b['seconds']:.1f} s (stopped)" if b["stopped"] else f"{b['seconds']:.2f} s"
        ratio = b["seconds"] / o["seconds"]
        sp = f"> {ratio:.0f}×" if b["stopped"] else f"{ratio:.0f}×"
        print(
            f"| {r['n']:,} | {o['seconds']:.2f} s ({o['slowest']:.2f}) | "
            f"{o['rss_growth_mb']:.0f} MB | {o['k']} | "
            f"{bt} | {b['rss_growth_mb']:.0f} MB | {b['k']} | {sp} |"
        )
    print(f"\nmachine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; peak RSS of this "
          f"driver {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t:.0f} s", file=sys.stderr)
