"""The database schema's version: Alembic migrations, and the start-up check that refuses to run
on a schema older than the code (a half-migrated database loses data quietly)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import storage.db  # noqa: F401  (registers every table)

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SCHEMA_LOCK_CLASS = 0x77627363  # "wbsc"; the second key is the schema (see bot.leader)
SCHEMA_LOCK_ARGS = "CAST(:c AS int), hashtext(current_schema())"
FIX = "run `watchbot db upgrade` (or set WATCHBOT_AUTO_MIGRATE=true)"


class SchemaError(Exception):
    """The schema does not match this version of watchbot; the message says what to do."""


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str
    has_tables: bool

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def schema_state(engine: Engine) -> SchemaState:
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
    return SchemaState(current=current, head=head_revision(), has_tables=bool(tables))


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision`, in one transaction where the database allows."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def _stamp_head(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.stamp(config, "head")


def prepare_schema(engine: Engine, *, auto_migrate: bool = False) -> None:
    """Make the schema usable, or say in one sentence why not.

    An empty database gets today's tables at once (the zero-set-up path); a database left
    behind by an older watchbot is only migrated when asked to. Instances starting together
    on one PostgreSQL database take turns, so only the first creates or migrates.
    """
    if engine.dialect.name != "postgresql":
        _prepare(engine, auto_migrate)
        return
    with engine.connect() as conn:
        conn.execute(text(f"SELECT pg_advisory_lock({SCHEMA_LOCK_ARGS})"), {"c": SCHEMA_LOCK_CLASS})
        try:
            _prepare(engine, auto_migrate)
        finally:
            conn.execute(
                text(f"SELECT pg_advisory_unlock({SCHEMA_LOCK_ARGS})"), {"c": SCHEMA_LOCK_CLASS}
            )
            conn.commit()


def _prepare(engine: Engine, auto_migrate: bool) -> None:
    state = schema_state(engine)
    if state.up_to_date:
        return
    if state.current is None:
        if state.has_tables:
            log.warning("database has tables but no schema version; recording it as current")
        SQLModel.metadata.create_all(engine)
        _stamp_head(engine)
        return
    known = {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if state.current not in known:
        raise SchemaError(
            f"The database schema is at revision {state.current}, which this watchbot does not "
            "know: it was migrated by a newer version; upgrade watchbot."
        )
    if not auto_migrate:
        raise SchemaError(
            f"The database schema is out of date (revision {state.current}, this watchbot needs "
            f"{state.head}); {FIX}."
        )
    log.info("database: migrating schema %s → %s", state.current, state.head)
    upgrade(engine)
