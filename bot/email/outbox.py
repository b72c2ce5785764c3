"""The e-mail outbox: every e-mail is a row before it is sent.

pending → sending (committed before the SMTP conversation starts, claimed with a conditional
UPDATE so two instances never take the same row) → sent; or back to pending later; or dead.
A row left `sending` by a crashed process goes back to pending once its claim is stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.email import DEAD, QUEUED, SENDING, SENT, EmailOutbox
from storage.timeutil import utcnow

# Longer than any SMTP conversation (aiosmtplib's timeout is 60 s a step).
STALE_CLAIM = timedelta(minutes=10)


@dataclass(frozen=True)
class NewEmail:
    key: str
    subscription_id: int
    kind: str
    recipient: str
    message: str


def enqueue(session: Session, mail: NewEmail) -> bool:
    """Insert the row unless its key is queued already; True if inserted. No commit."""
    values: dict[str, Any] = {
        "key": mail.key,
        "subscription_id": mail.subscription_id,
        "kind": mail.kind,
        "recipient": mail.recipient,
        "message": mail.message,
        "state": QUEUED,
        "attempts": 0,
        "next_attempt_at": utcnow(),
        "created_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    stmt: Any = (pg_insert if dialect == "postgresql" else sqlite_insert)(EmailOutbox)
    stmt = stmt.values(**values).on_conflict_do_nothing(index_elements=["key"])
    return bool(session.exec(stmt.returning(EmailOutbox.id)).all())


def exists(session: Session, key: str) -> bool:
    return (
        session.exec(select(EmailOutbox.id).where(col(EmailOutbox.key) == key)).first() is not None
    )


def release_stale(session: Session, now: datetime) -> int:
    """Rows whose sender died mid-send go back to pending (sent at least once, never lost)."""
    result = session.exec(
        update(EmailOutbox)
        .where(col(EmailOutbox.state) == SENDING, col(EmailOutbox.claimed_at) < now - STALE_CLAIM)
        .values(state=QUEUED)
    )
    return result.rowcount or 0


def due(session: Session, now: datetime, limit: int = 100) -> Sequence[EmailOutbox]:
    """Pending rows whose time has come, confirmation mails first, then oldest first."""
    query = (
        select(EmailOutbox)
        .where(col(EmailOutbox.state) == QUEUED, col(EmailOutbox.next_attempt_at) <= now)
        .order_by(col(EmailOutbox.kind), col(EmailOutbox.id))
        .limit(limit)
    )
    return session.exec(query).all()


def claim(session: Session, row_id: int) -> bool:
    """pending → sending; False if another process took the row first (or took it, failed
    and postponed it meanwhile)."""
    now = utcnow()
    result = session.exec(
        update(EmailOutbox)
        .where(
            col(EmailOutbox.id) == row_id,
            col(EmailOutbox.state) == QUEUED,
            col(EmailOutbox.next_attempt_at) <= now,
        )
        .values(state=SENDING, claimed_at=now, attempts=EmailOutbox.attempts + 1)
    )
    return (result.rowcount or 0) == 1


def mark_sent(session: Session, row_id: int) -> None:
    session.exec(
        update(EmailOutbox)
        .where(col(EmailOutbox.id) == row_id)
        .values(state=SENT, sent_at=utcnow(), last_error=None)
    )


def postpone(session: Session, row_id: int, seconds: float, error: str, *, count: bool) -> None:
    """Back to pending after `seconds`; a server that is down does not use up attempts."""
    values: dict[str, Any] = {
        "state": QUEUED,
        "next_attempt_at": utcnow() + timedelta(seconds=seconds),
        "last_error": error[:2000],
    }
    if not count:
        values["attempts"] = EmailOutbox.attempts - 1
    session.exec(update(EmailOutbox).where(col(EmailOutbox.id) == row_id).values(**values))


def mark_dead(session: Session, row_id: int, error: str) -> None:
    session.exec(
        update(EmailOutbox)
        .where(col(EmailOutbox.id) == row_id)
        .values(state=DEAD, last_error=error[:2000])
    )


def drop_for(session: Session, subscription_id: int, reason: str) -> int:
    """The address is gone (bounced, unsubscribed): nothing queued for it is sent."""
    result = session.exec(
        update(EmailOutbox)
        .where(
            col(EmailOutbox.subscription_id) == subscription_id,
            col(EmailOutbox.state) == QUEUED,
        )
        .values(state=DEAD, last_error=reason[:2000])
    )
    return result.rowcount or 0
