"""Upgrading a database an older watchbot left behind, with data in it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from bot.cli import main
from storage.db import make_engine
from storage.schema import schema_state, upgrade
from tests.conftest import write_feeds
from tests.test_migrations import _revisions


def _old_database_with_data(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, _revisions()[0])
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO feed (url, name, tags, tier, interval_minutes, enabled, in_config, "
                "created_at, next_check_at, failure_count, has_succeeded) VALUES "
                "('https://old.example/feed', 'Old feed', '[]', 'media', 60, true, true, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0, true)"
            )
        )
        feed_id = conn.execute(text("SELECT id FROM feed")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO item (feed_id, identity, title, summary, first_seen_at, "
                "content_hash, update_count, backfill, score, tier, topics, matches, explanation) "
                "VALUES (:f, 'id-1', 'ICJ orders Syria to prevent torture', '', "
                "CURRENT_TIMESTAMP, 'h', 0, false, 0.9, 'alert', '[\"icj\"]', '[]', 'why')"
            ),
            {"f": feed_id},
        )
    engine.dispose()


def test_run_refuses_an_old_schema_and_db_upgrade_keeps_the_data(
    workdir: Path, database_url: str
) -> None:
    revisions = _revisions()
    assert len(revisions) >= 2, "this test needs an older migration to start from"
    _old_database_with_data(database_url)
    write_feeds(workdir, [])

    refused = CliRunner().invoke(main, ["run"])
    assert refused.exit_code == 1
    assert "schema is out of date" in refused.output
    assert "watchbot db upgrade" in refused.output
    status = CliRunner().invoke(main, ["db", "status"])
    assert status.exit_code == 1 and revisions[0] in status.output

    upgraded = CliRunner().invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"{revisions[0]} → {revisions[-1]}" in upgraded.output
    engine = make_engine(database_url)
    assert schema_state(engine).up_to_date
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM feed")).scalar_one() == "Old feed"
        title = conn.execute(text("SELECT title FROM item")).scalar_one()
        assert title == "ICJ orders Syria to prevent torture"
    engine.dispose()
    items = CliRunner().invoke(main, ["items", "--since", "1d", "--relevant"])
    assert items.exit_code == 0 and "ICJ orders Syria" in items.output


def test_auto_migrate_upgrades_at_start(
    workdir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _old_database_with_data(database_url)
    monkeypatch.setenv("WATCHBOT_AUTO_MIGRATE", "true")
    from bot.config import load_settings
    from storage.db import create_schema

    engine = make_engine(database_url)
    create_schema(engine, auto_migrate=load_settings().auto_migrate)
    assert schema_state(engine).up_to_date
    engine.dispose()
