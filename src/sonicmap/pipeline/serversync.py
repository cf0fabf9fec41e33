"""Catalogue sync: page a server's songs, match each to a track, store the mapping.

:func:`sync_server` is what ``sonicmap servers sync``, the ``sonicmap.servers.sync`` task, the
post-scan hook and ``POST /api/v1/servers/{name}/sync`` all call. It:

1. loads the local tracks once (relative path under the innermost library root, tags,
   duration) into a :class:`~sonicmap.library.matching.Matcher`;
2. pages the server's catalogue through the client; each page is matched (the ladder of
   :mod:`sonicmap.library.matching`) and written in one transaction together with a checkpoint
   (``app_state`` ``servers.sync.<id>``: generation, cursor, trusted path prefixes): a sync that
   stops half-way (network, kill) resumes at the next page on the next run;
3. at the end, in one transaction: songs of earlier generations (vanished from the server) are
   dropped, server artists mapped to sonicmap artists (the artist most of their matched songs
   belong to; by name when none matched), the report stored on the server row, the checkpoint
   removed;
4. refreshes the playlists sonicmap pushed to the server when their song ids changed
   (:func:`sonicmap.pipeline.playlists.refresh_pushed`).

Every sync re-resolves every song from scratch: stored ids are never trusted across syncs.
A server error before the first page (wrong password, unreachable, not a music server, timeout)
raises :class:`~sonicmap.errors.ServerError` with nothing stored changed.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from sonicmap.library.identity import normalise_name
from sonicmap.library.matching import METHODS, LocalTrack, Matcher, RemoteSong
from sonicmap.library.walk import is_within
from sonicmap.pipeline.servers import ServerInfo, get_server
from sonicmap.store.repo import get_state, set_state
from sonicmap.store.schema import (
    Album,
    Artist,
    KeyValue,
    ScanSession,
    Server,
    ServerArtist,
    ServerSong,
    Track,
)

if TYPE_CHECKING:
    from sonicmap.config import AppConfig
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)

CHECKPOINT_KEY = "servers.sync.{id}"


@dataclass
class SyncReport:
    """What one sync found. ``matched`` counts songs by method; ``unmatched_local`` counts
    sonicmap tracks no server song matched; ``changed_ids`` tracks whose server song id changed
    since the last sync; ``dropped`` song ids the server no longer has."""

    server: str
    status: str = "completed"
    server_songs: int = 0
    matched: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METHODS, 0))
    matched_total: int = 0
    unmatched_server: int = 0
    unmatched_local: int = 0
    changed_ids: int = 0
    dropped: int = 0
    server_artists: int = 0
    server_artists_matched: int = 0
    resumed: bool = False
    pages: int = 0
    generation: int = 0
    seconds: float = 0.0
    server_seconds: float = 0.0
    requests: int = 0
    unmatched_sample: list[dict[str, Any]] = field(default_factory=list)
    playlists: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["seconds"] = round(self.seconds, 3)
        d["server_seconds"] = round(self.server_seconds, 3)
        return d


ProgressFn = Callable[[int], None]


def library_roots(store: Store, cfg: AppConfig) -> list[str]:
    """The configured roots and every root a scan recorded (nested ones kept)."""
    roots = {str(r) for r in (cfg.settings.library_roots if cfg is not None else [])}
    with store.session() as ses:
        for (rs,) in ses.execute(select(ScanSession.roots)):
            roots.update(str(r) for r in rs or [])
    return sorted({os.path.abspath(os.path.expanduser(r)) for r in roots})


def _rel(path: str, roots: Sequence[str]) -> str | None:
    """``path`` relative to the innermost root holding it (``roots``: longest first)."""
    for r in roots:
        if path != r and is_within(path, r):
            return path[len(r.rstrip(os.sep)) + 1 :].replace(os.sep, "/")
    return None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def load_local_tracks(store: Store, roots: Sequence[str]) -> list[LocalTrack]:
    """Every track as the matcher needs it (tags from the stored tag read)."""
    out: list[LocalTrack] = []
    roots = sorted(roots, key=len, reverse=True)
    with store.read_session() as ses:
        rows = ses.execute(
            select(
                Track.id,
                Track.path,
                Track.title,
                Track.duration_s,
                Track.tags,
                Artist.name,
                Album.title,
            )
            .outerjoin(Artist, Artist.id == Track.artist_id)
            .outerjoin(Album, Album.id == Track.album_id)
            .execution_options(yield_per=2000)
        )
        for tid, path, title, dur, tags, artist, album in rows:
            tags = tags or {}
            out.append(
                LocalTrack(
                    id=int(tid),
                    rel_path=_rel(path, roots),
                    abs_path=path,
                    title=tags.get("title") or title,
                    artist=tags.get("artist") or artist,
                    album=tags.get("album") or album,
                    duration_s=dur,
                    mbid=tags.get("musicbrainz_trackid"),
                    isrc=tags.get("isrc"),
                    track_no=_int(tags.get("track_no")),
                    disc_no=_int(tags.get("disc_no")),
                )
            )
    return out


def sync_server(
    store: Store,
    cfg: AppConfig,
    server: ServerInfo | int | str,
    client: Any,
    *,
    use_paths: bool | None = None,
    refresh_playlists: bool = True,
    progress: ProgressFn | None = None,
    now: datetime | None = None,
) -> SyncReport:
    """Sync one server's catalogue (see the module docs); ``client`` speaks its API
    (:func:`sonicmap.remote.make_client`). ``use_paths``: match by path (default: the server's
    ``use_paths`` option); ``progress(songs so far)`` after each page."""
    t0 = time.monotonic()
    info = get_server(store, server)
    report = SyncReport(server=info.name)
    if use_paths is None:
        use_paths = bool(info.option("use_paths"))
    roots = library_roots(store, cfg)
    local = load_local_tracks(store, roots)
    matcher = Matcher(local, path_prefix=info.option("path_prefix"))
    key = CHECKPOINT_KEY.format(id=info.id)
    with store.read_session() as ses:
        ckpt = get_state(ses, key)
    gen = info.sync_generation + 1
    cursor: dict[str, Any] | None = None
    trusted: set[tuple[str, ...]] = set()
    if ckpt and ckpt.get("generation") == gen and ckpt.get("use_paths") == use_paths:
        cursor = ckpt.get("cursor")
        trusted = {tuple(p) for p in ckpt.get("trusted", [])}
        report.resumed = True
        log.info("server sync resumes server=%s generation=%d", info.name, gen)
    elif ckpt:  # a stopped sync that cannot be resumed: its rows must not count as seen
        gen = max(gen, int(ckpt.get("generation") or 0) + 1)
    songs_seen = int(ckpt.get("songs", 0)) if report.resumed and ckpt else 0
    for page, after in client.iter_catalogue(cursor):
        if use_paths:
            trusted = matcher.trusted_prefixes(page, trusted)
        results = matcher.match_all(page, use_paths=use_paths, trusted=trusted)
        songs_seen += len(page)
        with store.session() as ses:
            _write_page(ses, info.id, gen, page, results, now)
            set_state(
                ses,
                key,
                {
                    "generation": gen,
                    "cursor": after,
                    "use_paths": use_paths,
                    "trusted": sorted(list(p) for p in trusted),
                    "songs": songs_seen,
                },
            )
        report.pages += 1
        if progress is not None:
            progress(songs_seen)
    with store.session() as ses:
        _finish(ses, info, gen, report, n_local=len(local), now=now)
        ses.execute(delete(KeyValue).where(KeyValue.key == key))
    report.generation = gen
    report.requests = int(getattr(client, "requests", 0))
    report.server_seconds = float(getattr(client, "server_seconds", 0.0))
    if refresh_playlists:
        from sonicmap.pipeline.playlists import refresh_pushed

        report.playlists = refresh_pushed(store, info, client, now=now)
    report.seconds = time.monotonic() - t0
    with store.session() as ses:
        row = ses.get(Server, info.id)
        if row is not None:
            row.last_sync = report.to_dict()
    log.info(
        "server sync finished server=%s songs=%d matched=%d unmatched_server=%d "
        "unmatched_local=%d changed_ids=%d dropped=%d seconds=%.1f server_seconds=%.1f",
        info.name,
        report.server_songs,
        report.matched_total,
        report.unmatched_server,
        report.unmatched_local,
        report.changed_ids,
        report.dropped,
        report.seconds,
        report.server_seconds,
    )
    return report


def _write_page(
    ses: Any,
    server_id: int,
    gen: int,
    page: Sequence[RemoteSong],
    results: dict[str, tuple[int, str] | None],
    now: datetime | None,
) -> None:
    """Insert or update the page's songs (and its artists' names) at generation ``gen``."""
    when = now or datetime.now(UTC)
    rows: dict[str, dict[str, Any]] = {}
    artists: dict[str, str | None] = {}
    for s in page:
        r = results.get(s.id)
        rows[s.id] = {
            "server_id": server_id,
            "server_song_id": s.id[:255],
            "server_artist_id": s.artist_id[:255] if s.artist_id else None,
            "track_id": r[0] if r else None,
            "method": r[1] if r else None,
            "generation": gen,
            "updated_at": when,
        }
        if s.artist_id:
            artists.setdefault(s.artist_id[:255], (s.artist or "")[:512] or None)
    _upsert(ses, ServerSong, ServerSong.server_song_id, server_id, rows)
    arows = {
        a: {"server_id": server_id, "server_artist_id": a, "name": n, "generation": gen}
        for a, n in artists.items()
    }
    _upsert(ses, ServerArtist, ServerArtist.server_artist_id, server_id, arows)


def _upsert(
    ses: Any, model: Any, key_col: Any, server_id: int, rows: dict[str, dict[str, Any]]
) -> None:
    if not rows:
        return
    existing = set(
        ses.scalars(select(key_col).where(model.server_id == server_id, key_col.in_(list(rows))))
    )
    new = [r for k, r in rows.items() if k not in existing]
    old = [{**r, "k": k} for k, r in rows.items() if k in existing]
    if new:
        ses.execute(insert(model), new)
    if old:
        cols = [c for c in old[0] if c not in ("k", "server_id", key_col.key)]
        stmt = (
            update(model)
            .where(model.server_id == server_id, key_col == bindparam("k"))
            .values({c: bindparam(c) for c in cols})
        )
        ses.connection().execute(stmt, [{c: r[c] for c in ["k", *cols]} for r in old])


def _finish(
    ses: Any, info: ServerInfo, gen: int, report: SyncReport, *, n_local: int, now: datetime | None
) -> None:
    sid = info.id
    old = ServerSong.generation != gen
    # tracks that were reachable under an id the server no longer has, and now under another
    report.changed_ids = int(
        ses.scalar(
            select(func.count(func.distinct(ServerSong.track_id))).where(
                ServerSong.server_id == sid,
                old,
                ServerSong.track_id.in_(
                    select(ServerSong.track_id).where(
                        ServerSong.server_id == sid,
                        ServerSong.generation == gen,
                        ServerSong.track_id.is_not(None),
                    )
                ),
            )
        )
        or 0
    )
    report.dropped = (
        ses.execute(delete(ServerSong).where(ServerSong.server_id == sid, old)).rowcount or 0
    )
    ses.execute(
        delete(ServerArtist).where(ServerArtist.server_id == sid, ServerArtist.generation != gen)
    )
    by = dict(
        ses.execute(
            select(ServerSong.method, func.count())
            .where(ServerSong.server_id == sid)
            .group_by(ServerSong.method)
        ).all()
    )
    report.server_songs = int(sum(by.values()))
    report.matched = {m: int(by.get(m, 0)) for m in METHODS}
    report.matched_total = sum(report.matched.values())
    report.unmatched_server = report.server_songs - report.matched_total
    matched_tracks = int(
        ses.scalar(
            select(func.count(func.distinct(ServerSong.track_id))).where(
                ServerSong.server_id == sid, ServerSong.track_id.is_not(None)
            )
        )
        or 0
    )
    report.unmatched_local = max(0, n_local - matched_tracks)
    report.unmatched_sample = _unmatched_sample(ses, sid)
    _map_artists(ses, sid, report)
    row = ses.get(Server, sid)
    row.sync_generation = gen
    row.last_sync_at = now or datetime.now(UTC)
    row.last_sync = report.to_dict()


def _unmatched_sample(ses: Any, sid: int, n: int = 10) -> list[dict[str, Any]]:
    rows = ses.execute(
        select(ServerSong.server_song_id, ServerArtist.name)
        .outerjoin(
            ServerArtist,
            (ServerArtist.server_id == ServerSong.server_id)
            & (ServerArtist.server_artist_id == ServerSong.server_artist_id),
        )
        .where(ServerSong.server_id == sid, ServerSong.track_id.is_(None))
        .order_by(ServerSong.server_song_id)
        .limit(n)
    ).all()
    return [{"id": s, "artist": a} for s, a in rows]


def _map_artists(ses: Any, sid: int, report: SyncReport) -> None:
    """Each server artist → the sonicmap artist most of its matched songs belong to (ties: the
    smaller id); one with no matched song → the sonicmap artist of the same normalised name,
    when exactly one has it."""
    votes: dict[str, Counter[int]] = defaultdict(Counter)
    for sa, voted, n in ses.execute(
        select(ServerSong.server_artist_id, Track.artist_id, func.count())
        .join(Track, Track.id == ServerSong.track_id)
        .where(
            ServerSong.server_id == sid,
            ServerSong.server_artist_id.is_not(None),
            Track.artist_id.is_not(None),
        )
        .group_by(ServerSong.server_artist_id, Track.artist_id)
    ):
        votes[sa][int(voted)] += int(n)
    by_name: dict[str, list[int]] = defaultdict(list)
    for artist_id, name in ses.execute(select(Artist.id, Artist.name)):
        by_name[normalise_name(name)].append(int(artist_id))
    updates = []
    for sa, name in ses.execute(
        select(ServerArtist.server_artist_id, ServerArtist.name).where(
            ServerArtist.server_id == sid
        )
    ):
        if votes.get(sa):
            aid: int | None = min(votes[sa].items(), key=lambda kv: (-kv[1], kv[0]))[0]
        else:
            cands = by_name.get(normalise_name(name), [])
            aid = cands[0] if len(cands) == 1 else None
        updates.append({"k": sa, "artist_id": aid})
    if updates:
        ses.connection().execute(
            update(ServerArtist)
            .where(ServerArtist.server_id == sid, ServerArtist.server_artist_id == bindparam("k"))
            .values(artist_id=bindparam("artist_id")),
            updates,
        )
    report.server_artists = len(updates)
    report.server_artists_matched = sum(1 for u in updates if u["artist_id"] is not None)


ClientFactory = Callable[[ServerInfo], Any]


def sync_servers(
    store: Store,
    cfg: AppConfig,
    client_factory: ClientFactory,
    *,
    name: str | None = None,
    after_scan: bool = False,
    use_paths: bool | None = None,
) -> dict[str, Any]:
    """Sync one server (``name``), or every server (with ``after_scan``: those whose
    ``sync_after_scan`` option is on). One server failing does not stop the others.

    Returns ``{"status": "completed" | "failed" | "partial" | "skipped", "servers": [report
    dict, or {"server", "status": "failed", "error"}]}``.
    """
    from sonicmap.errors import ServerError
    from sonicmap.pipeline import servers as srv

    if name is not None:
        infos = [srv.get_server(store, name)]
    elif after_scan:
        infos = srv.servers_with_option(store, "sync_after_scan")
    else:
        infos = srv.list_servers(store)
    out: list[dict[str, Any]] = []
    for info in infos:
        try:
            out.append(
                sync_server(store, cfg, info, client_factory(info), use_paths=use_paths).to_dict()
            )
        except ServerError as exc:
            log.warning("server sync failed server=%s error=%s", info.name, exc)
            out.append({"server": info.name, "status": "failed", "error": str(exc)})
    failed = sum(1 for r in out if r["status"] == "failed")
    status = (
        "skipped" if not out else "completed" if not failed else
        "failed" if failed == len(out) else "partial"
    )  # fmt: skip
    return {"status": status, "servers": out}
