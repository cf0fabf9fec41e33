"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "albums",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("album_artist", sa.String(length=512), nullable=True),
        sa.Column("mbid", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_albums")),
        sa.UniqueConstraint("key", name=op.f("uq_albums_key")),
    )
    op.create_table(
        "app_state",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_app_state")),
    )
    op.create_table(
        "artists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("mbid", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artists")),
        sa.UniqueConstraint("key", name=op.f("uq_artists_key")),
    )
    with op.batch_alter_table("artists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_artists_name"), ["name"], unique=False)

    op.create_table(
        "gmm_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("format_version", sa.Integer(), nullable=False),
        sa.Column("k", sa.Integer(), nullable=True),
        sa.Column("covariance_type", sa.String(length=16), nullable=True),
        sa.Column("bic", sa.Float(), nullable=True),
        sa.Column("aic", sa.Float(), nullable=True),
        sa.Column("mean_log_likelihood", sa.Float(), nullable=True),
        sa.Column("n_artists", sa.Integer(), nullable=True),
        sa.Column("n_tracks", sa.Integer(), nullable=True),
        sa.Column("layout_version", sa.Integer(), nullable=True),
        sa.Column("training_seconds", sa.Float(), nullable=True),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active_flag", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gmm_models")),
        sa.UniqueConstraint("active_flag", name=op.f("uq_gmm_models_active_flag")),
    )
    with op.batch_alter_table("gmm_models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gmm_models_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_gmm_models_status"), ["status"], unique=False)

    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_runs_started_at"), ["started_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_runs_task"), ["task"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_runs_task_id"), ["task_id"], unique=False)

    op.create_table(
        "scan_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("roots", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("moved", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_sessions")),
    )
    with op.batch_alter_table("scan_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scan_sessions_status"), ["status"], unique=False)

    op.create_table(
        "artist_clusters",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("artist_id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("probabilities", sa.LargeBinary(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["artist_id"],
            ["artists.id"],
            name=op.f("fk_artist_clusters_artist_id_artists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["gmm_models.id"],
            name=op.f("fk_artist_clusters_model_id_gmm_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "artist_id", name=op.f("pk_artist_clusters")),
    )
    with op.batch_alter_table("artist_clusters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_artist_clusters_artist_id"), ["artist_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_artist_clusters_cluster_id"), ["cluster_id"], unique=False
        )

    op.create_table(
        "artist_embeddings",
        sa.Column("artist_id", sa.Integer(), nullable=False),
        sa.Column("layout_version", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("n_tracks", sa.Integer(), nullable=False),
        sa.Column("total_duration_s", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["artist_id"],
            ["artists.id"],
            name=op.f("fk_artist_embeddings_artist_id_artists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("artist_id", name=op.f("pk_artist_embeddings")),
    )
    op.create_table(
        "drift_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("drift", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["gmm_models.id"],
            name=op.f("fk_drift_checks_model_id_gmm_models"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_checks")),
    )
    with op.batch_alter_table("drift_checks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_drift_checks_checked_at"), ["checked_at"], unique=False
        )

    op.create_table(
        "gmm_clusters",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("component", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=256), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["gmm_models.id"],
            name=op.f("fk_gmm_clusters_model_id_gmm_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "cluster_id", name=op.f("pk_gmm_clusters")),
    )
    op.create_table(
        "gmm_model_arrays",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("dtype", sa.String(length=16), nullable=False),
        sa.Column("shape", sa.JSON(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["gmm_models.id"],
            name=op.f("fk_gmm_model_arrays_model_id_gmm_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "name", name=op.f("pk_gmm_model_arrays")),
    )
    op.create_table(
        "scan_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scan_sessions.id"],
            name=op.f("fk_scan_failures_scan_id_scan_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_failures")),
    )
    with op.batch_alter_table("scan_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scan_failures_scan_id"), ["scan_id"], unique=False)

    op.create_table(
        "tracks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime", sa.Float(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("title", sa.String(length=512), nullable=True),
        sa.Column("artist_id", sa.Integer(), nullable=True),
        sa.Column("album_id", sa.Integer(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("analysed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["album_id"], ["albums.id"], name=op.f("fk_tracks_album_id_albums"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["artist_id"],
            ["artists.id"],
            name=op.f("fk_tracks_artist_id_artists"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracks")),
        sa.UniqueConstraint("path", name=op.f("uq_tracks_path")),
    )
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.create_index("ix_tracks_album_artist", ["album_id", "artist_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tracks_album_id"), ["album_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tracks_artist_id"), ["artist_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tracks_fingerprint"), ["fingerprint"], unique=False)
        batch_op.create_index(batch_op.f("ix_tracks_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_tracks_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "track_embeddings",
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("layout_version", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_track_embeddings_track_id_tracks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("track_id", name=op.f("pk_track_embeddings")),
    )
    op.create_table(
        "track_features",
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("analysis_version", sa.Integer(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_track_features_track_id_tracks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("track_id", name=op.f("pk_track_features")),
    )


def downgrade() -> None:
    op.drop_table("track_features")
    op.drop_table("track_embeddings")
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracks_updated_at"))
        batch_op.drop_index(batch_op.f("ix_tracks_status"))
        batch_op.drop_index(batch_op.f("ix_tracks_fingerprint"))
        batch_op.drop_index(batch_op.f("ix_tracks_artist_id"))
        batch_op.drop_index(batch_op.f("ix_tracks_album_id"))
        batch_op.drop_index("ix_tracks_album_artist")

    op.drop_table("tracks")
    with op.batch_alter_table("scan_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scan_failures_scan_id"))

    op.drop_table("scan_failures")
    op.drop_table("gmm_model_arrays")
    op.drop_table("gmm_clusters")
    with op.batch_alter_table("drift_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drift_checks_checked_at"))

    op.drop_table("drift_checks")
    op.drop_table("artist_embeddings")
    with op.batch_alter_table("artist_clusters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artist_clusters_cluster_id"))
        batch_op.drop_index(batch_op.f("ix_artist_clusters_artist_id"))

    op.drop_table("artist_clusters")
    with op.batch_alter_table("scan_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scan_sessions_status"))

    op.drop_table("scan_sessions")
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_runs_task_id"))
        batch_op.drop_index(batch_op.f("ix_job_runs_task"))
        batch_op.drop_index(batch_op.f("ix_job_runs_started_at"))

    op.drop_table("job_runs")
    with op.batch_alter_table("gmm_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gmm_models_status"))
        batch_op.drop_index(batch_op.f("ix_gmm_models_created_at"))

    op.drop_table("gmm_models")
    with op.batch_alter_table("artists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artists_name"))

    op.drop_table("artists")
    op.drop_table("app_state")
    op.drop_table("albums")
    # ### end Alembic commands ###
