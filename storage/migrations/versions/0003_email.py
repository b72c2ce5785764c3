"""e-mail digests: addresses, outbox and the link-signing key

Revision ID: 0003_email
Revises: 0002_stories
Create Date: 2026-11-23 12:14:36.438945
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0003_email"
down_revision: str | None = "0002_stories"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "emailkey",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "emailoutbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("emailoutbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_emailoutbox_state_next", ["state", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_emailoutbox_subscription_id"), ["subscription_id"], unique=False
        )

    op.create_table(
        "emailsubscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("digest_hour", sa.Integer(), nullable=False),
        sa.Column("last_digest_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("confirm_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("confirm_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("confirm_failures", sa.Integer(), nullable=False),
        sa.Column("confirm_sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("confirmed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("bounce_count", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("address"),
    )
    with op.batch_alter_table("emailsubscription", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_emailsubscription_confirm_token"), ["confirm_token"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_emailsubscription_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_emailsubscription_subscriber_id"), ["subscriber_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("emailsubscription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_emailsubscription_subscriber_id"))
        batch_op.drop_index(batch_op.f("ix_emailsubscription_status"))
        batch_op.drop_index(batch_op.f("ix_emailsubscription_confirm_token"))

    op.drop_table("emailsubscription")
    with op.batch_alter_table("emailoutbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_emailoutbox_subscription_id"))
        batch_op.drop_index("ix_emailoutbox_state_next")

    op.drop_table("emailoutbox")
    op.drop_table("emailkey")
