"""artist map: 2-D map position of each artist under a model

Revision ID: 0003_artist_map
Revises: 0002_servers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_artist_map"
down_revision = "0002_servers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("artist_clusters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("map_x", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("map_y", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("artist_clusters", schema=None) as batch_op:
        batch_op.drop_column("map_y")
        batch_op.drop_column("map_x")
