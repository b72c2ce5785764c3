"""Items: stored once, updated when their content changes, never re-alerted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import Item

MAX_UPDATES = 24  # reader's limit: a live blog must not be rewritten forever
CHUNK = 500


@dataclass
class NewEntry:
    """An entry ready to store: identity and keys already computed by the ingestion layer."""

    identity: str
    url_key: str | None
    content_hash: str
    guid: str | None
    link: str | None
    title: str
    summary: str
    published_at: datetime | None
    language: str | None
    author: str | None = None


@dataclass
class Verdict:
    score: float
    tier: str
    topics: list[str]
    matches: list[dict[str, Any]]
    explanation: str


Classify = Callable[[str, str, str | None], Verdict]


@dataclass
class StoreResult:
    new: list[Item] = field(default_factory=list)
    updated: int = 0
    seen_elsewhere: int = 0
    unchanged: int = 0


def is_backfill(published: datetime | None, now: datetime, first_fetch: bool) -> bool:
    """Old news is stored but not pushed: a feed's first fetch imports its backlog silently
    (except the last two days), and an entry dated weeks back never alerts."""
    if first_fetch and (published is None or now - published > timedelta(days=2)):
        return True
    return published is not None and now - published > timedelta(days=14)


def _apply_verdict(item: Item, verdict: Verdict, now: datetime) -> None:
    item.score = verdict.score
    item.tier = verdict.tier
    item.topics = verdict.topics
    item.matches = verdict.matches
    item.explanation = verdict.explanation
    item.classified_at = now


def store_entries(
    session: Session,
    feed_id: int,
    entries: Sequence[NewEntry],
    now: datetime,
    classify: Classify,
    first_fetch: bool = False,
) -> StoreResult:
    """Insert new entries, update changed ones; skip what any feed already stored by URL."""
    result = StoreResult()
    batch: dict[str, NewEntry] = {}
    for e in entries:
        batch.setdefault(e.identity, e)
    existing: dict[str, Item] = {}
    ids = list(batch)
    for i in range(0, len(ids), CHUNK):
        rows = session.exec(
            select(Item).where(Item.feed_id == feed_id, col(Item.identity).in_(ids[i : i + CHUNK]))
        ).all()
        existing.update({r.identity: r for r in rows})
    keys = [e.url_key for e in batch.values() if e.url_key and e.identity not in existing]
    known_urls: set[str] = set()
    for i in range(0, len(keys), CHUNK):
        known_urls.update(
            k
            for k in session.exec(
                select(Item.url_key).where(col(Item.url_key).in_(keys[i : i + CHUNK]))
            ).all()
            if k
        )
    fresh: list[Item] = []
    for e in batch.values():
        old = existing.get(e.identity)
        if old is not None:
            if old.content_hash == e.content_hash or old.update_count >= MAX_UPDATES:
                result.unchanged += 1
                continue
            old.title, old.summary, old.link = e.title, e.summary, e.link or old.link
            old.content_hash = e.content_hash
            old.published_at = e.published_at or old.published_at
            old.updated_at = now
            old.update_count += 1
            _apply_verdict(old, classify(e.title, e.summary, e.language), now)
            session.add(old)
            result.updated += 1
            continue
        if e.url_key and e.url_key in known_urls:
            result.seen_elsewhere += 1
            continue
        if e.url_key:
            known_urls.add(e.url_key)
        item = Item(
            feed_id=feed_id,
            identity=e.identity,
            url_key=e.url_key,
            guid=e.guid,
            link=e.link,
            title=e.title,
            summary=e.summary,
            author=e.author,
            language=e.language,
            published_at=e.published_at,
            first_seen_at=now,
            content_hash=e.content_hash,
            backfill=is_backfill(e.published_at, now, first_fetch),
        )
        _apply_verdict(item, classify(e.title, e.summary, e.language), now)
        fresh.append(item)
    result.new = _insert(session, fresh, result)
    return result


def _insert(session: Session, fresh: list[Item], result: StoreResult) -> list[Item]:
    """Insert in one go; if another worker stored one of them meanwhile, fall back row by row."""
    if not fresh:
        return []
    try:
        with session.begin_nested():
            session.add_all(fresh)
        return fresh
    except IntegrityError:
        pass
    stored: list[Item] = []
    for item in fresh:
        try:
            copy = Item.model_validate(item.model_dump())
            with session.begin_nested():
                session.add(copy)
            stored.append(copy)
        except IntegrityError:
            result.seen_elsewhere += 1
    return stored


def recent_items(
    session: Session, since: datetime, relevant_only: bool = False, limit: int = 200
) -> Sequence[Item]:
    query = select(Item).where(col(Item.first_seen_at) >= since)
    if relevant_only:
        query = query.where(col(Item.tier) != "ignore")
    return session.exec(query.order_by(col(Item.first_seen_at).desc()).limit(limit)).all()
