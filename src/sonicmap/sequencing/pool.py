"""The candidate tracks a path or a mix is planned from (plain arrays)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NONE = -1
"""Marks a track without an artist, album or recording key in :class:`Pool` arrays."""


@dataclass(frozen=True)
class Pool:
    """Candidate tracks, one row each.

    ids : np.ndarray [shape=(n,), int64] track ids (distinct)
    vectors : np.ndarray [shape=(n, d), float32 or float64] embeddings (any norm; rows of zero
        norm are never picked)
    artist : np.ndarray [shape=(n,), int64] artist id, :data:`NONE` when unknown (never capped)
    album : np.ndarray [shape=(n,), int64] album id, :data:`NONE` when unknown (never capped)
    recording : np.ndarray [shape=(n,), int64] recording key: tracks sharing a key are copies of
        one recording (same artist and title on two albums); :data:`NONE` = a recording of its own
    """

    ids: np.ndarray
    vectors: np.ndarray
    artist: np.ndarray
    album: np.ndarray
    recording: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name in ("artist", "album", "recording"):
            if np.shape(getattr(self, name)) != (n,):
                raise ValueError(
                    f"Pool.{name} must have shape ({n},), got {np.shape(getattr(self, name))}"
                )
        if np.ndim(self.vectors) != 2 or len(self.vectors) != n:
            raise ValueError(f"Pool.vectors must have shape ({n}, d), got {np.shape(self.vectors)}")
        if len(np.unique(self.ids)) != n:
            raise ValueError("Pool.ids must be distinct")

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(
        cls,
        ids: object,
        vectors: object,
        *,
        artist: object = None,
        album: object = None,
        recording: object = None,
    ) -> Pool:
        """Build a pool from array-likes; missing artist / album / recording columns are NONE."""
        idv = np.asarray(ids, dtype=np.int64).reshape(-1)
        n = len(idv)

        def col(x: object) -> np.ndarray:
            return np.full(n, NONE, np.int64) if x is None else np.asarray(x, dtype=np.int64)

        vec = np.asarray(vectors, dtype=np.float64).reshape(n, -1) if n else np.zeros((0, 1))
        return cls(idv, vec, col(artist), col(album), col(recording))

    def unit(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit rows [shape=(n, d), float64] and a mask [shape=(n,), bool] of non-zero rows."""
        v = np.asarray(self.vectors, dtype=np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", v, v)) if len(v) else np.zeros(0)
        ok = norms > 0
        out = np.zeros_like(v)
        out[ok] = v[ok] / norms[ok, None]
        return out, ok

    def recording_keys(self) -> np.ndarray:
        """One key per row [shape=(n,), int64]: the recording key, or a unique negative key."""
        rec = np.asarray(self.recording, dtype=np.int64).copy()
        own = rec == NONE
        rec[own] = -2 - np.arange(int(own.sum()), dtype=np.int64)
        return rec


class Caps:
    """Running per-artist / per-album counts against optional caps (tracks without either are
    never capped), and the set of recordings already used."""

    def __init__(
        self,
        pool: Pool,
        max_per_artist: int | None,
        max_per_album: int | None,
        *,
        rec: np.ndarray | None = None,
    ) -> None:
        """``rec``: ``pool.recording_keys()`` when the caller has it already."""
        self.pool = pool
        self.max_artist = max_per_artist
        self.max_album = max_per_album
        self.rec = pool.recording_keys() if rec is None else rec
        self.artists: dict[int, int] = {}
        self.albums: dict[int, int] = {}
        self.used: set[int] = set()
        # per-row look-ups on Python lists (a numpy scalar per look-up costs more than the rule)
        self._cols = (self.rec.tolist(), pool.artist.tolist(), pool.album.tolist())

    def copy(self) -> Caps:
        """The same counts, counted on independently."""
        out = Caps.__new__(Caps)
        out.pool, out.max_artist, out.max_album = self.pool, self.max_artist, self.max_album
        out.rec, out._cols = self.rec, self._cols
        out.artists, out.albums, out.used = dict(self.artists), dict(self.albums), set(self.used)
        return out

    def allowed(self) -> np.ndarray:
        """:meth:`allows` of every row at once [shape=(n,), bool]."""
        ok = ~np.isin(self.rec, np.fromiter(self.used, np.int64, len(self.used)))
        for cap, counts, col in (
            (self.max_artist, self.artists, self.pool.artist),
            (self.max_album, self.albums, self.pool.album),
        ):
            if cap is not None:
                full = [k for k, c in counts.items() if c >= cap and k != NONE]
                if full:
                    ok &= ~np.isin(col, np.asarray(full, np.int64))
        return ok

    def allows(self, i: int) -> bool:
        """True when row ``i`` is neither a used recording nor over a cap."""
        rec, artist, album = self._cols
        if rec[i] in self.used:
            return False
        a, b = artist[i], album[i]
        if self.max_artist is not None and a != NONE and self.artists.get(a, 0) >= self.max_artist:
            return False
        return not (
            self.max_album is not None and b != NONE and self.albums.get(b, 0) >= self.max_album
        )

    def take(self, i: int) -> None:
        """Count row ``i`` as used (whether or not it was allowed: forced ends, seeds)."""
        rec, artist, album = self._cols
        self.used.add(rec[i])
        a, b = artist[i], album[i]
        if a != NONE:
            self.artists[a] = self.artists.get(a, 0) + 1
        if b != NONE:
            self.albums[b] = self.albums.get(b, 0) + 1
