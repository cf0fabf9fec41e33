"""The artist map: does it keep neighbours, and what does it add to a training?

Two sets of 64-D artist vectors (unit length, as stored):

* the 60-artist demo library: the vectors ``sonicmap demo --artists 60`` stores (generated,
  scanned and embedded by the real pipeline; an existing demo data folder is reused);
* a 10,000-artist synthetic set: ``sonicmap.clustering.synthetic.correlated_mixture`` (8
  correlated Gaussian components, the generator of ``bench/gmm.py``), rows L2-normalised.

For each: scikit-learn's ``manifold.trustworthiness`` (k = 10, Euclidean = cosine order on
unit vectors) of sonicmap's map (``sonicmap.clustering.map2d.map_layout``) and of PCA's first
two components on the same vectors; the map's wall-clock and CPU time; at 10,000 artists the
GMM fit + predict of a training (``ArtistGmm``, what ``pipeline.clustering.train`` runs) in
the same run, for scale. The machine is shared: compare figures of one run only.

    python bench/map.py [--demo-dir DIR] [--n 10000] [--seeds 3] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.manifold import trustworthiness

from sonicmap.clustering.gmm import ArtistGmm
from sonicmap.clustering.map2d import map_layout
from sonicmap.clustering.synthetic import correlated_mixture

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Artist map (`bench/map.py`)"
TARGET = 0.90


def demo_vectors(folder: Path) -> np.ndarray:
    """The artist vectors of the 60-artist demo (runs ``sonicmap demo`` unless already done)."""
    db = folder / "sonicmap.db"
    if not db.exists():
        env = {k: v for k, v in os.environ.items() if not k.startswith("SONICMAP_")}
        env["SONICMAP_DATA_DIR"] = str(folder)
        exe = str(Path(sys.executable).parent / "sonicmap")
        subprocess.run([exe, "demo", "--artists", "60", "--json"], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    from sonicmap.pipeline import clustering as pc
    from sonicmap.store.db import open_store

    store = open_store(f"sqlite:///{db}", check=False)
    _, X, _ = pc.load_vectors(store, layout_version=pc._layout_version())
    store.dispose()
    return X


def pca2(X: np.ndarray) -> np.ndarray:
    Xc = X - X.mean(axis=0)
    return Xc @ np.linalg.svd(Xc, full_matrices=False)[2][:2].T


def measure(X: np.ndarray, seeds: int) -> dict:
    out = {"n": len(X), "t_map": [], "wall_s": [], "cpu_s": []}
    for seed in range(seeds):
        w, c = time.perf_counter(), time.process_time()
        Y = map_layout(X, seed=seed)
        out["wall_s"].append(time.perf_counter() - w)
        out["cpu_s"].append(time.process_time() - c)
        out["t_map"].append(float(trustworthiness(X, Y, n_neighbors=10)))
    out["t_pca"] = float(trustworthiness(X, pca2(X), n_neighbors=10))
    return out


def gmm_seconds(X: np.ndarray) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    est = ArtistGmm(max_components=10, random_state=0).fit(X)
    est.predict_proba(X)
    return time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo-dir", type=Path, help="data folder of `sonicmap demo --artists 60`")
    ap.add_argument("--n", type=int, default=10_000, help="artists of the synthetic set")
    ap.add_argument("--seeds", type=int, default=3, help="map seeds per set")
    ap.add_argument("--write", action="store_true", help="replace the section of BENCHMARKS.md")
    args = ap.parse_args()

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        demo = demo_vectors(args.demo_dir or Path(tmp))
    X, _ = correlated_mixture(args.n, 8, seed=1)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    rows = [("demo library (`sonicmap demo --artists 60`)", measure(demo, args.seeds))]
    rows.append(
        (f"synthetic, {args.n:,} artists (8 correlated components)", measure(X, args.seeds))
    )
    g_wall, g_cpu = gmm_seconds(X)
    load1 = os.getloadavg()[0]
    print(json.dumps({"rows": rows, "gmm": [g_wall, g_cpu]}), file=sys.stderr)

    lines = [
        SECTION,
        f"Command: `python bench/map.py --seeds {args.seeds}`. Trustworthiness: scikit-learn "
        "`manifold.trustworthiness`, k = 10, on the stored unit vectors (Euclidean order = "
        "cosine order), of sonicmap's map (`map2d.map_layout`, numpy t-SNE with grid/FFT "
        "repulsion, perplexity 10) over "
        f"{args.seeds} seeds and of PCA's first two components on the same vectors. Time: "
        f"`map_layout` alone, fastest of the seeds. 1-min load average {load0:.1f} at the start, "
        f"{load1:.1f} at the end (2 cores, shared): compare figures within this run.",
        "",
        "| vectors | map trustworthiness (min–max) | PCA | map wall s | map CPU s |",
        "|---|---:|---:|---:|---:|",
    ]
    met = True
    for name, r in rows:
        lo, hi = min(r["t_map"]), max(r["t_map"])
        met &= lo >= TARGET and lo > r["t_pca"]
        lines.append(
            f"| {name} | {lo:.3f}–{hi:.3f} | {r['t_pca']:.3f} | {min(r['wall_s']):.2f} | "
            f"{min(r['cpu_s']):.2f} |"
        )
    big = rows[-1][1]
    lines += [
        "",
        f"For scale, in the same run: the GMM fit + predict of a training on the {args.n:,} "
        f"artists took {g_wall:.2f} s wall, {g_cpu:.2f} s CPU; the map adds "
        f"{min(big['cpu_s']):.2f} s CPU ({min(big['wall_s']):.2f} s wall) to a training at this "
        "size. On a shared, loaded machine the CPU time is the steadier figure.",
        "",
        f"Targets: trustworthiness ≥ {TARGET} on both sets and above PCA's: "
        f"**{'met' if met else 'not met'}**.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        path = ROOT / "BENCHMARKS.md"
        doc = path.read_text(encoding="utf-8")
        if SECTION not in doc:
            doc = doc.rstrip("\n") + "\n\n" + SECTION + "\n"
        start = doc.index(SECTION)
        nxt = doc.find("\n## ", start + len(SECTION))
        end = len(doc) if nxt < 0 else nxt + 1
        path.write_text(
            doc[:start] + text + ("\n" if nxt >= 0 else "") + doc[end:], encoding="utf-8"
        )


if __name__ == "__main__":
    main()
