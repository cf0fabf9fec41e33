"""Playlists pushed to music servers: built from clusters, mixes and paths, updated in place.

A pushed playlist is remembered in ``server_playlists`` by a *key* saying what it holds
(``cluster:<id>``, ``radio:<track>``, ``artist:<id>``, ``path:<a>:<b>``). Pushing the same key
again replaces the contents of the same server playlist (same id: clients' offline copies stay
attached); a playlist sonicmap did not create is never modified or deleted. Before updating, the
recorded id is checked on the server (it must still exist under the name sonicmap gave it and
belong to the configured user); if the server lost it (database wiped) or the user renamed it,
a new one is created, once, and reported as ``recreated``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, select

from sonicmap.errors import NotFoundError, SonicmapError
from sonicmap.pipeline.servers import ServerInfo, get_server, tracks_to_songs
from sonicmap.store.schema import (
    Artist,
    ArtistCluster,
    ArtistEmbedding,
    GmmCluster,
    GmmModel,
    Server,
    ServerPlaylist,
    Track,
    TrackEmbedding,
)
from sonicmap.store.vectors import from_blob

if TYPE_CHECKING:
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)

DEFAULT_COUNT = 50
MAX_COUNT = 500


@dataclass(frozen=True)
class PlaylistSpec:
    """What to push: ``key`` (identity on the server), ``kind``, ``name``, ``track_ids`` in order."""

    key: str
    kind: str
    name: str
    track_ids: tuple[int, ...]
    params: dict[str, Any] = field(default_factory=dict)


def _check_count(count: int) -> int:
    if not 1 <= int(count) <= MAX_COUNT:
        raise SonicmapError(f"count must be 1..{MAX_COUNT}, got {count}")
    return int(count)


# ------------------------------------------------------------------------------ building


def cluster_specs(
    store: Store,
    *,
    cluster_ids: Sequence[int] | None = None,
    count: int = DEFAULT_COUNT,
    name: str | None = None,
) -> list[PlaylistSpec]:
    """One playlist per cluster of the active model (``cluster_ids``: only those), named by its
    label, most typical tracks first (:func:`sonicmap.clustering.typical.typical_tracks`)."""
    from sonicmap.clustering.typical import typical_tracks

    count = _check_count(count)
    with store.read_session() as ses:
        model = ses.scalar(select(GmmModel).where(GmmModel.status == "active"))
        if model is None:
            raise NotFoundError("no active model; train one with `sonicmap cluster`")
        clusters = {
            c.cluster_id: c.label
            for c in ses.scalars(select(GmmCluster).where(GmmCluster.model_id == model.id))
        }
        wanted = list(clusters) if cluster_ids is None else [int(c) for c in cluster_ids]
        for c in wanted:
            if c not in clusters:
                raise NotFoundError(f"no cluster {c} in the active model {model.id}")
        members = ses.execute(
            select(
                ArtistCluster.cluster_id, ArtistCluster.artist_id, ArtistCluster.probability
            ).where(ArtistCluster.model_id == model.id, ArtistCluster.cluster_id.in_(wanted))
        ).all()
        artist_ids = sorted({int(a) for _, a, _ in members})
        avec = {
            int(a): from_blob(v)
            for a, v in ses.execute(
                select(ArtistEmbedding.artist_id, ArtistEmbedding.vector).where(
                    ArtistEmbedding.artist_id.in_(artist_ids)
                )
            )
        }
        tracks = ses.execute(
            select(Track.id, Track.artist_id, TrackEmbedding.vector)
            .join(TrackEmbedding, TrackEmbedding.track_id == Track.id)
            .where(Track.artist_id.in_(artist_ids))
        ).all()
    by_artist: dict[int, list[tuple[int, np.ndarray]]] = {}
    for tid, aid, v in tracks:
        by_artist.setdefault(int(aid), []).append((int(tid), from_blob(v)))
    specs = []
    for c in wanted:
        mem = [(int(a), float(p)) for cid, a, p in members if cid == c and int(a) in avec]
        rows = [(t, v, a) for a, _ in mem for t, v in by_artist.get(a, [])]
        ids: list[int] = []
        if rows:
            ids = typical_tracks(
                np.array([r[0] for r in rows]),
                np.stack([r[1] for r in rows]),
                np.array([r[2] for r in rows]),
                np.array([a for a, _ in mem]),
                np.stack([avec[a] for a, _ in mem]),
                np.array([p for _, p in mem]),
                count,
            )
        label = clusters[c] or f"Cluster {c}"
        specs.append(
            PlaylistSpec(
                key=f"cluster:{c}",
                kind="cluster",
                name=(name if name and len(wanted) == 1 else label)[:512],
                track_ids=tuple(ids),
                params={"cluster_id": c, "model_id": model.id, "count": count},
            )
        )
    return specs


def _track_names(store: Store, ids: Sequence[int]) -> dict[int, str]:
    with store.read_session() as ses:
        rows = ses.execute(
            select(Track.id, Track.title, Artist.name)
            .outerjoin(Artist, Artist.id == Track.artist_id)
            .where(Track.id.in_(list(ids)))
        ).all()
    return {int(t): f"{a} – {ti}" if a else str(ti) for t, ti, a in rows}


def radio_spec(
    store: Store, track_id: int, *, count: int = DEFAULT_COUNT, name: str | None = None
) -> PlaylistSpec:
    """The seed track, then a mix around it (:func:`sonicmap.pipeline.paths.sonic_mix`)."""
    from sonicmap.pipeline.paths import sonic_mix

    count = _check_count(count)
    mix = sonic_mix(store, tracks=[int(track_id)], count=max(1, count - 1))
    ids = (int(track_id), *(int(t["id"]) for t in mix.to_dict()["tracks"]))
    label = _track_names(store, [int(track_id)]).get(int(track_id), str(track_id))
    return PlaylistSpec(
        key=f"radio:{int(track_id)}",
        kind="radio",
        name=(name or f"Radio: {label}")[:512],
        track_ids=ids[:count],
        params={"track_id": int(track_id), "count": count},
    )


def artist_spec(
    store: Store, artist_id: int, *, count: int = DEFAULT_COUNT, name: str | None = None
) -> PlaylistSpec:
    """A mix around an artist (:func:`sonicmap.pipeline.paths.sonic_mix` with an artist seed)."""
    from sonicmap.pipeline.paths import sonic_mix

    count = _check_count(count)
    mix = sonic_mix(store, artists=[int(artist_id)], count=count)
    with store.read_session() as ses:
        artist = ses.get(Artist, int(artist_id))
    label = artist.name if artist is not None else str(artist_id)
    return PlaylistSpec(
        key=f"artist:{int(artist_id)}",
        kind="artist",
        name=(name or f"Mix: {label}")[:512],
        track_ids=tuple(int(t["id"]) for t in mix.to_dict()["tracks"]),
        params={"artist_id": int(artist_id), "count": count},
    )


def path_spec(
    store: Store, start: int, end: int, *, count: int = 25, name: str | None = None
) -> PlaylistSpec:
    """A sonic path from one track to another (:func:`sonicmap.pipeline.paths.sonic_path`)."""
    from sonicmap.pipeline.paths import sonic_path

    path = sonic_path(store, int(start), int(end), count=int(count))
    names = _track_names(store, [int(start), int(end)])
    label = f"{names.get(int(start), start)} → {names.get(int(end), end)}"
    return PlaylistSpec(
        key=f"path:{int(start)}:{int(end)}",
        kind="path",
        name=(name or f"Path: {label}")[:512],
        track_ids=tuple(int(t["id"]) for t in path.to_dict()["tracks"]),
        params={"start": int(start), "end": int(end), "count": int(count)},
    )


# ------------------------------------------------------------------------------ pushing


class _ServerPlaylists:
    """The server's playlist list, read once per push, to check a recorded id is still ours."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._list: dict[str, dict[str, Any]] | None = None

    def ours(self, playlist_id: str, name: str) -> bool:
        if self._list is None:
            self._list = {p["id"]: p for p in self.client.playlists()}
        p = self._list.get(str(playlist_id))
        if p is None or p.get("name") != name:
            return False
        owner, user = p.get("owner"), getattr(self.client, "username", None)
        return not (owner and user and owner != user)


def _songs(store: Store, info: ServerInfo, track_ids: Sequence[int]) -> tuple[list[str], int]:
    mapping = tracks_to_songs(store, info, track_ids)
    songs = list(dict.fromkeys(mapping[t] for t in track_ids if t in mapping))
    return songs, len(track_ids) - sum(1 for t in track_ids if t in mapping)


def _record(
    store: Store, info: ServerInfo, spec: PlaylistSpec, playlist_id: str, when: datetime
) -> None:
    with store.session() as ses:
        row = ses.scalar(
            select(ServerPlaylist).where(
                ServerPlaylist.server_id == info.id, ServerPlaylist.key == spec.key
            )
        )
        if row is None:
            row = ServerPlaylist(server_id=info.id, key=spec.key, created_at=when)
            ses.add(row)
        row.playlist_id = playlist_id
        row.kind = spec.kind
        row.name = spec.name
        row.params = dict(spec.params)
        row.track_ids = list(spec.track_ids)
        row.updated_at = when


def _push_one(
    store: Store,
    info: ServerInfo,
    client: Any,
    spec: PlaylistSpec,
    listing: _ServerPlaylists,
    when: datetime,
) -> dict[str, Any]:
    songs, missing = _songs(store, info, spec.track_ids)
    with store.read_session() as ses:
        rec = ses.scalar(
            select(ServerPlaylist).where(
                ServerPlaylist.server_id == info.id, ServerPlaylist.key == spec.key
            )
        )
        known = (rec.playlist_id, rec.name) if rec is not None else None
    if known is not None and listing.ours(*known):
        pid = known[0]
        client.replace_playlist(pid, songs)
        if spec.name != known[1]:
            client.rename_playlist(pid, spec.name)
        action = "updated"
    else:
        pid = client.create_playlist(spec.name, songs)
        action = "recreated" if known is not None else "created"
    _record(store, info, spec, pid, when)
    log.info(
        "playlist pushed server=%s key=%s playlist_id=%s action=%s songs=%d missing=%d",
        info.name,
        spec.key,
        pid,
        action,
        len(songs),
        missing,
    )
    return {
        "key": spec.key,
        "kind": spec.kind,
        "name": spec.name,
        "playlist_id": pid,
        "action": action,
        "songs": len(songs),
        "missing": missing,
    }


def _summary(server: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {
        a: sum(1 for i in items if i["action"] == a)
        for a in ("created", "updated", "recreated", "unchanged")
    }
    return {"server": server, **counts, "playlists": items}


def push(
    store: Store,
    server: ServerInfo | int | str,
    client: Any,
    specs: Sequence[PlaylistSpec],
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Push playlists: create new ones, replace the contents of those pushed before (same id).

    Returns ``{server, created, updated, recreated, unchanged, playlists: [{key, kind, name,
    playlist_id, action, songs, missing}]}`` (``missing``: tracks the server does not have)."""
    info = get_server(store, server)
    when = now or datetime.now(UTC)
    listing = _ServerPlaylists(client)
    items = [_push_one(store, info, client, s, listing, when) for s in specs]
    return _summary(info.name, items)


def refresh_pushed(
    store: Store, server: ServerInfo | int | str, client: Any, *, now: datetime | None = None
) -> dict[str, Any]:
    """After a sync: re-send every playlist sonicmap pushed to this server whose song ids no
    longer match (same tracks, new ids); re-create those the server lost (reported)."""
    info = get_server(store, server)
    when = now or datetime.now(UTC)
    with store.read_session() as ses:
        recs = ses.scalars(
            select(ServerPlaylist)
            .where(ServerPlaylist.server_id == info.id)
            .order_by(ServerPlaylist.key)
        ).all()
    listing = _ServerPlaylists(client)
    items = []
    for rec in recs:
        spec = PlaylistSpec(rec.key, rec.kind, rec.name, tuple(rec.track_ids), dict(rec.params))
        if listing.ours(rec.playlist_id, rec.name):
            songs, missing = _songs(store, info, spec.track_ids)
            if client.playlist_songs(rec.playlist_id) == songs:
                items.append(
                    {
                        "key": rec.key,
                        "kind": rec.kind,
                        "name": rec.name,
                        "playlist_id": rec.playlist_id,
                        "action": "unchanged",
                        "songs": len(songs),
                        "missing": missing,
                    }
                )
                continue
        items.append(_push_one(store, info, client, spec, listing, when))
    out = _summary(info.name, items)
    out["refreshed"] = out.pop("updated")
    return out


def list_pushed(store: Store, server: ServerInfo | int | str | None = None) -> list[dict[str, Any]]:
    """The playlists sonicmap pushed (all servers, or one)."""
    with store.read_session() as ses:
        q = select(ServerPlaylist, Server.name).join(Server, Server.id == ServerPlaylist.server_id)
        if server is not None:
            q = q.where(ServerPlaylist.server_id == get_server(store, server).id)
        rows = ses.execute(q.order_by(Server.name, ServerPlaylist.key)).all()
        return [
            {
                "server": name,
                "key": p.key,
                "kind": p.kind,
                "name": p.name,
                "playlist_id": p.playlist_id,
                "tracks": len(p.track_ids or []),
                "params": p.params,
                "created_at": p.created_at.isoformat() if p.created_at else None,
                "updated_at": p.updated_at.isoformat() if p.updated_at else None,
            }
            for p, name in rows
        ]


def build_specs(
    store: Store,
    *,
    cluster: int | None = None,
    all_clusters: bool = False,
    radio: int | None = None,
    artist: int | None = None,
    path: Sequence[int] | None = None,
    count: int | None = None,
    name: str | None = None,
) -> list[PlaylistSpec]:
    """The playlists one push request asks for (exactly one of ``cluster``, ``all_clusters``,
    ``radio`` (a track id), ``artist`` (an artist id), ``path`` (two track ids))."""
    picked = [cluster is not None, all_clusters, radio is not None, artist is not None, bool(path)]
    if sum(picked) != 1:
        raise SonicmapError(
            "give exactly one of a cluster, all clusters, a radio track, an artist or a path"
        )
    if cluster is not None or all_clusters:
        ids = None if all_clusters else [int(cluster)]  # type: ignore[arg-type]
        return cluster_specs(store, cluster_ids=ids, count=count or DEFAULT_COUNT, name=name)
    if radio is not None:
        return [radio_spec(store, int(radio), count=count or DEFAULT_COUNT, name=name)]
    if artist is not None:
        return [artist_spec(store, int(artist), count=count or DEFAULT_COUNT, name=name)]
    if path is None or len(path) != 2:
        raise SonicmapError("a path needs two track ids (start and end)")
    return [path_spec(store, int(path[0]), int(path[1]), count=count or 25, name=name)]


def push_request(
    store: Store,
    server: ServerInfo | int | str,
    client_factory: Any,
    *,
    now: datetime | None = None,
    **request: Any,
) -> dict[str, Any]:
    """:func:`build_specs` then :func:`push` (what the CLI, the task and the API call)."""
    info = get_server(store, server)
    specs = build_specs(store, **request)
    return push(store, info, client_factory(info), specs, now=now)


def refresh_after_activation(
    store: Store, client_factory: Any, *, now: datetime | None = None
) -> dict[str, Any]:
    """After a model is activated, on each server whose ``refresh_playlists_on_activate`` option
    is on and that holds cluster playlists from sonicmap: push every cluster of the new model
    (in place, same ids) and delete sonicmap's playlists of clusters the model no longer has
    (only those sonicmap created). One server failing does not stop the others."""
    from sonicmap.errors import ServerError
    from sonicmap.pipeline.servers import servers_with_option

    out: list[dict[str, Any]] = []
    for info in servers_with_option(store, "refresh_playlists_on_activate"):
        pushed = [p for p in list_pushed(store, info) if p["kind"] == "cluster"]
        if not pushed:
            continue
        try:
            client = client_factory(info)
            specs = cluster_specs(
                store, count=int(pushed[0]["params"].get("count") or DEFAULT_COUNT)
            )
            report = push(store, info, client, specs, now=now)
            keep = {s.key for s in specs}
            report["deleted"] = _delete_stale(
                store, info, client, [p for p in pushed if p["key"] not in keep]
            )
            out.append(report)
        except (ServerError, NotFoundError) as exc:
            log.warning("playlist refresh failed server=%s error=%s", info.name, exc)
            out.append({"server": info.name, "status": "failed", "error": str(exc)})
    return {"servers": out}


def _delete_stale(
    store: Store, info: ServerInfo, client: Any, stale: list[dict[str, Any]]
) -> list[str]:
    listing = _ServerPlaylists(client)
    gone = []
    for p in stale:
        if listing.ours(p["playlist_id"], p["name"]):
            client.delete_playlist(p["playlist_id"])
        with store.session() as ses:
            ses.execute(
                delete(ServerPlaylist).where(
                    ServerPlaylist.server_id == info.id, ServerPlaylist.key == p["key"]
                )
            )
        gone.append(p["name"])
    return gone
