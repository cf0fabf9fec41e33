"""The answers of the plugin routes, built from sonicmap's pipeline and one server's ids.

Every function takes the store and a :class:`~sonicmap.api.compat.ids.ServerIds` and returns
plain JSON-able data in the AudioMuse-AI shapes the plugins parse (``../docs/integration.md``):
``item_id`` and ``artist_id`` always strings in the server's id space, ``distance`` the cosine
distance ``1 − cos`` (so the plugins' ``1 − distance`` is a similarity), best first. Tracks the
server does not have are left out. Failures raise :class:`CompatError` with the status and the
message the plugins expect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import and_, or_, select

from sonicmap.api.compat import memory
from sonicmap.api.compat.common import (
    ELIMINATE_DUPLICATES_PER_ARTIST,
    MAX_N,
    TRACK_NOT_FOUND,
    CompatError,
)
from sonicmap.api.compat.common import song_row as _song_row
from sonicmap.api.compat.ids import ServerIds
from sonicmap.api.queries import like_pattern
from sonicmap.errors import NotFoundError, SonicmapError
from sonicmap.library.identity import normalise_name
from sonicmap.pipeline import embeddings, paths
from sonicmap.store import schema as db
from sonicmap.store.vectors import cosine_distances, from_blob

ALCHEMY_DEFAULT_N = 100
ALCHEMY_MAX_N = 200
SEARCH_DEFAULT = 20
SEARCH_MAX = 500
REPRESENTATIVE_SONGS = 3


def _album_artists(store: Any, album_ids: Iterable[int | None]) -> dict[int, str | None]:
    ids = sorted({int(a) for a in album_ids if a is not None})
    if not ids:
        return {}
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(db.Album.id, db.Album.album_artist).where(db.Album.id.in_(ids))
        ).all()
    return {int(i): a for i, a in rows}


def _rows_for(
    ids: ServerIds, items: Sequence[Mapping[str, Any]], *, with_distance: bool = True
) -> list[dict[str, Any]]:
    """Server rows for pipeline rows (``id, title, artist, album, album_id, distance``), in
    order, leaving out the tracks the server does not have."""
    songs = ids.songs(int(r["id"]) for r in items)
    album_artists = _album_artists(ids.store, (r.get("album_id") for r in items))
    out = []
    for r in items:
        song = songs.get(int(r["id"]))
        if song is None:
            continue
        aa = album_artists.get(r["album_id"]) if r.get("album_id") is not None else None
        dist = r.get("distance") if with_distance else None
        out.append(_song_row(song, r.get("title"), r.get("artist"), r.get("album"), aa, dist))
    return out


def _seed(ids: ServerIds, song_id: str | None) -> int:
    track = ids.track(song_id)
    if track is None:
        raise CompatError(404, TRACK_NOT_FOUND + ids.not_synced_hint())
    return track


def similar_tracks(
    ids: ServerIds, song_id: str | None, n: int, *, eliminate_duplicates: bool = True
) -> list[dict[str, Any]]:
    """Up to ``n`` songs of the server that sound most like ``song_id``, best first, the seed
    and other copies of its recording left out, no recording twice."""
    mem = ids.memory()
    if mem is not None and song_id:
        rows = memory.similar_tracks(*mem, song_id, n, eliminate_duplicates)
        if rows is not None:
            ids.answered["from"] = "memory"
            return rows
        # not in the snapshot (a track analysed since): ask the database
    n = max(1, min(MAX_N, n))
    cap = ELIMINATE_DUPLICATES_PER_ARTIST if eliminate_duplicates else None
    seed = _seed(ids, song_id)
    with ids.store.engine.connect() as conn:
        me = conn.execute(
            select(db.Track.artist_id, db.Track.title).where(db.Track.id == seed)
        ).one_or_none()

    def key(artist_id: int | None, title: str | None) -> tuple[int, str] | None:
        folded = normalise_name(title)
        return (int(artist_id), folded) if artist_id is not None and folded else None

    fetch = 2 * n + 16
    while True:
        try:
            hits = embeddings.similar_tracks(ids.store, seed, fetch)
        except NotFoundError:
            raise CompatError(404, TRACK_NOT_FOUND) from None
        songs = ids.songs(int(r["id"]) for r in hits)
        seen = {key(*me)} - {None} if me is not None else set()
        per_artist: dict[int, int] = {}
        kept = []
        for r in hits:
            k, aid = key(r.get("artist_id"), r.get("title")), r.get("artist_id")
            if int(r["id"]) not in songs or (k is not None and k in seen):
                continue
            if cap is not None and aid is not None and per_artist.get(aid, 0) >= cap:
                continue
            seen.add(k)
            if aid is not None:
                per_artist[aid] = per_artist.get(aid, 0) + 1
            kept.append(r)
            if len(kept) == n:
                break
        if len(kept) >= n or len(hits) < fetch or fetch >= 4 * MAX_N:
            return _rows_for(ids, kept)
        fetch *= 3


def find_path(ids: ServerIds, start_id: str | None, end_id: str | None, steps: int) -> dict:
    """``{"path": [...], "total_distance": float}`` from ``start_id`` to ``end_id`` in at most
    ``steps`` songs (both ends included); each row carries its ``distance`` to the start song."""
    if not start_id:
        raise CompatError(400, "Start endpoint must be a song, mood, or anchor.")
    if not end_id:
        raise CompatError(400, "End endpoint must be a song, mood, or anchor.")
    if start_id == end_id:
        raise CompatError(400, "Start and end songs cannot be the same.")
    count = memory.path_length(steps)
    no_path = f"No path found between the selected songs within {steps} steps."
    mem = ids.memory()
    body = memory.find_path(*mem, start_id, end_id, steps) if mem is not None else None
    if body is not None:
        ids.answered["from"] = "memory"
        return body
    start, end = ids.track(start_id), ids.track(end_id)
    if start is None or end is None:
        raise CompatError(404, no_path + ids.not_synced_hint())
    if start == end:
        raise CompatError(400, "Start and end songs cannot be the same.")
    # The path is planned over sonicmap's whole library; songs the server lacks are left out
    # and the path re-planned longer by as many (a few times at most), so it keeps its length.
    want = count
    for _ in range(3):
        try:
            result = paths.sonic_path(ids.store, start, end, want)
        except NotFoundError:
            raise CompatError(404, no_path) from None
        tracks = [t.to_dict() for t in result.tracks]
        rows = _rows_for(ids, tracks)
        if len(rows) >= count or len(tracks) < want or want >= paths.MAX_COUNT:
            break
        want = min(paths.MAX_COUNT, want + count - len(rows))
    if len(rows) > count:  # keep the ends, drop surplus songs from the middle evenly
        keep = np.unique(np.round(np.linspace(0, len(rows) - 1, count)).astype(int))
        rows = [rows[i] for i in keep]
    if not rows or rows[0]["item_id"] != start_id or rows[-1]["item_id"] != end_id:
        # the ends are the caller's own songs: present on the server by construction
        raise CompatError(404, no_path)
    kept = {r["item_id"] for r in rows}
    songs = ids.songs(int(t["id"]) for t in tracks)
    # hop distances along the songs the server has (a dropped song's hops are merged)
    vecs = _vectors(ids.store, [int(t["id"]) for t in tracks if songs.get(int(t["id"])) in kept])
    total = sum((float(_distances(a, [b])[0]) for a, b in zip(vecs, vecs[1:], strict=False)), 0.0)
    return {"path": rows, "total_distance": round(total, 6) if np.isfinite(total) else 0.0}


def _stored(store: Any, table: Any, key: Any, ids: list[int]) -> dict[int, np.ndarray]:
    """``{id: vector}`` (float64) of the rows of an embedding table with ``key`` in ``ids``."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(key, table.vector).where(key.in_(ids))).all()
    return {int(i): from_blob(v).astype(np.float64) for i, v in rows}


def _vectors_by_id(store: Any, track_ids: list[int]) -> dict[int, np.ndarray]:
    return _stored(store, db.TrackEmbedding, db.TrackEmbedding.track_id, track_ids)


def _vectors(store: Any, track_ids: list[int]) -> list[np.ndarray]:
    """Vectors of these tracks in order (tracks without one left out)."""
    found = _vectors_by_id(store, track_ids)
    return [found[t] for t in track_ids if t in found]


def _distances(q: np.ndarray, vectors: Sequence[np.ndarray]) -> np.ndarray:
    """Cosine distances [0, 2] of ``vectors`` to ``q``; a zero vector's undefined angle counts
    as orthogonal (1.0), as in the snapshot's answers and the path planner."""
    if not len(vectors):
        return np.zeros(0)
    d = cosine_distances(np.asarray(q), np.asarray(vectors), undefined=1.0)
    return np.clip(d, 0.0, 2.0) + 0.0  # + 0.0: no -0.0 in the answers


def _artist_ref(ids: ServerIds, ref: str) -> int | None:
    """An artist named ``ref`` (name first, as AudioMuse-AI does), else the server artist id."""
    try:
        return embeddings.find_artist(ids.store, ref)
    except NotFoundError:
        return ids.artist(ref)
    except SonicmapError:  # several artists share the name: the server's id is unambiguous
        return ids.artist(ref)


def _representatives(ids: ServerIds, vectors: dict[int, np.ndarray]) -> dict[int, list[Any]]:
    """Per artist of ``vectors`` (artist id → artist vector): its songs on the server nearest
    that vector, best first (one query and one id look-up for all of them)."""
    with ids.store.engine.connect() as conn:
        rows = conn.execute(
            select(db.Track.id, db.Track.title, db.Track.artist_id, db.TrackEmbedding.vector)
            .join(db.TrackEmbedding, db.TrackEmbedding.track_id == db.Track.id)
            .where(db.Track.artist_id.in_(list(vectors)))
        ).all()
    songs = ids.songs(int(r.id) for r in rows)
    scored: dict[int, list[tuple[float, int, str | None]]] = {a: [] for a in vectors}
    for r in rows:
        if int(r.id) in songs:
            v = from_blob(r.vector).astype(np.float64)
            scored[int(r.artist_id)].append(
                (float(_distances(vectors[int(r.artist_id)], [v])[0]), int(r.id), r.title)
            )
    return {
        a: [
            {"item_id": songs[t], "title": title or "", "distance_to_component": round(d, 6)}
            for d, t, title in sorted(found)[:REPRESENTATIVE_SONGS]
        ]
        for a, found in scored.items()
    }


def similar_artists(
    ids: ServerIds, ref: str | None, n: int, *, component_matches: bool = False
) -> list[dict[str, Any]]:
    """Artists of the server that sound most like ``ref`` (a name or a server artist id)."""
    if not ref:
        raise CompatError(400, "Missing 'artist' or 'artist_id' parameter")
    not_found = f"Artist '{ref}' not found in index or no similar artists found."
    artist = _artist_ref(ids, ref)
    if artist is None:
        raise CompatError(404, not_found + ids.not_synced_hint())
    n = max(1, min(MAX_N, n))
    fetch = n + 8
    while True:
        try:
            hits = embeddings.similar_artists(ids.store, artist, fetch)
        except NotFoundError:
            raise CompatError(404, not_found) from None
        server_ids = ids.server_artists(int(h["id"]) for h in hits)
        kept = [h for h in hits if int(h["id"]) in server_ids]
        if len(kept) >= n or len(hits) < fetch or fetch >= 4 * MAX_N:
            break
        fetch *= 3
    kept = kept[:n]
    if not kept:
        raise CompatError(404, not_found)
    out = []
    reps: dict[int, list[Any]] = {}
    if component_matches:  # only then are the artists' vectors and songs read
        vectors = _artist_vectors(ids.store, [artist, *(int(h["id"]) for h in kept)])
        reps = _representatives(ids, vectors)
    query_songs = reps.get(artist, [])
    for h in kept:
        aid = int(h["id"])
        row: dict[str, Any] = {
            "artist": h["name"],
            "artist_id": server_ids[aid],
            "divergence": round(float(h["distance"]), 6),
            "track_count": int(h.get("n_tracks") or 0),
        }
        if component_matches:
            # sonicmap models an artist as one point (the mean of its tracks' embeddings): one
            # component each, matched by the cosine distance between the two artist vectors
            row["query_artist_components"] = 1
            row["candidate_artist_components"] = 1
            row["component_matches"] = [
                {
                    "component1_index": 0,
                    "component2_index": 0,
                    "distance": row["divergence"],
                    "component1_weight": 1.0,
                    "component2_weight": 1.0,
                    "artist1_representative_songs": query_songs,
                    "artist2_representative_songs": reps.get(aid, []),
                }
            ]
        out.append(row)
    return out


def _artist_vectors(store: Any, artist_ids: list[int]) -> dict[int, np.ndarray]:
    return _stored(store, db.ArtistEmbedding, db.ArtistEmbedding.artist_id, artist_ids)


def alchemy(ids: ServerIds, items: Any, n: Any) -> dict[str, Any]:
    """``{"results": [...], "filtered_out": [...]}``: songs near the ADD seeds; with SUBTRACT
    seeds, the songs nearer a SUBTRACT seed than every ADD seed move to ``filtered_out``."""
    if not isinstance(items, list):
        raise CompatError(400, "Invalid request")
    add: list[str] = []
    sub: list[str] = []
    for it in items:
        if not isinstance(it, dict) or it.get("type", "song") != "song":
            raise CompatError(400, "Invalid request")
        op, sid = str(it.get("op", "")).upper(), it.get("id")
        if op not in ("ADD", "SUBTRACT") or not isinstance(sid, str | int) or sid == "":
            raise CompatError(400, "Invalid request")
        (add if op == "ADD" else sub).append(str(sid))
    if not add:
        raise CompatError(400, "Invalid request")
    try:
        count = int(n) if n is not None else ALCHEMY_DEFAULT_N
    except (TypeError, ValueError):
        count = ALCHEMY_DEFAULT_N
    count = max(1, min(ALCHEMY_MAX_N, count))
    add_tracks = [t for t in (ids.track(s) for s in add) if t is not None]
    sub_tracks = [t for t in (ids.track(s) for s in sub) if t is not None]
    if not add_tracks:
        raise CompatError(404, TRACK_NOT_FOUND + ids.not_synced_hint())
    want = min(paths.MAX_COUNT, count + 2 * count * bool(sub_tracks) + 8)
    mix = paths.sonic_mix(ids.store, add_tracks, count=want, exclude=sub_tracks)
    tracks = [t.to_dict() for t in mix.tracks]
    filtered: list[dict[str, Any]] = []
    if sub_tracks:
        subv = _vectors(ids.store, sub_tracks)
        addv = _vectors(ids.store, add_tracks)
        got = _vectors_by_id(ids.store, [int(t["id"]) for t in tracks])
        keep = []
        for t in tracks:
            v = got.get(int(t["id"]))
            if (
                v is not None
                and subv
                and addv
                and _distances(v, subv).min() < _distances(v, addv).min()
            ):
                filtered.append(t)
            else:
                keep.append(t)
        tracks = keep
    return {
        "results": _rows_for(ids, tracks)[:count],
        "filtered_out": _rows_for(ids, filtered),
    }


def search_tracks(ids: ServerIds, query: str, start: int, end: int) -> list[dict[str, Any]]:
    """Songs of the server whose title, artist or album hold every word of ``query``."""
    words = query.split()
    if not words:
        return []
    start = max(0, start)
    end = min(start + SEARCH_MAX, max(start, end))
    conds = [
        or_(
            db.Track.title.ilike(like_pattern(w), escape="\\"),
            db.Artist.name.ilike(like_pattern(w), escape="\\"),
            db.Album.title.ilike(like_pattern(w), escape="\\"),
        )
        for w in words[:10]
    ]
    stmt = (
        select(db.Track.id, db.Track.title, db.Artist.name, db.Album.title, db.Album.album_artist)
        .outerjoin(db.Artist, db.Artist.id == db.Track.artist_id)
        .outerjoin(db.Album, db.Album.id == db.Track.album_id)
        .where(and_(*conds))
        .order_by(db.Artist.name, db.Album.title, db.Track.title, db.Track.id)
    )
    out: list[dict[str, Any]] = []
    offset = 0
    page = 500
    while len(out) < end:
        with ids.store.engine.connect() as conn:
            rows = conn.execute(stmt.limit(page).offset(offset)).all()
        if not rows:
            break
        songs = ids.songs(int(r[0]) for r in rows)
        for tid, title, artist, album, album_artist in rows:
            if int(tid) in songs:
                out.append(_song_row(songs[int(tid)], title, artist, album, album_artist, None))
        offset += page
    return out[start:end]
