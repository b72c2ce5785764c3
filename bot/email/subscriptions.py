"""Adding, confirming and removing addresses (double opt-in).

Until its owner confirms, an address gets nothing but the confirmation mail, and at most one
every few minutes: the bot must not become a way to flood someone else's inbox.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import delete
from sqlmodel import Session, col, select

from bot.config import Settings
from bot.email import outbox
from bot.email.addresses import normalize
from bot.email.digest import owner_of, timing
from bot.email.links import Links
from bot.email.message import compose, serialize
from bot.email.render import render_confirmation
from bot.email.schedule import last_slot
from storage.email import (
    ACTIVE,
    KIND_CONFIRM,
    PENDING,
    UNSUBSCRIBED,
    EmailOutbox,
    EmailSubscription,
)
from storage.timeutil import as_utc, utcnow

RESEND_AFTER = timedelta(minutes=5)
# A pending address someone else asked for, never confirmed, may be claimed after this long.
PENDING_EXPIRES = timedelta(days=1)
MAX_CODE_FAILURES = 5


class AlreadySubscribed(Exception):
    """The address is subscribed (or awaiting confirmation) already."""


class Added(Enum):
    CONFIRMATION_QUEUED = "queued"
    RECENTLY_SENT = "recently_sent"  # a confirmation went out minutes ago; not sent again
    TOO_SOON = "too_soon"  # this Telegram subscriber asked for another address minutes ago


def by_address(session: Session, address: str) -> EmailSubscription | None:
    query = select(EmailSubscription).where(col(EmailSubscription.address) == address)
    return session.exec(query).first()


def of_subscriber(session: Session, subscriber_id: int) -> EmailSubscription | None:
    query = select(EmailSubscription).where(col(EmailSubscription.subscriber_id) == subscriber_id)
    return session.exec(query.order_by(col(EmailSubscription.id).desc())).first()


def listing(session: Session) -> Sequence[EmailSubscription]:
    return session.exec(select(EmailSubscription).order_by(col(EmailSubscription.address))).all()


def _taken(sub: EmailSubscription, subscriber_id: int | None, now: datetime) -> bool:
    if sub.status == ACTIVE:
        return True
    if sub.status != PENDING or sub.subscriber_id == subscriber_id:
        return False
    sent = sub.confirm_sent_at or sub.created_at
    return now - as_utc(sent) < PENDING_EXPIRES


def _recent(sent: datetime | None, now: datetime) -> bool:
    return sent is not None and now - as_utc(sent) < RESEND_AFTER


def add(
    session: Session,
    address: str,
    settings: Settings,
    *,
    subscriber_id: int | None = None,
    topics: Sequence[str] = (),
    timezone: str = "UTC",
    digest_hour: int = 8,
) -> tuple[EmailSubscription, Added]:
    """Start (or restart) double opt-in for an address and queue the confirmation mail.

    A Telegram subscriber has one address: adding another replaces theirs. Raises
    InvalidAddress or AlreadySubscribed.
    """
    address = normalize(address)
    now = utcnow()
    sub = by_address(session, address)
    if sub is not None and _taken(sub, subscriber_id, now):
        raise AlreadySubscribed(address)
    if subscriber_id is not None:
        others = session.exec(
            select(EmailSubscription).where(
                col(EmailSubscription.subscriber_id) == subscriber_id,
                col(EmailSubscription.address) != address,
            )
        ).all()
        if any(_recent(o.confirm_sent_at, now) and o.status == PENDING for o in others):
            return others[0], Added.TOO_SOON  # one confirmation mail per person per few minutes
        for old in others:
            remove(session, old)
    if sub is None:
        sub = EmailSubscription(address=address)
    elif (
        sub.status == PENDING
        and sub.subscriber_id == subscriber_id
        and _recent(sub.confirm_sent_at, now)
    ):
        return sub, Added.RECENTLY_SENT
    sub.status = PENDING
    sub.subscriber_id = subscriber_id
    sub.topics = sorted(set(topics))
    sub.timezone, sub.digest_hour = timezone, digest_hour
    sub.confirm_token = secrets.token_urlsafe(32)
    sub.confirm_code = f"{secrets.randbelow(1_000_000):06d}"
    sub.confirm_failures = 0
    sub.confirm_sent_at = now
    sub.bounce_count, sub.last_error, sub.last_digest_at = 0, None, None
    session.add(sub)
    session.flush()
    queue_confirmation(session, sub, settings, Links.load(session, settings), now)
    return sub, Added.CONFIRMATION_QUEUED


def queue_confirmation(
    session: Session, sub: EmailSubscription, settings: Settings, links: Links, now: datetime
) -> None:
    assert sub.id is not None and sub.confirm_token is not None and sub.confirm_code is not None
    subject, text, html = render_confirmation(sub.address, links.confirm_url(sub), sub.confirm_code)
    message = compose(
        smtp_from=settings.smtp_from,
        to=sub.address,
        subject=subject,
        text=text,
        html=html,
        date=now,
    )
    outbox.enqueue(
        session,
        outbox.NewEmail(
            key=f"confirm:{sub.id}:{sub.confirm_token[:16]}",
            subscription_id=sub.id,
            kind=KIND_CONFIRM,
            recipient=sub.address,
            message=serialize(message),
        ),
    )


def activate(session: Session, sub: EmailSubscription) -> None:
    """Confirmed: the first digest comes at the next digest time and covers the day before
    it (counting from the last digest time, as if a digest had just gone out)."""
    now = utcnow()
    when = timing(sub, owner_of(session, sub))
    sub.status, sub.confirmed_at, sub.confirm_code = ACTIVE, now, None
    sub.bounce_count, sub.last_error = 0, None
    sub.last_digest_at = last_slot(when.tz, when.at, now)[0]
    session.add(sub)


def by_confirm_token(session: Session, token: str) -> EmailSubscription | None:
    if not token or len(token) > 64:
        return None
    query = select(EmailSubscription).where(col(EmailSubscription.confirm_token) == token)
    return session.exec(query).first()


def confirm_token(session: Session, token: str) -> EmailSubscription | None:
    """The address this confirmation link belongs to; activated if it was pending."""
    sub = by_confirm_token(session, token)
    if sub is not None and sub.status == PENDING:
        activate(session, sub)
    return sub


def confirm_code(session: Session, subscriber_id: int, code: str) -> str:
    """`/email 123456` from Telegram: "ok", "wrong", "locked" (too many tries) or "none"."""
    sub = of_subscriber(session, subscriber_id)
    if sub is None or sub.status != PENDING or sub.confirm_code is None:
        return "none"
    if sub.confirm_failures >= MAX_CODE_FAILURES:
        return "locked"
    if not secrets.compare_digest(code.encode(), sub.confirm_code.encode()):
        sub.confirm_failures += 1
        session.add(sub)
        return "wrong"
    activate(session, sub)
    return "ok"


def unsubscribe(session: Session, sub: EmailSubscription) -> None:
    """One-click unsubscribe: nothing more is sent; the row stays so the link keeps saying so."""
    assert sub.id is not None
    sub.status = UNSUBSCRIBED
    session.add(sub)
    outbox.drop_for(session, sub.id, "unsubscribed")


def remove(session: Session, sub: EmailSubscription) -> None:
    """Forget the address entirely, with whatever was queued or sent to it."""
    session.exec(delete(EmailOutbox).where(col(EmailOutbox.subscription_id) == sub.id))
    session.delete(sub)
    session.flush()
