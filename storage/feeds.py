"""Feed rows: mirroring feeds.yaml, claiming due feeds, recording each fetch's outcome."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from storage.models import Feed


class FeedConfig(Protocol):
    """What storage needs from a feeds.yaml entry."""

    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def language(self) -> str | None: ...
    @property
    def tags(self) -> tuple[str, ...]: ...
    @property
    def tier(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def interval_minutes(self) -> int: ...


@dataclass
class SyncReport:
    added: list[str]
    changed: list[str]
    removed: list[str]


def sync_feeds(session: Session, specs: Sequence[FeedConfig], now: datetime) -> SyncReport:
    """Make the feed rows match feeds.yaml; new feeds are due at once, removed ones kept idle."""
    rows = {f.url: f for f in session.exec(select(Feed)).all()}
    report = SyncReport([], [], [])
    wanted = set()
    for spec in specs:
        wanted.add(spec.url)
        row = rows.get(spec.url)
        values: dict[str, Any] = {
            "name": spec.name,
            "language": spec.language,
            "tags": list(spec.tags),
            "tier": spec.tier,
            "enabled": spec.enabled,
            "interval_minutes": spec.interval_minutes,
            "in_config": True,
        }
        if row is None:
            session.add(Feed(url=spec.url, next_check_at=now, **values))
            report.added.append(spec.url)
            continue
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if changed:
            if changed.get("enabled") is True or changed.get("in_config") is True:
                row.next_check_at = now
                row.disabled_reason = None
            if "interval_minutes" in changed:
                row.next_check_at = min(
                    row.next_check_at, now + timedelta(minutes=spec.interval_minutes)
                )
            for k, v in changed.items():
                setattr(row, k, v)
            session.add(row)
            report.changed.append(spec.url)
    for url, row in rows.items():
        if url not in wanted and row.in_config:
            row.in_config = False
            session.add(row)
            report.removed.append(url)
    return report


def claim_due_feeds(
    session: Session,
    now: datetime,
    owner: str,
    lease: timedelta,
    limit: int,
    everything: bool = False,
) -> list[Feed]:
    """Take a lease on feeds that are due, so no two workers poll one feed at once.

    The conditional UPDATE is the claim (it works on SQLite and PostgreSQL alike); on
    PostgreSQL SKIP LOCKED also keeps concurrent claimers from waiting on each other.
    """
    query = (
        select(Feed)
        .where(col(Feed.in_config), col(Feed.enabled), col(Feed.disabled_reason).is_(None))
        .where(or_(col(Feed.lease_until).is_(None), col(Feed.lease_until) < now))
        .order_by(col(Feed.next_check_at))
        .limit(limit)
    )
    if not everything:
        query = query.where(col(Feed.next_check_at) <= now)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    candidates = list(session.exec(query).all())
    claimed: list[Feed] = []
    for feed in candidates:
        result = session.execute(
            update(Feed)
            .where(col(Feed.id) == feed.id)
            .where(or_(col(Feed.lease_until).is_(None), col(Feed.lease_until) < now))
            .values(lease_owner=owner, lease_until=now + lease)
        )
        if getattr(result, "rowcount", 0) == 1:
            claimed.append(feed)
    session.commit()
    for feed in claimed:
        session.refresh(feed)
    return claimed


def finish_feed(session: Session, feed_id: int, owner: str, changes: dict[str, Any]) -> bool:
    """Record a fetch outcome and release the lease, if this worker still holds it."""
    result = session.execute(
        update(Feed)
        .where(col(Feed.id) == feed_id)
        .where(col(Feed.lease_owner) == owner)
        .values(lease_owner=None, lease_until=None, **changes)
    )
    return getattr(result, "rowcount", 0) == 1


def release_leases(session: Session, owner: str) -> int:
    """On shutdown: give back what this process claimed so another can take it at once."""
    result = session.execute(
        update(Feed)
        .where(col(Feed.lease_owner) == owner)
        .values(lease_owner=None, lease_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def feeds_in_config(session: Session) -> Iterable[Feed]:
    return session.exec(select(Feed).where(col(Feed.in_config)).order_by(col(Feed.id))).all()
