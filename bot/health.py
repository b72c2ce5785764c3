"""Feed health as admins read it: one state word and one sentence of what is wrong."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from bot.config import Settings
from storage.db import create_schema, make_engine, session_scope
from storage.models import Feed


def feed_state(feed: Feed) -> str:
    if not feed.enabled:
        return "disabled"
    if feed.disabled_reason:
        return "stopped"
    if feed.failure_count:
        return "failing"
    if not feed.has_succeeded:
        return "new"
    return "ok"


def feed_problem(feed: Feed) -> str | None:
    if feed.disabled_reason:
        return f"stopped: {feed.disabled_reason}"
    if feed.failure_count:
        return f"{feed.failure_count} failures in a row; last: {feed.last_error}"
    if feed.moved_to:
        return f"moved permanently to {feed.moved_to}; update the feeds file"
    if feed.parse_warning:
        return f"parsed with a warning: {feed.parse_warning}"
    return None


def feed_health_rows(settings: Settings) -> list[dict[str, Any]]:
    engine = make_engine(settings.database_url)
    create_schema(engine)
    with session_scope(engine) as session:
        feeds = session.exec(select(Feed).where(col(Feed.in_config)).order_by(col(Feed.id))).all()
        rows = [
            {
                "name": f.name,
                "url": f.url,
                "state": feed_state(f),
                "last_success_at": f.last_success_at,
                "failure_count": f.failure_count,
                "last_error": f.last_error,
                "next_check_at": f.next_check_at,
                "moved_to": f.moved_to,
                "problem": feed_problem(f),
            }
            for f in feeds
        ]
    engine.dispose()
    return rows
