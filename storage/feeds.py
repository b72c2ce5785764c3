"""Feed rows: mirroring feeds.yaml, claiming due feeds, recording each fetch's outcome."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, func, or_, update
from sqlmodel import Session, col, select

from storage.models import Feed
from storage.timeutil import as_utc


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

    One conditional UPDATE per CLAIM_CHUNK ids is the claim (it works on SQLite and
    PostgreSQL alike: a row another worker leased meanwhile no longer matches). On PostgreSQL
    the candidate SELECT also takes FOR UPDATE SKIP LOCKED, so concurrent claimers skip each
    other's rows instead of waiting. synchronize_session=False: the per-row ORM UPDATE that
    evaluated every loaded Feed made claiming quadratic in the number of due feeds.
    """
    query = (
        select(Feed.id)
        .where(col(Feed.in_config), col(Feed.enabled), col(Feed.disabled_reason).is_(None))
        .where(or_(col(Feed.lease_until).is_(None), col(Feed.lease_until) < now))
        .order_by(col(Feed.next_check_at))
        .limit(limit)
    )
    if not everything:
        query = query.where(col(Feed.next_check_at) <= now)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = [i for i in session.exec(query).all() if i is not None]
    until = now + lease
    for chunk in _chunks(ids):
        session.execute(
            update(Feed)
            .where(col(Feed.id).in_(chunk))
            .where(or_(col(Feed.lease_until).is_(None), col(Feed.lease_until) < now))
            .values(lease_owner=owner, lease_until=until)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    claimed: list[Feed] = []
    for chunk in _chunks(ids):
        # Only rows this very claim leased (a row leased by someone else is skipped).
        claimed.extend(
            session.exec(
                select(Feed)
                .where(col(Feed.id).in_(chunk))
                .where(col(Feed.lease_owner) == owner, col(Feed.lease_until) == until)
                .order_by(col(Feed.next_check_at))
                .execution_options(populate_existing=True)
            ).all()
        )
    return claimed


CLAIM_CHUNK = 500


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), CLAIM_CHUNK):
        yield ids[i : i + CLAIM_CHUNK]


def finish_feed(session: Session, feed_id: int, owner: str, changes: dict[str, Any]) -> bool:
    """Record a fetch outcome and release the lease, if this worker still holds it."""
    result = session.execute(
        update(Feed)
        .where(col(Feed.id) == feed_id)
        .where(col(Feed.lease_owner) == owner)
        .values(lease_owner=None, lease_until=None, **changes)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def finish_feeds(
    session: Session, owner: str, outcomes: Sequence[tuple[int, dict[str, Any]]]
) -> None:
    """finish_feed for many feeds in one transaction: a warm pass is mostly 304s, and a
    commit per feed was most of its cost. Rows sharing a set of changed columns go in one
    executemany (Core, by primary key, still only while this worker holds the lease)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for feed_id, changes in outcomes:
        row = {"b_id": feed_id, **{f"v_{k}": v for k, v in changes.items()}}
        groups.setdefault(tuple(sorted(changes)), []).append(row)
    table = Feed.__table__  # type: ignore[attr-defined]
    for keys, rows in groups.items():
        stmt = (
            table.update()
            .where(table.c.id == bindparam("b_id"))
            .where(table.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None, **{k: bindparam(f"v_{k}") for k in keys})
        )
        session.connection().execute(stmt, rows)


def release_leases(session: Session, owner: str) -> int:
    """On shutdown: give back what this process claimed so another can take it at once."""
    result = session.execute(
        update(Feed)
        .where(col(Feed.lease_owner) == owner)
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def next_due_at(session: Session) -> datetime | None:
    """When the next feed falls due (None without pollable feeds), so the scheduler can wake
    then instead of at its next fixed tick."""
    return session.exec(
        select(func.min(Feed.next_check_at)).where(
            col(Feed.in_config), col(Feed.enabled), col(Feed.disabled_reason).is_(None)
        )
    ).one()


def feeds_in_config(session: Session) -> Iterable[Feed]:
    return session.exec(select(Feed).where(col(Feed.in_config)).order_by(col(Feed.id))).all()


# Feeds created this soon after the first one belong to the installation's starting list.
INSTALL_WINDOW = timedelta(hours=1)


def added_after_install(session: Session, feed_id: int) -> bool:
    """True for a feed added to a running installation (its first fetch stays silent)."""
    first = session.exec(select(func.min(Feed.created_at))).one()
    feed = session.get(Feed, feed_id)
    if first is None or feed is None:
        return False
    return as_utc(feed.created_at) - as_utc(first) > INSTALL_WINDOW
