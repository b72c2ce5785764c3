"""Times are timezone-aware UTC everywhere; SQLModel stores them as UTC on every database."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive values are taken to be UTC already (as feed parsers and SQLite give them)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
