"""Tables for digest e-mails: who asked for them, what is queued for them, the link-signing key.

Addresses are stored lower-cased and ASCII (IDNA domains), so one mailbox is one row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from storage.timeutil import utcnow

# EmailSubscription.status values.
PENDING = "pending"  # waiting for its owner to confirm; only the confirmation mail goes there
ACTIVE = "active"
BOUNCED = "bounced"  # the server refused it permanently, several times
UNSUBSCRIBED = "unsubscribed"
STATUSES = (PENDING, ACTIVE, BOUNCED, UNSUBSCRIBED)

# EmailOutbox.state values (like the Telegram outbox). `dead`: gave up (bounced or kept failing).
QUEUED = "pending"
SENDING = "sending"
SENT = "sent"
DEAD = "dead"

# EmailOutbox.kind values.
KIND_CONFIRM = "confirm"
KIND_DIGEST = "digest"


class EmailSubscription(SQLModel, table=True):
    """One address that receives the daily digest.

    `subscriber_id` links it to the Telegram subscriber who added it with /email: their digest
    time, time zone and topic choice then apply, and bounces are reported to them. Admin-added
    addresses have their own `timezone` and `digest_hour`.
    """

    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(sa_column_kwargs={"unique": True}, max_length=320)
    status: str = Field(default=PENDING, max_length=16, index=True)
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subscriber_id: int | None = Field(default=None, index=True)
    timezone: str = "UTC"
    digest_hour: int = 8
    last_digest_at: datetime | None = None
    confirm_token: str | None = Field(default=None, max_length=64, index=True)
    confirm_code: str | None = Field(default=None, max_length=16)
    confirm_failures: int = 0
    confirm_sent_at: datetime | None = None
    confirmed_at: datetime | None = None
    bounce_count: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)


class EmailOutbox(SQLModel, table=True):
    """One composed e-mail, stored before it is sent so that a restart neither loses nor
    repeats it. `key` makes enqueueing idempotent: `digest:<address id>:<period>`."""

    __table_args__ = (Index("ix_emailoutbox_state_next", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column_kwargs={"unique": True}, max_length=200)
    subscription_id: int = Field(index=True)
    kind: str = Field(default=KIND_DIGEST, max_length=16)
    recipient: str = Field(max_length=320)
    message: str = Field(sa_column=Column(Text, nullable=False))  # RFC 5322, ASCII
    state: str = Field(default=QUEUED, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    claimed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))


class EmailKey(SQLModel, table=True):
    """The generated link-signing key, used when WATCHBOT_SECRET_KEY is unset, so that
    unsubscribe links keep working across restarts."""

    name: str = Field(primary_key=True, max_length=32)
    value: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow)
