"""Tables for Telegram delivery: who subscribed, what is queued for them, what they thought.

Chat ids are BIGINT: group and channel ids (-100…) do not fit in 32 bits on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.timeutil import utcnow

# Subscriber.mode values.
MODE_INSTANT_DAILY = "instant_daily"
MODE_DAILY = "daily"
MODE_WEEKLY = "weekly"
MODES = (MODE_INSTANT_DAILY, MODE_DAILY, MODE_WEEKLY)

# OutboxMessage.state values. `dropped`: the chat became unreachable, nothing to retry.
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
DEAD = "dead"
DROPPED = "dropped"


class Subscriber(SQLModel, table=True):
    """A chat that receives alerts: a person (private chat), a group or a channel.

    For private chats nothing but the chat id and preferences is kept (no names):
    the people using this bot may be at risk.
    """

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, unique=True, nullable=False))
    chat_type: str = "private"  # private | group | supergroup | channel
    title: str | None = None  # groups and channels only
    added_by: int | None = Field(default=None, sa_column=Column(BigInteger))  # admin user id
    language: str = "en"
    timezone: str = "UTC"
    mode: str = MODE_INSTANT_DAILY
    digest_time: str = "08:00"  # local HH:MM
    digest_weekday: int = 0  # Monday, for the weekly mode
    # Topics switched off; new topics are on by default ("all topics").
    topics_off: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    link_previews: bool = False  # off by default: previews fetch links from Telegram's side
    active: bool = Field(default=True, index=True)
    paused: bool = False
    deactivated_reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    last_digest_at: datetime | None = None

    @property
    def is_group(self) -> bool:
        return self.chat_type != "private"

    def wants_topics(self, topics: list[str]) -> bool:
        """True if any of the item's topics is on (an item without topics counts as on)."""
        if not topics:
            return True
        return any(t not in self.topics_off for t in topics)


class OutboxMessage(SQLModel, table=True):
    """One message to one chat, stored before it is sent so that nothing is lost or doubled.

    `key` makes enqueueing idempotent, e.g. `alert:<chat>:<item>` or `digest:<chat>:<period>:<n>`.
    An `edit` row (`edit:<chat>:<story>:<n sources>`) rewrites the chat's alert for `item_id`.
    """

    __table_args__ = (
        Index("ix_outbox_state_chat_id", "state", "chat_id", "id"),
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column_kwargs={"unique": True}, max_length=200)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    subscriber_id: int | None = Field(default=None, index=True)
    kind: str = Field(default="alert", max_length=16)  # alert | digest | broadcast | edit
    item_id: int | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))
    reply_markup: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    link_preview: bool = False
    state: str = Field(default=PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    telegram_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))


class Feedback(SQLModel, table=True):
    """👍 (+1) or 👎 (-1) from one subscriber on one item; a second tap replaces the first."""

    __table_args__ = (UniqueConstraint("item_id", "subscriber_id", name="uq_feedback_item_sub"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    value: int
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
