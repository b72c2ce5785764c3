"""Shared fixtures: a local feed server, a feeds file, and settings pointing at a temp database."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.feed_server import FeedServer, running_feed_server

ROOT = Path(__file__).resolve().parent.parent


def topics_section() -> str:
    """The project's shipped topic rules, so pipeline tests use what users get."""
    text = (ROOT / "feeds.yaml").read_text(encoding="utf-8")
    return text[text.index("\ntopics:") + 1 :]


def feeds_yaml(feeds: list[dict[str, Any]]) -> str:
    lines = ["feeds:"]
    for f in feeds:
        lines.append(f"  - name: {json.dumps(f['name'])}")
        for key, value in f.items():
            if key != "name":
                lines.append(f"    {key}: {json.dumps(value)}")
    if not feeds:
        lines[0] = "feeds: []"
    return "\n".join(lines) + "\n\n" + topics_section()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with running_feed_server() as server:
        yield server


PG_SKIP = (
    "PostgreSQL run skipped: set WATCHBOT_TEST_DATABASE_URL "
    "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) to run it"
)


def _postgres_schema_url(base: str) -> Iterator[str]:
    """A fresh schema per test, so tests neither see nor clean up each other's rows."""
    from sqlalchemy import create_engine, text

    schema = f"wb_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL run skipped: {base} is not reachable ({type(exc).__name__})")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every test that stores anything runs on SQLite and, when configured, on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'watchbot.db'}"
        return
    base = os.environ.get("WATCHBOT_TEST_DATABASE_URL")
    if not base:
        pytest.skip(PG_SKIP)
    yield from _postgres_schema_url(base)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    """An isolated place for the database and feeds file; env vars point there."""
    monkeypatch.chdir(tmp_path)
    for var in list(os.environ):
        if var.startswith("WATCHBOT_") and var != "WATCHBOT_TEST_DATABASE_URL":
            monkeypatch.delenv(var)
    monkeypatch.setenv("WATCHBOT_DATABASE_URL", database_url)
    monkeypatch.setenv("WATCHBOT_FEEDS_FILE", str(tmp_path / "feeds.yaml"))
    monkeypatch.setenv("WATCHBOT_HTTP_PORT", "0")  # tests that serve HTTP pick a free port
    return tmp_path


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_feeds(workdir: Path, feeds: list[dict[str, Any]]) -> Path:
    path = workdir / "feeds.yaml"
    path.write_text(feeds_yaml(feeds), encoding="utf-8")
    return path
