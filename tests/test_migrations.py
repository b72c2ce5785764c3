"""Schema migrations as an operator meets them: a fresh database, an upgrade with data in it, and
a service that refuses to run on a schema older than its code."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlmodel import SQLModel

from bot.cli import main
from storage.db import make_engine
from storage.schema import alembic_config


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_migrations_build_exactly_the_models(workdir: Path, database_url: str) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "Schema upgraded: empty →" in result.output
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree; add a migration: {diff}"
    again = CliRunner().invoke(main, ["db", "upgrade"])
    assert "nothing to do" in again.output


def test_unreachable_database_is_one_sentence(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "WATCHBOT_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"
    )
    result = CliRunner().invoke(main, ["db", "status"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: Cannot use the database (WATCHBOT_DATABASE_URL)")
    assert "Traceback" not in result.output
