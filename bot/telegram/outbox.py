"""The persistent outbox: every message is a row before it is sent.

A row goes pending → sending → sent, or back to pending with a later `next_attempt_at`, or to
dead (kept failing, shown to admins) or dropped (the chat is gone). `sending` is committed
before the request leaves, so after a crash only that in-flight row can be sent twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.delivery import (
    DEAD,
    DROPPED,
    PENDING,
    SENDING,
    SENT,
    OutboxMessage,
    Subscriber,
)
from storage.timeutil import utcnow

# Kind of a row that edits an alert already sent (same chat, `item_id` = the alert's item).
EDIT = "edit"


@dataclass(frozen=True)
class NewMessage:
    """What to enqueue; `key` decides whether it is already queued."""

    key: str
    chat_id: int
    text: str
    subscriber_id: int | None = None
    kind: str = "alert"
    item_id: int | None = None
    reply_markup: dict[str, Any] | None = None
    link_preview: bool = False


def enqueue(session: Session, messages: Iterable[NewMessage]) -> int:
    """Insert rows whose key is new; return how many were inserted. No commit, no network."""
    fresh: dict[str, NewMessage] = {}
    for message in messages:
        fresh.setdefault(message.key, message)
    keys = list(fresh)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for key in session.exec(select(OutboxMessage.key).where(col(OutboxMessage.key).in_(chunk))):
            fresh.pop(key, None)
    dialect = session.get_bind().dialect.name
    now = utcnow()
    inserted = 0
    for message in fresh.values():
        values: dict[str, Any] = {
            "key": message.key,
            "chat_id": message.chat_id,
            "subscriber_id": message.subscriber_id,
            "kind": message.kind,
            "item_id": message.item_id,
            "text": message.text,
            "reply_markup": message.reply_markup,
            "link_preview": message.link_preview,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        # ON CONFLICT DO NOTHING: a concurrent enqueue of the same key must not abort the
        # caller's transaction (dispatch runs inside the pipeline's).
        if dialect == "sqlite":
            stmt: Any = sqlite_insert(OutboxMessage).values(**values)
        elif dialect == "postgresql":
            stmt = pg_insert(OutboxMessage).values(**values)
        else:
            session.add(OutboxMessage(**values))
            inserted += 1
            continue
        # RETURNING, not rowcount: psycopg reports -1 for a conflict-skipping insert.
        stmt = stmt.on_conflict_do_nothing(index_elements=["key"]).returning(OutboxMessage.id)
        inserted += len(session.exec(stmt).all())
    return inserted


def edit_target(session: Session, row: OutboxMessage) -> OutboxMessage | None:
    """The alert an `edit` row changes: the same chat's alert row for the same item."""
    return session.exec(
        select(OutboxMessage).where(
            col(OutboxMessage.kind) == "alert",
            col(OutboxMessage.chat_id) == row.chat_id,
            col(OutboxMessage.item_id) == row.item_id,
        )
    ).first()


def reset_in_flight(session: Session) -> int:
    """After a restart: rows left `sending` by a crash go back to pending (at-least-once)."""
    result = session.exec(
        update(OutboxMessage).where(col(OutboxMessage.state) == SENDING).values(state=PENDING)
    )
    return result.rowcount or 0


def heads(session: Session, limit: int = 500) -> Sequence[OutboxMessage]:
    """The oldest pending row of each chat: a chat's messages go out one at a time, in order."""
    oldest = (
        select(func.min(OutboxMessage.id))
        .where(col(OutboxMessage.state) == PENDING)
        .group_by(col(OutboxMessage.chat_id))
    )
    query = (
        select(OutboxMessage)
        .where(col(OutboxMessage.id).in_(oldest))
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .limit(limit)
    )
    return session.exec(query).all()


def claim(session: Session, row_id: int) -> bool:
    """pending → sending, committed by the caller before the request leaves."""
    result = session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == row_id, col(OutboxMessage.state) == PENDING)
        .values(state=SENDING, attempts=OutboxMessage.attempts + 1)
    )
    return (result.rowcount or 0) == 1


def mark_sent(session: Session, row_id: int, message_id: int | None) -> None:
    session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == row_id)
        .values(state=SENT, sent_at=utcnow(), telegram_message_id=message_id, last_error=None)
    )


def postpone(session: Session, row_id: int, seconds: float, error: str, *, count: bool) -> None:
    """Back to pending after `seconds`; a 429 does not count as a failed attempt."""
    values: dict[str, Any] = {
        "state": PENDING,
        "next_attempt_at": utcnow() + timedelta(seconds=seconds),
        "last_error": error[:2000],
    }
    if not count:
        values["attempts"] = OutboxMessage.attempts - 1
    session.exec(update(OutboxMessage).where(col(OutboxMessage.id) == row_id).values(**values))


def mark_dead(session: Session, row_id: int, error: str) -> None:
    session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == row_id)
        .values(state=DEAD, last_error=error[:2000])
    )


def drop_chat(session: Session, chat_id: int, reason: str) -> None:
    """The chat blocked or removed the bot: deactivate it and drop what was queued for it."""
    session.exec(
        update(Subscriber)
        .where(col(Subscriber.chat_id) == chat_id)
        .values(active=False, deactivated_reason=reason[:500])
    )
    session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.chat_id) == chat_id,
            col(OutboxMessage.state).in_([PENDING, SENDING]),
        )
        .values(state=DROPPED, last_error=reason[:2000])
    )


def migrate_chat(session: Session, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: its id changed, everything follows it."""
    session.exec(
        update(Subscriber).where(col(Subscriber.chat_id) == old_chat_id).values(chat_id=new_chat_id)
    )
    session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.chat_id) == old_chat_id,
            col(OutboxMessage.state).in_([PENDING, SENDING]),
        )
        .values(chat_id=new_chat_id, state=PENDING)
    )


def dead_letters(session: Session, limit: int = 20) -> Sequence[OutboxMessage]:
    query = (
        select(OutboxMessage)
        .where(col(OutboxMessage.state) == DEAD)
        .order_by(col(OutboxMessage.id).desc())
        .limit(limit)
    )
    return session.exec(query).all()


def retry_dead(session: Session) -> int:
    """Admin action: give every dead row a fresh set of attempts."""
    result = session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.state) == DEAD)
        .values(state=PENDING, attempts=0, next_attempt_at=utcnow())
    )
    return result.rowcount or 0


def counts(session: Session) -> dict[str, int]:
    query = select(OutboxMessage.state, func.count()).group_by(col(OutboxMessage.state))
    return {state: n for state, n in session.exec(query).all()}
