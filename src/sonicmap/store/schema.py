"""SQLAlchemy 2 schema. Identical on SQLite and PostgreSQL (portable types only).

Vectors are stored as raw little-endian float32 bytes (``LargeBinary``, 64 x 4 = 256 bytes);
model parameters as named arrays (``gmm_model_arrays``: dtype, shape, raw bytes). Nothing is
ever pickled. Any vector-index tables (sqlite-vec ``vec0``, pgvector) are derived data managed by
:mod:`sonicmap.store.vectors`, rebuildable from these tables at any time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


TZDateTime = DateTime(timezone=True)


class Artist(Base):
    """An artist: identity ``key`` is ``mbid:<MusicBrainz id>`` or ``name:<NFKC casefolded name>``."""

    __tablename__ = "artists"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(512), unique=True)
    name: Mapped[str] = mapped_column(String(512), index=True)
    mbid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)

    tracks: Mapped[list[Track]] = relationship(back_populates="artist")


class Album(Base):
    """An album: identity ``key`` is the album artist key + normalised title (or MB release id)."""

    __tablename__ = "albums"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(1024), unique=True)
    title: Mapped[str] = mapped_column(String(512))
    album_artist: Mapped[str | None] = mapped_column(String(512))
    mbid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class Track(Base):
    """One audio file inside a library root."""

    __tablename__ = "tracks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime: Mapped[float] = mapped_column(Float)
    fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    format: Mapped[str | None] = mapped_column(String(16))
    duration_s: Mapped[float | None] = mapped_column(Float)
    title: Mapped[str | None] = mapped_column(String(512))
    artist_id: Mapped[int | None] = mapped_column(
        ForeignKey("artists.id", ondelete="SET NULL"), index=True
    )
    album_id: Mapped[int | None] = mapped_column(
        ForeignKey("albums.id", ondelete="SET NULL"), index=True
    )
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # pending (seen, not analysed yet) | analysed | failed
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, index=True)
    analysed_at: Mapped[datetime | None] = mapped_column(TZDateTime)

    artist: Mapped[Artist | None] = relationship(back_populates="tracks")
    album: Mapped[Album | None] = relationship()


class TrackFeatures(Base):
    """Named descriptors of one track, with the analysis version that produced them."""

    __tablename__ = "track_features"
    track_id: Mapped[int] = mapped_column(
        ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True
    )
    analysis_version: Mapped[int] = mapped_column(Integer)
    features: Mapped[dict[str, Any]] = mapped_column(JSON)
    sources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class TrackEmbedding(Base):
    """64 float32 (raw bytes) + the layout version that produced them."""

    __tablename__ = "track_embeddings"
    track_id: Mapped[int] = mapped_column(
        ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True
    )
    layout_version: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class ArtistEmbedding(Base):
    """Duration-weighted aggregate of an artist's track vectors."""

    __tablename__ = "artist_embeddings"
    artist_id: Mapped[int] = mapped_column(
        ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True
    )
    layout_version: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    n_tracks: Mapped[int] = mapped_column(Integer)
    total_duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class GmmModel(Base):
    """A trained GMM: metadata here, parameters in ``gmm_model_arrays``."""

    __tablename__ = "gmm_models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # training | active | archived | failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    format_version: Mapped[int] = mapped_column(Integer)
    k: Mapped[int | None] = mapped_column(Integer)
    covariance_type: Mapped[str | None] = mapped_column(String(16))
    bic: Mapped[float | None] = mapped_column(Float)
    aic: Mapped[float | None] = mapped_column(Float)
    mean_log_likelihood: Mapped[float | None] = mapped_column(Float)
    n_artists: Mapped[int | None] = mapped_column(Integer)
    n_tracks: Mapped[int | None] = mapped_column(Integer)
    layout_version: Mapped[int | None] = mapped_column(Integer)
    training_seconds: Mapped[float | None] = mapped_column(Float)
    # manual | auto_queue | periodic_refresh | drift
    trigger: Mapped[str] = mapped_column(String(32))
    seed: Mapped[int | None] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, index=True)
    activated_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    # Exactly one row may hold active_flag = True (unique), so two active models are impossible.
    active_flag: Mapped[bool | None] = mapped_column(Boolean, unique=True)


class GmmModelArray(Base):
    """One named parameter array of a model: dtype (numpy str), shape, raw C-order bytes."""

    __tablename__ = "gmm_model_arrays"
    model_id: Mapped[int] = mapped_column(
        ForeignKey("gmm_models.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    dtype: Mapped[str] = mapped_column(String(16))
    shape: Mapped[list[Any]] = mapped_column(JSON)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class GmmCluster(Base):
    """A component of a model, with its stable cluster id and profile."""

    __tablename__ = "gmm_clusters"
    model_id: Mapped[int] = mapped_column(
        ForeignKey("gmm_models.id", ondelete="CASCADE"), primary_key=True
    )
    cluster_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    component: Mapped[int] = mapped_column(Integer)
    label: Mapped[str | None] = mapped_column(String(256))
    size: Mapped[int] = mapped_column(Integer, default=0)
    weight: Mapped[float] = mapped_column(Float, default=0.0)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ArtistCluster(Base):
    """Assignment of an artist under a model: stable cluster id + full probability vector."""

    __tablename__ = "artist_clusters"
    model_id: Mapped[int] = mapped_column(
        ForeignKey("gmm_models.id", ondelete="CASCADE"), primary_key=True
    )
    artist_id: Mapped[int] = mapped_column(
        ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    cluster_id: Mapped[int] = mapped_column(Integer, index=True)
    probability: Mapped[float] = mapped_column(Float)
    # float32 bytes, one per component, in component order (see gmm_clusters.component)
    probabilities: Mapped[bytes] = mapped_column(LargeBinary)
    assigned_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    # position on the model's 2-D artist map (sonicmap.clustering.map2d); None for rows written
    # before maps existed
    map_x: Mapped[float | None] = mapped_column(Float)
    map_y: Mapped[float | None] = mapped_column(Float)


class ScanSession(Base):
    __tablename__ = "scan_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # running | completed | failed | interrupted
    status: Mapped[str] = mapped_column(String(16), index=True)
    roots: Mapped[list[Any]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    added: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    moved: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    task_id: Mapped[str | None] = mapped_column(String(64))


class ScanFailure(Base):
    __tablename__ = "scan_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scan_id: Mapped[int] = mapped_column(
        ForeignKey("scan_sessions.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)


class JobRun(Base):
    """One run of a worker task (or its embedded-mode equivalent)."""

    __tablename__ = "job_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task: Mapped[str] = mapped_column(String(64), index=True)
    task_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # running | succeeded | failed | retrying | skipped
    status: Mapped[str] = mapped_column(String(16))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class DriftCheck(Base):
    __tablename__ = "drift_checks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, index=True)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("gmm_models.id", ondelete="SET NULL"))
    drift: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    # skipped | stable | reclustering_queued | ...
    decision: Mapped[str] = mapped_column(String(32))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class KeyValue(Base):
    """Small persistent state (e.g. coalescing markers, last layout version used)."""

    __tablename__ = "app_state"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class Server(Base):
    """A music server sonicmap syncs with (Subsonic/OpenSubsonic or Jellyfin).

    ``secret`` holds a *reference* to the password or API key (``{"type": "password"|"api_key",
    "source": "env"|"file", "ref": <variable name or file path>}``), or the value itself only when
    the user asked for it (``"source": "stored"``); it is never printed or logged.
    ``options``: per-server settings (``sync_after_scan``, ``refresh_playlists_on_activate``,
    ``use_paths``, ``path_prefix``). ``sync_generation`` counts syncs; mapping rows carry the
    generation that last saw them (rows of older generations vanished from the server).
    """

    __tablename__ = "servers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # subsonic | jellyfin
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(Text)
    username: Mapped[str | None] = mapped_column(String(256))
    secret: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sync_generation: Mapped[int] = mapped_column(Integer, default=0)
    last_sync_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    last_sync: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class ServerSong(Base):
    """A song of a server's catalogue and the sonicmap track it matched (``track_id`` None:
    unmatched). ``method``: ``path`` | ``mbid`` | ``isrc`` | ``tags`` | ``title_duration``."""

    __tablename__ = "server_songs"
    server_id: Mapped[int] = mapped_column(
        ForeignKey("servers.id", ondelete="CASCADE"), primary_key=True
    )
    server_song_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    server_artist_id: Mapped[str | None] = mapped_column(String(255))
    track_id: Mapped[int | None] = mapped_column(
        ForeignKey("tracks.id", ondelete="SET NULL"), index=True
    )
    method: Mapped[str | None] = mapped_column(String(16))
    generation: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class ServerArtist(Base):
    """An artist of a server's catalogue and the sonicmap artist it corresponds to."""

    __tablename__ = "server_artists"
    server_id: Mapped[int] = mapped_column(
        ForeignKey("servers.id", ondelete="CASCADE"), primary_key=True
    )
    server_artist_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(512))
    artist_id: Mapped[int | None] = mapped_column(
        ForeignKey("artists.id", ondelete="SET NULL"), index=True
    )
    generation: Mapped[int] = mapped_column(Integer, default=0)


class ServerPlaylist(Base):
    """A playlist sonicmap created on a server (only these are ever updated or deleted).

    ``key`` says what it holds (``cluster:<id>``, ``radio:<track id>``, ``artist:<id>``,
    ``path:<a>:<b>``, or ``name:<name>``), unique per server; ``track_ids`` the sonicmap tracks
    last pushed, in order (so a re-sync can refresh it under new song ids).
    """

    __tablename__ = "server_playlists"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    playlist_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(512))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    track_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("server_id", "key"),)


Index("ix_tracks_album_artist", Track.album_id, Track.artist_id)
Index("ix_server_songs_server_track", ServerSong.server_id, ServerSong.track_id)
Index("ix_server_artists_server_artist", ServerArtist.server_id, ServerArtist.artist_id)
