"""Alembic environment: the engine comes from the caller (`storage.schema`), the target
metadata from the SQLModel tables."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import storage.db  # noqa: F401  (registers every table on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `watchbot db upgrade` (storage.schema)")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
