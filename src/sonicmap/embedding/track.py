"""Track vectors from descriptor dicts, in batches (vectorised numpy, one column at a time).

:func:`encode_tracks` evaluates the formulas of :data:`sonicmap.embedding.layout.LAYOUT` (centred
values, missing → 0.0 = the neutral input); :func:`embed_tracks` applies the block weights and
L2-normalises. Extraction reads the batch of dicts in two passes with C-level helpers
(``operator.itemgetter`` over the batch, ``numpy.fromiter``): descriptor dicts as decoded from the
store are scattered in memory, so each pass over them costs more than most of the arithmetic, and
every dict is visited twice in all (scalars; lists and mode), each key looked up once. A tolerant
per-value path takes over only for columns with missing, ``None`` or malformed values.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from itertools import chain, repeat
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


def _mode_column(col: Sequence[Any]) -> np.ndarray:
    """Mode as +0.5 (major) / -0.5 (minor) / NaN (missing or unknown).

    col : the ``mode`` value of each track (``None`` when missing)

    Returns
    -------
    np.ndarray [shape=(n,), float64]
    """
    try:  # unknown values (None included) → NaN
        out = np.fromiter(
            map(_MODE_VALUE.get, col, repeat(math.nan)), dtype=np.float64, count=len(col)
        )
    except TypeError:  # an unhashable value
        out = np.full(len(col), np.nan)
    for i in np.flatnonzero(np.isnan(out)).tolist():  # tolerant path: "Minor", " major ", missing
        m = col[i]
        v = _MODE_VALUE.get(m.strip().lower()) if isinstance(m, str) else None
        out[i] = np.nan if v is None else v
    return out


def _floats(vals: Sequence[Any]) -> np.ndarray:
    """One scalar descriptor for every track, tolerantly: NaN where missing or malformed.

    Returns
    -------
    np.ndarray [shape=(n,), float64]
    """
    try:
        return np.array(vals, dtype=np.float64)
    except (TypeError, ValueError):
        return np.array([_to_float(v) for v in vals], dtype=np.float64)


def _gather(
    features: Sequence[Mapping[str, Any]],
) -> tuple[np.ndarray, dict[str, list[Any]]]:
    """Read a block of descriptor dicts (every key looked up once per dict).

    Returns
    -------
    S : np.ndarray [shape=(n, len(_SCALAR_NAMES)), float64], NaN where missing or malformed
    raw : the list descriptors and the mode, name → the value of each track (``None`` if missing)
    """
    n, m = len(features), len(_SCALAR_NAMES)
    try:  # every dict has every key, every value converts: tuples streamed, not kept
        S = np.fromiter(
            chain.from_iterable(map(_GET_SCALARS, features)), dtype=np.float64, count=n * m
        ).reshape(n, m)
    except (KeyError, TypeError, ValueError):  # the tolerant path, column by column
        S = np.empty((n, m))
        for j, name in enumerate(_SCALAR_NAMES):
            S[:, j] = _floats([f.get(name) for f in features])
    S[~np.isfinite(S)] = np.nan
    try:
        rows = list(map(_GET_RAW, features))
    except KeyError:
        raw = {k: [f.get(k) for f in features] for k in _RAW_NAMES}
    else:
        raw = {k: list(map(itemgetter(j), rows)) for j, k in enumerate(_RAW_NAMES)}
    return S, raw


def _list_column(col: Sequence[Any], length: int | None) -> np.ndarray:
    """A list-valued descriptor for all tracks; rows of NaN where missing or of another length.

    col : the descriptor's value of each track (``None`` when missing)
    length : expected list length; ``None``: the most common length in the batch.

    Returns
    -------
    np.ndarray [shape=(n, length), float64]
    """
    n = len(col)
    try:
        if set(map(type, col)) == {list}:  # (a string would iterate as characters)
            lens = set(map(len, col))
            if len(lens) == 1 and (length is None or length in lens):
                L = lens.pop()
                out = np.fromiter(chain.from_iterable(col), dtype=np.float64, count=n * L)
                out = out.reshape(n, L)
                out[~np.isfinite(out)] = np.nan
                return out
    except (TypeError, ValueError):
        pass
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
# List descriptors (and the expected length where the layout fixes it), read with the mode.
_LIST_LENGTH: dict[str, int | None] = {"chroma": 12}
for _d in LAYOUT:
    if _d.kind in ("item_tanh", "item_tanh_log2", "band_tanh"):
        _LIST_LENGTH.setdefault(_d.source, None)
_RAW_NAMES = (*_LIST_LENGTH, "mode")
_GET_SCALARS = itemgetter(*_SCALAR_NAMES)
_GET_RAW = itemgetter(*_RAW_NAMES)
_DIM_OF = {d.kind: d.index for d in LAYOUT}  # for the kinds with a single dimension


class _Group:
    """Dimensions of one generic kind, evaluated together: out [:, dims] = f(x [:, cols])."""

    def __init__(self, dims: Sequence[Any], cols: Sequence[int]) -> None:
        self.dims = np.array([d.index for d in dims], dtype=np.intp)
        self.cols = np.array(cols, dtype=np.intp)
        self.c = np.array([d.params.get("c", 0.0) for d in dims], dtype=np.float64)
        self.s = np.array([d.params.get("s", 1.0) for d in dims], dtype=np.float64)


_GENERIC_GROUPS = {
    kind: _Group(g, [_COL[d.source] for d in g])
    for kind in ("score", "tanh", "tanh_log2", "tanh_log10")
    if (g := [d for d in _GENERIC if d.kind == kind])
}
# item_tanh: per list source, the items read; band_tanh: per source, the band-group dimensions
_ITEM_GROUPS = {
    (src, kind): _Group(g, [d.params["item"] for d in g])
    for src in _LIST_LENGTH
    for kind in ("item_tanh", "item_tanh_log2")
    if (g := [d for d in LAYOUT if d.kind == kind and d.source == src])
}
_BAND_DIMS = {
    src: [d for d in LAYOUT if d.kind == "band_tanh" and d.source == src] for src in _LIST_LENGTH
}
_TONNETZ = [d for d in LAYOUT if d.kind == "tonnetz"]
_TONNETZ_DIMS = np.array([d.index for d in _TONNETZ], dtype=np.intp)
# [12 pitch classes, n_tonnetz]: chroma (normalised to sum 1) @ this = the centroid components,
# each already divided by its circle's radius and multiplied by the gain
_TONNETZ_BASIS = np.stack(
    [
        (np.sin if d.params["fn"] == "sin" else np.cos)(
            np.arange(12) * TONNETZ_CIRCLES[d.params["circle"]][0]
        )
        * (TONNETZ_GAIN / TONNETZ_CIRCLES[d.params["circle"]][1])
        for d in _TONNETZ
    ],
    axis=1,
)
_CLARITY = next(d for d in LAYOUT if d.kind == "chroma_clarity")


def _key_table() -> np.ndarray:
    """Key position for pitch class k and mode reading r (0 major, 1 minor, 2 unknown) at row
    3k + r: (cos, sin) of the angle on the circle of fifths of the major reading (q = 7·k) and
    of the minor reading (its relative major, k + 3), weighted 1/0, 0/1 or ½/½.

    Returns
    -------
    np.ndarray [shape=(36, 2), float64]
    """
    key = np.repeat(np.arange(12.0), 3)
    w_major = np.tile([1.0, 0.0, 0.5], 12)
    a_major = _TWO_PI * np.mod(7.0 * key, 12.0) / 12.0
    a_minor = _TWO_PI * np.mod(7.0 * (key + 3.0), 12.0) / 12.0
    cos = w_major * np.cos(a_major) + (1 - w_major) * np.cos(a_minor)
    sin = w_major * np.sin(a_major) + (1 - w_major) * np.sin(a_minor)
    return np.stack([cos, sin], axis=1)


_KEY_TABLE = _key_table()
# Tracks encoded per block: every pass over a block's dicts and arrays then stays in the CPU
# caches (a block of 1024 stored descriptor dicts is ~3 MB), and the temporaries are small enough
# to be recycled by the allocator instead of being mapped fresh (page faults) for every step of a
# large batch. Measured on 100k dicts decoded from JSON: 1.8x faster than one pass per descriptor
# over the whole batch.
_BLOCK = 1024


def _blocks(
    features: Sequence[Mapping[str, Any]],
    genres: Sequence[Sequence[str] | str | None] | None,
) -> Iterator[tuple[slice, np.ndarray]]:
    """Encode a batch block by block: ``(rows, encoded [shape=(64, len(rows)), float64])``.

    The encoded array is a buffer reused by the next block (copy what you keep).
    """
    n = len(features)
    if genres is not None and len(genres) != n:
        raise SonicmapError(
            f"embed: got {n} feature dicts but {len(genres)} genre lists; expected one per track"
        )
    buf = np.empty((DIM, min(n, _BLOCK)), dtype=np.float64)
    for start in range(0, n, _BLOCK):
        rows = slice(start, min(n, start + _BLOCK))
        out = buf[:, : rows.stop - start]
        out.fill(0.0)
        _encode_block(features[rows], None if genres is None else genres[rows], out)
        yield rows, out


def _encode_block(
    features: Sequence[Mapping[str, Any]],
    genres: Sequence[Sequence[str] | str | None] | None,
    out: np.ndarray,
) -> None:
    """Evaluate the layout for a block of tracks into ``out``: read the dicts (see
    :func:`_gather`), then compute every dimension on whole columns (few numpy calls, on
    contiguous rows).

    out : np.ndarray [shape=(64, n), float64] (dimension-major), zeros on entry; every value
    finite on return (NaN inputs → the neutral 0.0)
    """
    S, raw = _gather(features)
    S = S.T.copy()  # [len(_SCALAR_NAMES), n]
    mode = _mode_column(raw["mode"])
    lists = {name: _list_column(raw[name], length) for name, length in _LIST_LENGTH.items()}

    with np.errstate(invalid="ignore", divide="ignore"):
        # generic formulas, one group of dimensions per kind
        for kind, g in _GENERIC_GROUPS.items():
            x = S[g.cols]
            if kind == "score":
                out[g.dims] = 2.0 * np.clip(x, 0.0, 1.0) - 1.0
                continue
            c, s = g.c[:, None], g.s[:, None]
            if kind == "tanh":
                z = (x - c) / s
            else:
                x[x <= 0] = np.nan
                z = (np.log2(x / c) if kind == "tanh_log2" else np.log10(x / c)) / s
            out[g.dims] = np.tanh(z)

        # tempo on the octave circle
        bpm = S[_COL["bpm"]]
        octv = np.log2(np.where(bpm > 0, bpm, np.nan) / TEMPO_REF_BPM)
        ang = _TWO_PI * octv
        out[_DIM_OF["tempo_cos"]] = np.cos(ang)
        out[_DIM_OF["tempo_sin"]] = np.sin(ang)
        out[_DIM_OF["tempo_octave"]] = TEMPO_OCTAVE_WEIGHT * np.tanh(octv)

        # key on the circle of fifths (minor keys at their relative major) + mode
        key = S[_COL["key_index"]]
        bad = ~((key >= 0) & (key < 12) & (key == np.round(key)))
        if bad.any():
            names = [features[i].get("key") for i in np.flatnonzero(bad).tolist()]
            key[bad] = [key_index_of(k) for k in names]
        # 12 keys x 3 mode readings: a table lookup (see _KEY_TABLE)
        known = np.isfinite(key)
        cell = np.where(known, key, 0.0).astype(np.intp) * 3 + np.where(
            mode > 0, 0, np.where(mode < 0, 1, 2)
        )
        kc = _KEY_TABLE[cell]
        kc[~known] = np.nan
        out[[_DIM_OF["key_cos"], _DIM_OF["key_sin"]]] = kc.T
        out[_DIM_OF["mode"]] = mode

        # chroma: tonal centroid on the circles of thirds, and clarity (1 − normalised entropy)
        chroma = lists["chroma"]
        chroma[chroma < 0] = np.nan
        total = chroma.sum(axis=1)
        ok = np.isfinite(total) & (total > 0)
        c = chroma / np.where(ok, total, np.nan)[:, None]  # rows not ok: NaN
        # (einsum, not BLAS: no thread pool spinning up for a small product)
        out[_TONNETZ_DIMS] = np.tanh(np.einsum("ij,jk->ki", c, _TONNETZ_BASIS))
        h = -np.einsum("ij->i", np.where(c > 0, c * np.log(c), 0.0)) / _LOG12
        h[~ok] = np.nan
        p = _CLARITY.params
        out[_CLARITY.index] = np.tanh((1.0 - h - p["c"]) / p["s"])

        # list descriptors: single items and band groups
        for (src, kind), g in _ITEM_GROUPS.items():
            arr = lists[src]
            if arr.shape[1] > g.cols.max():
                x = arr[:, g.cols]
            else:  # lists shorter than the layout reads: the missing items are neutral
                x = np.full((len(arr), len(g.cols)), np.nan)
                have = g.cols < arr.shape[1]
                x[:, have] = arr[:, g.cols[have]]
            if kind == "item_tanh_log2":
                x = np.where(x > 0, x, np.nan)
                out[g.dims] = np.tanh(np.log2(x / g.c) / g.s).T
            else:
                out[g.dims] = np.tanh((x - g.c) / g.s).T
        for src, dims in _BAND_DIMS.items():
            arr = lists[src]
            for d in dims:
                groups = np.array_split(np.arange(arr.shape[1]), d.params.get("groups", 3))
                cols = groups[d.params["group"]]
                x = arr[:, cols].mean(axis=1) if len(cols) else np.full(len(arr), np.nan)
                out[d.index] = np.tanh((x - d.params["c"]) / d.params["s"])

    if genres is not None:
        out[BLOCK_SLICES["genre"]] = genre_matrix(genres).T

    out[np.isnan(out)] = 0.0  # missing → neutral (every formula is bounded, so no inf)


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
    out = np.empty((len(features), DIM), dtype=np.float64)
    for rows, x in _blocks(features, genres):
        out[rows] = x.T
    return out


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
    scale = block_scale(weights).astype(np.float64)[:, None]
    vectors = np.empty((len(features), DIM), dtype=np.float32)
    for rows, x in _blocks(features, genres):  # x [64, len(rows)]
        x *= scale
        norms = np.sqrt(np.einsum("ij,ij->j", x, x))
        x /= np.where(norms > 0, norms, 1.0)
        vectors[rows] = x.T
    return vectors
