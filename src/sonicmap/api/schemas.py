"""Pydantic request and response models: they make the OpenAPI spec precise.

Times are ISO 8601 with a UTC offset; ids are integers except Celery task ids (strings).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

T = TypeVar("T")


def _assume_utc(v: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything sonicmap stores is UTC."""
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v


#: A datetime always serialised with its UTC offset (RFC 3339 ``date-time``).
UtcDatetime = Annotated[datetime, AfterValidator(_assume_utc)]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- errors -------------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str = Field(description="Machine-readable error code, e.g. `not_found`.")
    message: str = Field(description="What was wrong and what is expected.")
    field: str | None = Field(
        None, description="The offending parameter, for 422 and 403 path errors."
    )


class ErrorResponse(BaseModel):
    error: ErrorBody


# -- generic ------------------------------------------------------------------------------------


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(ge=0, description="Number of matching rows, ignoring limit/offset.")
    limit: int = Field(ge=1)
    offset: int = Field(ge=0)


# -- health -------------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class Check(BaseModel):
    ok: bool
    detail: str


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    mode: Literal["embedded", "service"]
    database: Check
    broker: Check


# -- tasks --------------------------------------------------------------------------------------


class TaskAccepted(BaseModel):
    task_id: str = Field(description="Celery task id; poll `GET /api/v1/tasks/{task_id}`.")
    task: str = Field(description="Task name, e.g. `train_gmm`.")
    status: Literal["queued", "coalesced"] = Field(
        description="`coalesced`: an identical task was already queued or running; its id is returned."
    )


class TaskStatus(BaseModel):
    task_id: str
    state: str = Field(description="Celery state: PENDING, STARTED, RETRY, SUCCESS, FAILURE, ...")
    ready: bool
    result: dict[str, Any] | None = Field(None, description="The task's result dict once finished.")
    error: str | None = None


class JobRunOut(_Out):
    id: int
    task: str
    task_id: str | None
    status: str
    args: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    started_at: UtcDatetime
    finished_at: UtcDatetime | None


# -- scans --------------------------------------------------------------------------------------


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(
        None,
        max_length=4096,
        description=(
            "Folder or file to scan, absolute or relative to a library root; must lie inside one "
            "of SONICMAP_LIBRARY_ROOTS. Omitted: scan every root."
        ),
    )


class ScanOut(_Out):
    id: int
    status: str
    roots: list[Any]
    started_at: UtcDatetime
    finished_at: UtcDatetime | None
    added: int
    changed: int
    removed: int
    unchanged: int
    moved: int
    failed: int
    error: str | None
    task_id: str | None


class ScanFailureOut(_Out):
    path: str
    error: str


class ScanDetail(ScanOut):
    failures: list[ScanFailureOut] = Field(description="Failed files (up to 1000).")


# -- artists / tracks ---------------------------------------------------------------------------


class ClusterRef(BaseModel):
    model_id: int
    cluster_id: int
    label: str | None
    probability: float = Field(ge=0, le=1)


class ArtistOut(BaseModel):
    id: int
    name: str
    mbid: str | None
    n_tracks: int


class EmbeddingInfo(BaseModel):
    layout_version: int
    n_tracks: int
    total_duration_s: float


class ArtistDetail(ArtistOut):
    created_at: UtcDatetime
    n_albums: int
    descriptors: dict[str, float] = Field(
        description="Duration-weighted mean of each numeric scalar descriptor over the artist's "
        "analysed tracks (bpm, energy, loudness_lufs, ...)."
    )
    embedding: EmbeddingInfo | None
    cluster: ClusterRef | None


class TrackRef(BaseModel):
    """The fields that name a track in every answer listing tracks."""

    id: int
    path: str
    title: str | None
    artist_id: int | None
    artist: str | None
    album_id: int | None
    album: str | None


#: The one similarity scale (see docs/embedding.md).
Similarity = Annotated[
    float,
    Field(
        ge=0,
        le=1,
        description="1 − angle/π between the vectors: 1 = same recording, 0.5 = unrelated, "
        "0 = opposite (fixed scale, see docs/embedding.md).",
    ),
]


class TrackOut(TrackRef):
    duration_s: float | None
    format: str | None
    status: str


class TrackDetail(TrackOut):
    size: int
    tags: dict[str, Any]
    analysis_version: int | None
    features: dict[str, Any] | None = Field(description="Named MIR descriptors (see docs).")
    feature_sources: dict[str, Any] | None
    last_error: str | None
    analysed_at: UtcDatetime | None
    has_embedding: bool
    cluster: ClusterRef | None = Field(description="The cluster of the track's artist.")


class SimilarArtist(BaseModel):
    id: int
    name: str
    score: float = Field(ge=0, le=1, description="1 = identical.")
    similarity: Similarity


class SimilarTrack(TrackRef):
    score: float = Field(ge=0, le=1, description="1 = identical.")
    similarity: Similarity


class SimilarArtists(BaseModel):
    seed: int
    items: list[SimilarArtist]


class SimilarTracks(BaseModel):
    seed: int
    items: list[SimilarTrack]


# -- paths and mixes ----------------------------------------------------------------------------


class SeedRef(BaseModel):
    kind: Literal["track", "artist", "cluster"] = Field(
        description="`track`, `artist`, or `cluster` (of the active GMM model)."
    )
    id: int = Field(ge=1, le=2**31 - 1)


class PlaylistTrackOut(TrackRef):
    duration_s: float | None
    similarity: Similarity = Field(
        description="Path: to the start track; mix: to the nearest seed (1 − angle/π)."
    )
    distance: float = Field(ge=0, le=2, description="Cosine distance behind `similarity`.")
    step_similarity: float | None = Field(
        None, ge=0, le=1, description="Path: similarity to the track before (null first)."
    )
    seed: SeedRef | None = Field(None, description="Mix: the seed this track is nearest to.")


class SonicPathOut(BaseModel):
    start: int
    end: int
    count: int = Field(description="Tracks asked for (both ends included).")
    max_per_artist: int | None
    max_per_album: int | None
    tracks: list[PlaylistTrackOut] = Field(
        description="Start first, end last (one track when start = end); no track or recording "
        "twice; fewer than `count` only when the library lacks eligible tracks."
    )


class MixRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seeds: list[SeedRef] = Field(min_length=1, max_length=100)
    count: int = Field(50, ge=1, le=500, description="Tracks wanted.")
    exclude: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(
        default_factory=list,
        max_length=10_000,
        description="Track ids never to include (e.g. what was played); unknown ids are ignored.",
    )
    max_per_artist: int | None = Field(3, ge=1, le=500, description="null = no cap.")
    max_per_album: int | None = Field(2, ge=1, le=500, description="null = no cap.")


class SonicMixOut(BaseModel):
    seeds: list[SeedRef]
    count: int
    exclude: list[int]
    max_per_artist: int | None
    max_per_album: int | None
    tracks: list[PlaylistTrackOut] = Field(
        description="Never a seed track, an excluded track or another copy of their recordings."
    )


# -- gmm ----------------------------------------------------------------------------------------


class ModelOut(_Out):
    id: int
    status: str
    format_version: int
    k: int | None
    covariance_type: str | None
    bic: float | None
    aic: float | None
    mean_log_likelihood: float | None
    n_artists: int | None
    n_tracks: int | None
    layout_version: int | None
    training_seconds: float | None
    trigger: str
    seed: int | None
    error: str | None
    created_at: UtcDatetime
    activated_at: UtcDatetime | None


class ClusterOut(BaseModel):
    id: int = Field(description="Stable cluster id (kept across retrains).")
    model_id: int
    label: str | None
    size: int
    weight: float


class ClusterSummary(ClusterOut):
    artists: list[str] = Field(description="Names of the cluster's most representative artists.")


class ModelDetail(ModelOut):
    params: dict[str, Any] | None
    clusters: list[ClusterSummary]


class ClusterList(BaseModel):
    model_id: int | None = Field(description="The model the clusters belong to (null: none).")
    items: list[ClusterSummary]


class ClusterMember(BaseModel):
    id: int
    name: str
    probability: float = Field(ge=0, le=1)


class ClusterDetail(ClusterOut):
    profile: dict[str, Any]
    members: list[ClusterMember] = Field(description="Member artists, most probable first.")
    members_total: int


class ClusterProbability(BaseModel):
    cluster_id: int
    label: str | None
    probability: float = Field(ge=0, le=1)


class ArtistCluster(BaseModel):
    artist_id: int
    model_id: int
    cluster_id: int
    label: str | None
    probability: float = Field(ge=0, le=1)
    probabilities: list[ClusterProbability] = Field(description="Every cluster, most likely first.")
    assigned_at: UtcDatetime | None


class DriftOut(_Out):
    id: int
    checked_at: UtcDatetime
    model_id: int | None
    drift: float | None
    threshold: float | None
    decision: str
    inputs: dict[str, Any] | None = None


class ScheduledRun(BaseModel):
    name: str
    task: str
    enabled: bool
    schedule: str = Field(
        description="Human-readable schedule, e.g. `cron sun 03:00 Europe/Berlin`."
    )
    next_run_at: UtcDatetime | None


class GmmStatus(BaseModel):
    active_model: ModelOut | None
    last_training: JobRunOut | None
    training_in_progress: bool
    last_drift: DriftOut | None
    schedule: list[ScheduledRun]


class TrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_components: int | None = Field(
        None, ge=2, le=100, description="Fix the number of clusters; default: chosen by BIC."
    )
    force: bool = Field(False, description="Retrain even if nothing changed since the last model.")


class Deleted(BaseModel):
    id: int
    deleted: Literal[True] = True


# -- map ----------------------------------------------------------------------------------------


class MapCluster(BaseModel):
    id: int = Field(description="Stable cluster id.")
    label: str | None
    size: int = Field(ge=0)


class MapPoints(BaseModel):
    """One entry per artist, column by column (compact for 10,000 artists)."""

    id: list[int]
    name: list[str]
    x: list[float] = Field(description="Map x in [-1, 1].")
    y: list[float] = Field(description="Map y in [-1, 1].")
    cluster: list[int] = Field(description="Stable cluster id of the artist's best cluster.")


class MapOut(BaseModel):
    model_id: int | None = Field(description="The model the map belongs to (null: none).")
    clusters: list[MapCluster]
    artists: MapPoints
