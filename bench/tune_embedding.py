"""Choose the embedding's centres, scales and dimension weights on real recordings (tuning half).

Reproducible: reads the sonicmap descriptors of the ``tune`` half of ``bench/realmusic.py`` (the
cache of ``bench/similarity.py``; analysed if missing), writes
``src/sonicmap/embedding/tuning.json``, which ``sonicmap.embedding.layout`` loads as fixed
constants. The test half is never read.

Procedure, per dimension of the layout with a centre ``c`` and scale ``s``
(``tanh((t − c) / s)`` on the dimension's transformed input ``t``: the value, its log2 or log10,
a list item, a band-group mean, the chroma clarity):

1. ``c`` = the median of ``t`` over the tuning tracks (for log kinds, ``c`` is stored as the value
   whose log is that median), so a typical track encodes to 0 and a missing input is typical;
2. ``s`` = f × the robust standard deviation of ``t`` (interquartile range / 1.349); with f = 2
   the middle half of the tracks spans about ±0.33 and tanh saturates only on outliers.

Then every audio dimension ``d`` gets the weight ``F_d^p``, ``F_d`` its Fisher ratio on the
tuning half (between-artist over within-artist variance of the encoded value): dimensions that
are stable within an artist and differ between artists count more (a diagonal linear
discriminant); the two coordinates of a circle (tempo, key, tonal centroid) share the mean of
their ratios. The stored weight is multiplied by √(block size), which the layout divides by, so
a dimension's final scale is k·F_d^p whatever its block; k makes the squares of the audio
dimensions' scales sum to 5 (the five audio blocks' share when every block weight was 1). The
genre block is left at weight 1 (no genre tags in the tuning set; a track without genre encodes
it to 0).

The exponent p (0.25-1) and the factor f (1-3) are chosen by cross-validation over the tuning
artists: four seeded splits of them into halves, constants fitted on one half and scored on the
other (both ways), score = the mean of same-artist P@5 and MAP; the best mean wins.

Usage::

    python bench/tune_embedding.py [--cache DIR] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realmusic  # noqa: E402
import similarity  # noqa: E402
from sonicmap.analysis.analyze import ANALYSIS_VERSION  # noqa: E402
from sonicmap.embedding import LAYOUT, encode_tracks  # noqa: E402
from sonicmap.embedding.layout import BLOCK_SLICES, TUNING_FILE  # noqa: E402

TUNED_KINDS = (
    "tanh",
    "tanh_log2",
    "tanh_log10",
    "item_tanh",
    "item_tanh_log2",
    "band_tanh",
    "chroma_clarity",
)
LOG2 = ("tanh_log2", "item_tanh_log2")
CIRCLES = (
    ("tempo_circle_cos", "tempo_circle_sin"),
    ("key_fifths_cos", "key_fifths_sin"),
    ("tonnetz_minor3_sin", "tonnetz_minor3_cos"),
)


def _transformed(d, feats: list[dict]) -> np.ndarray:
    """The dimension's input ``t`` for every track (NaN where missing)."""
    k, p = d.kind, d.params
    out = np.full(len(feats), np.nan)
    for i, f in enumerate(feats):
        v = f.get(d.source)
        try:
            if k in ("item_tanh", "item_tanh_log2"):
                x = float(v[p["item"]])
            elif k == "band_tanh":
                groups = np.array_split(np.arange(len(v)), p.get("groups", 3))
                x = float(np.mean([v[j] for j in groups[p["group"]]]))
            elif k == "chroma_clarity":
                c = np.asarray(v, float)
                c = c / c.sum()
                h = -np.sum(np.where(c > 0, c * np.log(np.where(c > 0, c, 1.0)), 0.0))
                x = 1.0 - h / math.log(12.0)
            else:
                x = float(v)
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        if k in LOG2:
            x = math.log2(x) if x > 0 else math.nan
        elif k == "tanh_log10":
            x = math.log10(x) if x > 0 else math.nan
        out[i] = x
    return out


def _sig(x: float) -> float:
    return float(f"{x:.4g}")


def fisher(X: np.ndarray, labels: list[str]) -> np.ndarray:
    """Between-group over within-group variance of each column."""
    lab = np.asarray(labels)
    mu = X.mean(axis=0)
    sb = np.zeros(X.shape[1])
    sw = np.zeros(X.shape[1])
    for a in sorted(set(labels)):
        Y = X[lab == a]
        sb += len(Y) * (Y.mean(axis=0) - mu) ** 2
        sw += ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
    return sb / np.maximum(sw, 1e-12)


AUDIO = [d for d in LAYOUT if d.block != "genre"]
AUDIO_IDX = [d.index for d in AUDIO]
EXPONENTS = (0.25, 0.5, 0.75, 1.0)
"""Candidate exponents p of the Fisher-ratio weights (weight ∝ F^p)."""
SCALE_FACTORS = (1.0, 2.0, 3.0)
"""Candidate factors f of the scales (s = f × robust standard deviation)."""


def _inputs(feats: list[dict]) -> dict[str, np.ndarray]:
    """Each tuned dimension's transformed input for every track."""
    return {d.name: _transformed(d, feats) for d in LAYOUT if d.kind in TUNED_KINDS}


def _centres(T: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, tuple[float, float]]:
    """(median, robust std) of each tuned dimension's input over ``rows``."""
    out = {}
    for name, t in T.items():
        x = t[rows]
        x = x[np.isfinite(x)]
        iqr = float(np.percentile(x, 75) - np.percentile(x, 25))
        out[name] = (float(np.median(x)), max(iqr / 1.349, 1e-6))
    return out


def _encode(E0: np.ndarray, T: dict, stats: dict, factor: float) -> np.ndarray:
    """The audio dimensions encoded with the given centres and scales [shape=(n, n_audio)]."""
    E = E0.copy()
    for d in LAYOUT:
        if d.name in stats:
            med, sd = stats[d.name]
            t = T[d.name]
            E[:, d.index] = np.where(np.isfinite(t), np.tanh((t - med) / (factor * sd)), 0.0)
    return E[:, AUDIO_IDX]


def _fisher_weights(E: np.ndarray, artists: list[str], exponent: float) -> np.ndarray:
    F = fisher(E, artists)
    # the two coordinates of a circle (tempo, key, tonal centroid) share one weight (the mean
    # ratio), or the circle would become an ellipse and distances depend on the position on it
    pos = {d.name: j for j, d in enumerate(AUDIO)}
    for pair in CIRCLES:
        j = [pos[n] for n in pair]
        F[j] = F[j].mean()
    return F


def _score(V: np.ndarray, artists: list[str], albums: list[str]) -> float:
    """Mean of P@5 and MAP (same artist) of cosine rankings."""
    V = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
    m = similarity.rank_metrics(1.0 - V @ V.T, artists, albums)
    return 0.5 * (m["p5"] + m["map"])


def cross_validate(
    feats: list[dict], artists: list[str], albums: list[str], folds: int = 4, seed: int = 0
) -> dict[tuple[float, float], float]:
    """Score of every (exponent, scale factor) on held-out artists: the tuning artists split in
    halves ``folds`` times (seeded), constants fitted on one half, scored on the other, both ways."""
    T = _inputs(feats)
    E0 = encode_tracks(feats)
    names = sorted(set(artists))
    lab = np.asarray(artists)
    rng = np.random.default_rng(seed)
    res: dict[tuple[float, float], list[float]] = {}
    for _ in range(folds):
        half = set(rng.permutation(names)[: len(names) // 2])
        a = np.flatnonzero([x in half for x in artists])
        b = np.flatnonzero([x not in half for x in artists])
        for fit, held in ((a, b), (b, a)):
            stats = _centres(T, fit)
            for factor in SCALE_FACTORS:
                E = _encode(E0, T, stats, factor)
                for p in EXPONENTS:
                    w = _fisher_weights(E[fit], list(lab[fit]), p) ** p
                    sc = _score(E[held] * w, list(lab[held]), [albums[i] for i in held])
                    res.setdefault((p, factor), []).append(sc)
    return {k: float(np.mean(v)) for k, v in res.items()}


def tune(
    feats: list[dict], artists: list[str], exponent: float = 0.5, factor: float = 2.0
) -> dict[str, dict[str, float]]:
    """Centres, scales and weights from all the tuning tracks."""
    T = _inputs(feats)
    stats = _centres(T, np.arange(len(feats)))
    dims: dict[str, dict[str, float]] = {}
    for d in LAYOUT:
        if d.name in stats:
            med, sd = stats[d.name]
            c = 2.0**med if d.kind in LOG2 else (10.0**med if d.kind == "tanh_log10" else med)
            dims[d.name] = {"c": _sig(c), "s": _sig(factor * sd)}
    E = _encode(encode_tracks(feats), T, stats, factor)
    F = _fisher_weights(E, artists, exponent)
    w = F**exponent
    size = {b: sl.stop - sl.start for b, sl in BLOCK_SLICES.items()}
    # the layout divides by √(block size): undo it, so a dimension's scale is ∝ F^p whatever its
    # block; k makes the squared scales of the audio dimensions sum to 5
    k = math.sqrt(5.0 / float((w**2).sum()))
    for j, d in enumerate(AUDIO):
        dims.setdefault(d.name, {})["weight"] = _sig(k * w[j] * math.sqrt(size[d.block]))
        dims[d.name]["fisher"] = _sig(F[j])
    return dims


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cache", help="cache folder (default: $SONICMAP_BENCH_CACHE or ~/.cache)")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    cache = realmusic.cache_dir(args.cache)
    tracks = [t for t in realmusic.ensure(cache) if t.split == "tune"]
    desc = similarity.descriptors(cache, "sonicmap", tracks, args.jobs)
    assert desc is not None
    keep = [i for i, x in enumerate(desc) if "features" in x]
    feats = [desc[i]["features"] for i in keep]
    artists = [tracks[i].artist for i in keep]
    albums = [tracks[i].album for i in keep]
    cv = cross_validate(feats, artists, albums)
    (exponent, factor), best = max(cv.items(), key=lambda kv: (kv[1], -kv[0][0], kv[0][1]))
    for (p, f), sc in sorted(cv.items()):
        print(f"held-out artists: exponent {p:g}, scale factor {f:g}: (P@5 + MAP) / 2 = {sc:.3f}")
    print(f"chosen: exponent {exponent:g}, scale factor {factor:g}")
    dims = tune(feats, artists, exponent, factor)
    TUNING_FILE.write_text(
        json.dumps(
            {
                "about": "written by bench/tune_embedding.py on the tune half of "
                "bench/realmusic.py; see docs/embedding.md",
                "manifest": similarity._manifest_hash(),
                "analysis_version": ANALYSIS_VERSION,
                "tracks": len(feats),
                "fisher_exponent": exponent,
                "scale_factor": factor,
                "cross_validation": {f"{p:g},{f:g}": round(sc, 4) for (p, f), sc in cv.items()},
                "artists": len(set(artists)),
                "dims": dims,
            },
            indent=1,
            sort_keys=True,
            ensure_ascii=False,
        )
        + "\n"
    )
    print(f"wrote {TUNING_FILE.name}: {len(dims)} dimensions from {len(feats)} tracks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
