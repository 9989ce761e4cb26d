"""instances.device_jid: the exact whatsmeow device an instance linked as

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Instances linked before the column existed: in the shared PostgreSQL store, the device row
# of their number is theirs when it is the only device of that number and no other instance
# has that number. Anything ambiguous stays unset: that instance pairs anew rather than
# resuming (or deleting) another instance's device.
BACKFILL = """
UPDATE instances AS i SET device_jid = d.jid
FROM whatsmeow_device AS d
WHERE i.device_jid IS NULL AND i.jid IS NOT NULL
  AND split_part(split_part(split_part(d.jid, '@', 1), ':', 1), '.', 1)
      = split_part(i.jid, '@', 1)
  AND (SELECT count(*) FROM whatsmeow_device AS o
       WHERE split_part(split_part(split_part(o.jid, '@', 1), ':', 1), '.', 1)
             = split_part(i.jid, '@', 1)) = 1
  AND (SELECT count(*) FROM instances AS s WHERE s.jid = i.jid) = 1
"""


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("device_jid", sa.String(length=128), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        has_store = bind.scalar(sa.text("SELECT to_regclass('whatsmeow_device') IS NOT NULL"))
        if has_store:
            op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("device_jid")
