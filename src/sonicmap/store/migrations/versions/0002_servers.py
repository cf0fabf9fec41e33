"""music servers: servers, song/artist id mappings, pushed playlists

Revision ID: 0002_servers
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_servers"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "servers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("username", sa.String(length=256), nullable=True),
        sa.Column("secret", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("sync_generation", sa.Integer(), nullable=False),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sync", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_servers")),
        sa.UniqueConstraint("name", name=op.f("uq_servers_name")),
    )
    op.create_table(
        "server_songs",
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("server_song_id", sa.String(length=255), nullable=False),
        sa.Column("server_artist_id", sa.String(length=255), nullable=True),
        sa.Column("track_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_server_songs_server_id_servers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_server_songs_track_id_tracks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("server_id", "server_song_id", name=op.f("pk_server_songs")),
    )
    with op.batch_alter_table("server_songs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_server_songs_track_id"), ["track_id"], unique=False)
        batch_op.create_index(
            "ix_server_songs_server_track", ["server_id", "track_id"], unique=False
        )
    op.create_table(
        "server_artists",
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("server_artist_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=True),
        sa.Column("artist_id", sa.Integer(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artist_id"],
            ["artists.id"],
            name=op.f("fk_server_artists_artist_id_artists"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_server_artists_server_id_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("server_id", "server_artist_id", name=op.f("pk_server_artists")),
    )
    with op.batch_alter_table("server_artists", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_server_artists_artist_id"), ["artist_id"], unique=False
        )
        batch_op.create_index(
            "ix_server_artists_server_artist", ["server_id", "artist_id"], unique=False
        )
    op.create_table(
        "server_playlists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("playlist_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("track_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_server_playlists_server_id_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_server_playlists")),
        sa.UniqueConstraint("server_id", "key", name=op.f("uq_server_playlists_server_id")),
    )


def downgrade() -> None:
    op.drop_table("server_playlists")
    with op.batch_alter_table("server_artists", schema=None) as batch_op:
        batch_op.drop_index("ix_server_artists_server_artist")
        batch_op.drop_index(batch_op.f("ix_server_artists_artist_id"))
    op.drop_table("server_artists")
    with op.batch_alter_table("server_songs", schema=None) as batch_op:
        batch_op.drop_index("ix_server_songs_server_track")
        batch_op.drop_index(batch_op.f("ix_server_songs_track_id"))
    op.drop_table("server_songs")
    op.drop_table("servers")
