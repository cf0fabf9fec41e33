"""Track vectors from descriptor dicts, in batches (vectorised numpy, one column at a time).

:func:`encode_tracks` evaluates the formulas of :data:`sonicmap.embedding.layout.LAYOUT` (centred
values, missing → 0.0 = the neutral input); :func:`embed_tracks` applies the block weights and
L2-normalises. Extraction pulls each descriptor for all tracks at once with C-level helpers
(``operator.itemgetter`` over the batch, ``numpy.fromiter``) and falls back to a tolerant per-value
path only for columns with missing, ``None`` or malformed values.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from sonicmap.embedding.genres import genre_matrix
from sonicmap.embedding.layout import (
    BLOCK_SLICES,
    DIM,
    LAYOUT,
    MODE_HALF_GAP,
    TEMPO_OCTAVE_WEIGHT,
    TEMPO_REF_BPM,
    TONNETZ_CIRCLES,
    TONNETZ_GAIN,
    block_scale,
)
from sonicmap.errors import SonicmapError

log = logging.getLogger(__name__)

_PITCH = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_MODE_VALUE = {
    "major": MODE_HALF_GAP,
    "maj": MODE_HALF_GAP,
    "minor": -MODE_HALF_GAP,
    "min": -MODE_HALF_GAP,
}
_TWO_PI = 2.0 * math.pi
_LOG12 = math.log(12.0)


def key_index_of(name: Any) -> float:
    """Pitch class 0-11 of a key name ("C", "F#", "Bb", "c#"), NaN when it is not one."""
    if not isinstance(name, str) or not name.strip():
        return math.nan
    s = name.strip()
    base = _PITCH.get(s[0].upper())
    if base is None:
        return math.nan
    rest = s[1:].strip().lower()
    if rest in ("", "m", "maj", "min", "major", "minor"):
        return float(base)
    if rest[0] in "#♯":
        return float((base + 1) % 12)
    if rest[0] in "b♭":
        return float((base - 1) % 12)
    return math.nan


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        return float(v)
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


def _mode_column(features: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Mode as +0.5 (major) / -0.5 (minor) / 0.0 (missing or unknown).

    Returns
    -------
    np.ndarray [shape=(n,), float64]
    """
    try:
        out = np.array(
            list(map(_MODE_VALUE.get, map(itemgetter("mode"), features))), dtype=np.float64
        )
    except (KeyError, TypeError):  # a missing key or an unhashable value
        out = np.full(len(features), np.nan)
    for i in np.flatnonzero(np.isnan(out)):  # tolerant path: "Minor", " major ", missing
        m = features[i].get("mode")
        v = _MODE_VALUE.get(m.strip().lower()) if isinstance(m, str) else None
        out[i] = np.nan if v is None else v
    return out


def _scalar_columns(features: Sequence[Mapping[str, Any]], names: Sequence[str]) -> np.ndarray:
    """Columns of scalar descriptors. NaN where missing or malformed.

    Returns
    -------
    np.ndarray [shape=(n, len(names)), float64]
    """
    n, m = len(features), len(names)
    if n == 0:
        return np.empty((0, m))
    try:  # fast path: every dict has every key, every value converts
        rows = list(map(itemgetter(*names), features))
        out = np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=n * m).reshape(n, m)
    except (KeyError, TypeError, ValueError):
        out = np.empty((n, m))
        for j, name in enumerate(names):
            vals = [f.get(name) for f in features]
            try:
                out[:, j] = np.array(vals, dtype=np.float64)
            except (TypeError, ValueError):
                out[:, j] = [_to_float(v) for v in vals]
    out[~np.isfinite(out)] = np.nan
    return out


def _list_column(
    features: Sequence[Mapping[str, Any]], name: str, length: int | None
) -> np.ndarray:
    """A list-valued descriptor for all tracks; rows of NaN where missing or of another length.

    ``length=None``: the most common length in the batch.

    Returns
    -------
    np.ndarray [shape=(n, length), float64]
    """
    n = len(features)
    try:
        col = list(map(itemgetter(name), features))
        lens = set(map(len, col))
        if len(lens) == 1 and (length is None or length in lens):
            L = lens.pop()
            out = np.fromiter(chain.from_iterable(col), dtype=np.float64, count=n * L).reshape(n, L)
            out[~np.isfinite(out)] = np.nan
            return out
    except (KeyError, TypeError, ValueError):
        pass
    col = [f.get(name) for f in features]
    if length is None:
        counts: dict[int, int] = {}
        for v in col:
            if isinstance(v, list | tuple):
                counts[len(v)] = counts.get(len(v), 0) + 1
        length = max(counts, key=counts.__getitem__) if counts else 0
    out = np.full((n, length), np.nan)
    for i, v in enumerate(col):
        if isinstance(v, list | tuple | np.ndarray) and len(v) == length:
            out[i] = [_to_float(x) for x in v]
    return out


# Scalar descriptors read by generic formulas (everything but bpm/key/mode/lists/genres).
_GENERIC = [d for d in LAYOUT if d.kind in ("score", "tanh", "tanh_log2", "tanh_log10")]
_SCALAR_NAMES = sorted({d.source for d in _GENERIC} | {"bpm", "key_index"})
_COL = {name: j for j, name in enumerate(_SCALAR_NAMES)}


def _generic(d: Any, x: np.ndarray) -> np.ndarray:
    p = d.params
    with np.errstate(invalid="ignore", divide="ignore"):
        if d.kind == "score":
            return 2.0 * np.clip(x, 0.0, 1.0) - 1.0
        if d.kind == "tanh":
            return np.tanh((x - p["c"]) / p["s"])
        if d.kind == "tanh_log2":
            return np.tanh(np.log2(np.where(x > 0, x, np.nan) / p["c"]) / p["s"])
        if d.kind == "tanh_log10":
            return np.tanh(np.log10(np.where(x > 0, x, np.nan) / p["c"]) / p["s"])
    raise SonicmapError(f"unknown dimension kind {d.kind!r}")


def encode_tracks(
    features: Sequence[Mapping[str, Any]],
    genres: Sequence[Sequence[str] | str | None] | None = None,
) -> np.ndarray:
    """Evaluate the layout's formulas for a batch of tracks (no weights, no normalisation).

    Parameters
    ----------
    features : sequence of mappings
        Descriptor dicts with the names of ``docs/contracts.md`` (any subset; missing, ``None``
        or non-finite values take the dimension's neutral input).
    genres : sequence of genre-tag lists (or None per track), optional
        Same length as ``features``.

    Returns
    -------
    np.ndarray [shape=(n, 64), float64], every value finite; 0.0 = neutral.
    """
    n = len(features)
    if genres is not None and len(genres) != n:
        raise SonicmapError(
            f"embed: got {n} feature dicts but {len(genres)} genre lists; expected one per track"
        )
    if n == 0:
        return np.zeros((0, DIM), dtype=np.float64)
    # built dimension-major (each dimension a contiguous row), returned transposed
    out = np.zeros((DIM, n), dtype=np.float64)
    S = _scalar_columns(features, _SCALAR_NAMES).T.copy()

    for d in _GENERIC:
        out[d.index] = _generic(d, S[_COL[d.source]])

    # tempo on the octave circle
    bpm = S[_COL["bpm"]]
    with np.errstate(invalid="ignore", divide="ignore"):
        octv = np.log2(np.where(bpm > 0, bpm, np.nan) / TEMPO_REF_BPM)
    ang = _TWO_PI * octv
    by_kind = {d.kind: d.index for d in LAYOUT}
    out[by_kind["tempo_cos"]] = np.cos(ang)
    out[by_kind["tempo_sin"]] = np.sin(ang)
    out[by_kind["tempo_octave"]] = TEMPO_OCTAVE_WEIGHT * np.tanh(octv)

    # key on the circle of fifths (minor keys at their relative major) + mode
    key = S[_COL["key_index"]]
    bad = ~((key >= 0) & (key < 12) & (key == np.round(key)))
    if bad.any():
        names = [features[i].get("key") for i in np.flatnonzero(bad)]
        key[bad] = [key_index_of(k) for k in names]
    mode = _mode_column(features)
    # angle of the major reading (q = 7·key) and of the minor reading (relative major, key + 3)
    a_major = _TWO_PI * np.mod(7.0 * key, 12.0) / 12.0
    a_minor = _TWO_PI * np.mod(7.0 * (key + 3.0), 12.0) / 12.0
    w_major = np.where(mode > 0, 1.0, np.where(mode < 0, 0.0, 0.5))  # unknown mode: both halves
    out[by_kind["key_cos"]] = w_major * np.cos(a_major) + (1 - w_major) * np.cos(a_minor)
    out[by_kind["key_sin"]] = w_major * np.sin(a_major) + (1 - w_major) * np.sin(a_minor)
    out[by_kind["mode"]] = mode

    # chroma: tonal centroid on the circles of thirds, and clarity (1 − normalised entropy)
    chroma = _list_column(features, "chroma", 12)
    chroma = np.where(chroma >= 0, chroma, np.nan)
    total = chroma.sum(axis=1, keepdims=True)
    ok = np.isfinite(total[:, 0]) & (total[:, 0] > 0)
    c = np.where(ok[:, None], chroma / np.where(ok[:, None], total, 1.0), np.nan)
    pcs = np.arange(12)
    for d in LAYOUT:
        if d.kind == "tonnetz":
            step, radius = TONNETZ_CIRCLES[d.params["circle"]]
            fn = np.sin if d.params["fn"] == "sin" else np.cos
            out[d.index] = np.tanh(TONNETZ_GAIN * (c @ fn(pcs * step)) / radius)
        elif d.kind == "chroma_clarity":
            with np.errstate(invalid="ignore", divide="ignore"):
                h = -np.nansum(np.where(c > 0, c * np.log(c), 0.0), axis=1) / _LOG12
            h = np.where(ok, h, np.nan)
            out[d.index] = np.tanh((1.0 - h - d.params["c"]) / d.params["s"])

    # list descriptors: single items and band groups
    lists: dict[str, np.ndarray] = {}
    for d in LAYOUT:
        if d.kind == "item_tanh":
            arr = lists.get(d.source)
            if arr is None:
                arr = lists[d.source] = _list_column(features, d.source, None)
            i = d.params["item"]
            x = arr[:, i] if arr.shape[1] > i else np.full(n, np.nan)
            out[d.index] = np.tanh((x - d.params["c"]) / d.params["s"])
        elif d.kind == "band_tanh":
            arr = lists.get(d.source)
            if arr is None:
                arr = lists[d.source] = _list_column(features, d.source, None)
            groups = np.array_split(np.arange(arr.shape[1]), 3)
            g = groups[d.params["group"]]
            with np.errstate(invalid="ignore"):
                x = arr[:, g].mean(axis=1) if len(g) else np.full(n, np.nan)
            out[d.index] = np.tanh((x - d.params["c"]) / d.params["s"])

    # genre block
    gsl = BLOCK_SLICES["genre"]
    if genres is not None:
        out[gsl] = genre_matrix(genres).T

    out[np.isnan(out)] = 0.0  # missing → neutral (every formula is bounded, so no inf)
    return out.T


def embed_tracks(
    features: Sequence[Mapping[str, Any]],
    genres: Sequence[Sequence[str] | str | None] | None = None,
    *,
    weights: Mapping[str, float] | None = None,
) -> np.ndarray:
    """64-D track vectors: encoded formulas × block weights, L2-normalised.

    Parameters
    ----------
    features : sequence of descriptor mappings (see :func:`encode_tracks`)
    genres : sequence of genre-tag lists, one per track, optional
    weights : mapping block → weight, optional (defaults: ``layout.DEFAULT_WEIGHTS``)

    Returns
    -------
    np.ndarray [shape=(n, 64), float32], rows of unit L2 norm — except a track without a single
    usable input, which is the neutral point (all zeros: no direction, never a search result).
    """
    x = encode_tracks(features, genres)
    x *= block_scale(weights)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x /= np.where(norms > 0, norms, 1.0)
    return x.astype(np.float32)
