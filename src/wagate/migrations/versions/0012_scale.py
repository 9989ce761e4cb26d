"""instances: an index on (status, id) for the instance list's status filter and pages

Revision ID: 0012_scale
Revises: 0011_send_policy
Create Date: 2026-12-05 01:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0012_scale"
down_revision = "0011_send_policy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_instances_status_id", "instances", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_instances_status_id", table_name="instances")
