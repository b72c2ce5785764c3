"""Handing newly stored items to the notifiers, exactly once.

An item is marked dispatched in the same transaction in which notifiers write their
outbox rows, so a crash either leaves both undone (retried) or both done. Stories are
assigned in that transaction too, before the notifiers run, so they can alert once per
story and edit the alert when another outlet reports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TextIO

import click
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.stories import assign_stories
from storage.db import session_scope
from storage.models import Feed, Item
from storage.stories import story_ids
from storage.timeutil import utcnow

BATCH = 500


class Notifier(Protocol):
    def dispatch(self, session: Session, items: list[Item]) -> int: ...


def dispatch_pending(engine: Engine, notifiers: Sequence[Notifier]) -> int:
    """Give every undispatched item to the notifiers; returns how many relevant items went out."""
    pushed = 0
    while True:
        with session_scope(engine) as session:
            query = (
                select(Item)
                .where(col(Item.dispatched_at).is_(None))
                .order_by(col(Item.id))
                .limit(BATCH)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            items = list(session.exec(query).all())
            if not items:
                return pushed
            assign_stories(session, items)
            wanted = [i for i in items if i.tier != "ignore" and not i.backfill]
            wanted.sort(key=lambda i: (i.tier != "alert", -i.score))
            for notifier in notifiers:
                notifier.dispatch(session, wanted)
            now = utcnow()
            for item in items:
                item.dispatched_at = now
                session.add(item)
            pushed += len(wanted)
        if len(items) < BATCH:
            return pushed


class ConsoleNotifier:
    """Without Telegram, relevant items are printed: the whole pipeline runs with zero set-up."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out

    def dispatch(self, session: Session, items: list[Item]) -> int:
        if not items:
            return 0
        feeds = {
            f.id: f.name
            for f in session.exec(
                select(Feed).where(col(Feed.id).in_({i.feed_id for i in items}))
            ).all()
        }
        stories = story_ids(session, (i.id for i in items if i.id is not None))
        for item in items:
            text = format_item(item, feeds.get(item.feed_id, "?"))
            story = stories.get(item.id or 0, item.id)
            if story != item.id:
                text += f"\n    same story as item #{story} (another outlet's report)"
            click.echo(text, file=self.out)
        return len(items)


def format_item(item: Item, source: str) -> str:
    when = item.published_at or item.first_seen_at
    label = click.style(f"[{item.tier.upper()} {item.score:.2f}]", bold=True)
    lines = [
        f"{label} {item.title or '(no title)'}",
        f"    {source} · {when:%Y-%m-%d %H:%M} UTC · {', '.join(item.topics) or '-'}",
    ]
    if item.link:
        lines.append(f"    {item.link}")
    if item.explanation:
        lines.append(f"    why: {item.explanation}")
    return "\n".join(lines)
