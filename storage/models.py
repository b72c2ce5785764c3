"""Tables: feeds with their fetch state and health, and the items they yield."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.timeutil import utcnow


class Feed(SQLModel, table=True):
    """A feed from feeds.yaml plus what polling has learnt about it.

    Rows are keyed by the URL in feeds.yaml; a feed removed from the file is kept
    (its items stay linked) but marked `in_config=False` and no longer polled.
    """

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(sa_column_kwargs={"unique": True}, max_length=2048)
    name: str
    language: str | None = None
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    tier: str = "media"
    interval_minutes: int = 60
    enabled: bool = True
    in_config: bool = True
    created_at: datetime = Field(default_factory=utcnow)

    # Fetch state (conditional GET and change detection).
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_unconditional_at: datetime | None = None

    # Scheduling and health.
    next_check_at: datetime = Field(default_factory=utcnow, index=True)
    last_checked_at: datetime | None = None
    last_success_at: datetime | None = None
    last_new_item_at: datetime | None = None
    failure_count: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_at: datetime | None = None
    last_status: int | None = None
    parse_warning: str | None = Field(default=None, sa_column=Column(Text))
    moved_to: str | None = Field(default=None, max_length=2048)
    disabled_reason: str | None = None
    has_succeeded: bool = False

    # Claim held by the process polling this feed right now (expires if it dies).
    lease_owner: str | None = None
    lease_until: datetime | None = None

    @property
    def healthy(self) -> bool:
        return self.failure_count == 0


class Item(SQLModel, table=True):
    """One news item, stored once.

    `identity` is unique within a feed (guid, else link, else title+content hash);
    `url_key` (normalised link) is unique across feeds, so a story syndicated by two
    feeds is stored, classified and alerted once.
    """

    __table_args__ = (
        UniqueConstraint("feed_id", "identity", name="uq_item_feed_identity"),
        UniqueConstraint("url_key", name="uq_item_url_key"),
        Index("ix_item_tier_first_seen", "tier", "first_seen_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int = Field(foreign_key="feed.id", index=True)
    identity: str = Field(max_length=64)
    url_key: str | None = Field(default=None, max_length=2048)
    guid: str | None = Field(default=None, sa_column=Column(Text))
    link: str | None = Field(default=None, sa_column=Column(Text))
    title: str = Field(default="", sa_column=Column(Text, nullable=False))
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    author: str | None = None
    language: str | None = None
    published_at: datetime | None = None
    first_seen_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime | None = None
    content_hash: str = Field(max_length=64)
    update_count: int = 0
    # True for the backlog found on a feed's first fetch: stored, never pushed.
    backfill: bool = False

    # Relevance (filled by the classifier).
    score: float = 0.0
    tier: str = Field(default="ignore", max_length=16)
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    matches: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    explanation: str = Field(default="", sa_column=Column(Text, nullable=False))
    classified_at: datetime | None = None

    # Set once every notifier has taken the item (console line or outbox rows).
    dispatched_at: datetime | None = Field(default=None, index=True)

    @property
    def relevant(self) -> bool:
        return self.tier != "ignore"
