"""Items: stored once, updated when their content changes, never re-alerted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
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


@dataclass(frozen=True)
class StoredItem:
    """What callers learn about an inserted row (no ORM object is built for it)."""

    identity: str
    tier: str
    backfill: bool


@dataclass
class StoreResult:
    new: list[StoredItem] = field(default_factory=list)
    updated: int = 0
    seen_elsewhere: int = 0
    unchanged: int = 0


def is_backfill(
    published: datetime | None, now: datetime, first_fetch: bool, silent: bool = False
) -> bool:
    """Old news is stored but not pushed: a feed's first fetch imports its backlog silently,
    and an entry dated weeks back never alerts. Only for the feeds a new installation starts
    with (`silent` False) do the last two days' items count as news, so that a first run
    shows something; a feed added later imports everything it holds silently."""
    if first_fetch and (silent or published is None or now - published > timedelta(days=2)):
        return True
    return published is not None and now - published > timedelta(days=14)


def _verdict_values(verdict: Verdict, now: datetime) -> dict[str, Any]:
    return {
        "score": verdict.score,
        "tier": verdict.tier,
        "topics": verdict.topics,
        "matches": verdict.matches,
        "explanation": verdict.explanation,
        "classified_at": now,
    }


def _model_defaults(given: set[str]) -> dict[str, Any]:
    """Defaults of Item fields a row dict leaves out (columns other modules may add), since a
    Core insert only knows SQL-side defaults."""
    out: dict[str, Any] = {}
    for name, info in Item.model_fields.items():
        if name == "id" or name in given:
            continue
        out[name] = info.get_default(call_default_factory=True)
    return out


def store_entries(
    session: Session,
    feed_id: int,
    entries: Sequence[NewEntry],
    now: datetime,
    classify: Classify,
    first_fetch: bool = False,
    silent: bool = False,
) -> StoreResult:
    """Insert new entries, update changed ones; skip what any feed already stored by URL.

    Rows are written with Core statements, not ORM objects: building an Item per entry
    (pydantic validation of every default) was a quarter of a cold pass.
    """
    result = StoreResult()
    batch: dict[str, NewEntry] = {}
    for e in entries:
        batch.setdefault(e.identity, e)
    existing: dict[str, tuple[int, str, int]] = {}
    ids = list(batch)
    for i in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(Item.identity, Item.id, Item.content_hash, Item.update_count).where(
                Item.feed_id == feed_id, col(Item.identity).in_(ids[i : i + CHUNK])
            )
        ).all()
        existing.update({r[0]: (r[1], r[2], r[3]) for r in rows})
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
    fresh: list[dict[str, Any]] = []
    for e in batch.values():
        old = existing.get(e.identity)
        if old is not None:
            item_id, old_hash, update_count = old
            if old_hash == e.content_hash or update_count >= MAX_UPDATES:
                result.unchanged += 1
                continue
            changes: dict[str, Any] = {
                "title": e.title,
                "summary": e.summary,
                "content_hash": e.content_hash,
                "updated_at": now,
                "update_count": update_count + 1,
                **_verdict_values(classify(e.title, e.summary, e.language), now),
            }
            if e.link:
                changes["link"] = e.link
            if e.published_at:
                changes["published_at"] = e.published_at
            session.execute(
                update(Item)
                .where(col(Item.id) == item_id)
                .values(**changes)
                .execution_options(synchronize_session=False)
            )
            result.updated += 1
            continue
        if e.url_key and e.url_key in known_urls:
            result.seen_elsewhere += 1
            continue
        if e.url_key:
            known_urls.add(e.url_key)
        fresh.append(
            {
                "feed_id": feed_id,
                "identity": e.identity,
                "url_key": e.url_key,
                "guid": e.guid,
                "link": e.link,
                "title": e.title,
                "summary": e.summary,
                "author": e.author,
                "language": e.language,
                "published_at": e.published_at,
                "first_seen_at": now,
                "updated_at": None,
                "content_hash": e.content_hash,
                "update_count": 0,
                "backfill": is_backfill(e.published_at, now, first_fetch, silent),
                "dispatched_at": None,
                **_verdict_values(classify(e.title, e.summary, e.language), now),
            }
        )
    result.new = _insert(session, fresh, result)
    return result


def _insert(session: Session, fresh: list[dict[str, Any]], result: StoreResult) -> list[StoredItem]:
    """Insert in one go (a Core executemany); if another worker stored one of them
    meanwhile, fall back row by row, each in its own savepoint so a duplicate loses only
    itself."""
    if not fresh:
        return []
    defaults = _model_defaults(set(fresh[0]))
    rows = [{**defaults, **r} for r in fresh] if defaults else fresh
    table = Item.__table__  # type: ignore[attr-defined]
    try:
        with session.begin_nested():
            session.connection().execute(table.insert(), rows)
        return [StoredItem(r["identity"], r["tier"], r["backfill"]) for r in rows]
    except IntegrityError:
        pass
    stored: list[StoredItem] = []
    for row in rows:
        try:
            with session.begin_nested():
                session.connection().execute(table.insert(), [row])
            stored.append(StoredItem(row["identity"], row["tier"], row["backfill"]))
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
