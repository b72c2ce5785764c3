"""Drain the e-mail outbox: claim a row, send it, record what the server said.

Bookkeeping runs in its own short transactions around the SMTP conversation; the claim is
committed before the conversation starts, so another instance cannot send the same row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import metrics
from bot.config import Settings
from bot.email import outbox
from bot.email.addresses import mask
from bot.email.message import sender_address
from bot.email.smtp import Outcome, Result, SmtpClient, SmtpUnavailable
from bot.telegram import outbox as telegram_outbox
from storage.db import session_scope
from storage.delivery import Subscriber
from storage.email import BOUNCED, EmailOutbox, EmailSubscription
from storage.timeutil import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Policy:
    """Retry rules; tests shrink the delays to zero."""

    backoff_base: float = 60.0
    backoff_max: float = 3600.0
    max_attempts: int = 10  # 4xx answers, then the e-mail is given up (dead)
    bounce_after: int = 3  # 5xx answers in a row, then the address is marked bounced
    down_retry: float = 60.0  # when the server is unreachable
    batch: int = 100


@dataclass
class DrainSummary:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    unavailable: str | None = None  # the sentence saying why the server took nothing
    waiting: int = 0  # e-mails left waiting for the server


_BOUNCE_NOTICE = {
    "en": (
        "⚠️ E-mails to {address} are being refused by its mail server, so the digest e-mail "
        "has stopped. Send /email with a working address to start again."
    ),
    "ar": (
        "⚠️ خادم البريد يرفض الرسائل المرسلة إلى {address}، لذلك توقف إرسال الملخص بالبريد. "
        "أرسل /email مع عنوان يعمل للبدء من جديد."
    ),
}


def backoff(policy: Policy, attempts: int) -> float:
    return float(min(policy.backoff_max, policy.backoff_base * 2 ** max(attempts - 1, 0)))


def notify_bounce(session: Session, sub: EmailSubscription, row_id: int) -> None:
    """Tell the Telegram subscriber who added the address, through the Telegram outbox."""
    if sub.subscriber_id is None:
        return
    owner = session.get(Subscriber, sub.subscriber_id)
    if owner is None or not owner.active:
        return
    from bot.telegram.html import escape

    text = _BOUNCE_NOTICE.get(owner.language, _BOUNCE_NOTICE["en"]).format(
        address=escape(sub.address)
    )
    telegram_outbox.enqueue(
        session,
        [
            telegram_outbox.NewMessage(
                key=f"email-bounced:{sub.id}:{row_id}",
                chat_id=owner.chat_id,
                subscriber_id=owner.id,
                kind="notice",
                text=text,
            )
        ],
    )


def record(session: Session, row: EmailOutbox, result: Result, policy: Policy) -> str:
    """Apply one SMTP answer to the row and its address; returns sent/retried/failed."""
    assert row.id is not None
    sub = session.get(EmailSubscription, row.subscription_id)
    attempts = row.attempts + 1  # the claim counted one more than the row we hold
    if result.outcome is Outcome.SENT:
        outbox.mark_sent(session, row.id)
        if sub is not None and sub.bounce_count:
            sub.bounce_count = 0
            session.add(sub)
        return "sent"
    if result.outcome is Outcome.TEMPORARY:
        if attempts >= policy.max_attempts:
            outbox.mark_dead(session, row.id, result.detail)
            return "failed"
        outbox.postpone(session, row.id, backoff(policy, attempts), result.detail, count=True)
        return "retried"
    if sub is None:
        outbox.mark_dead(session, row.id, result.detail)
        return "failed"
    sub.bounce_count += 1
    sub.last_error = result.detail[:2000]
    if sub.bounce_count < policy.bounce_after:
        session.add(sub)
        outbox.postpone(session, row.id, backoff(policy, attempts), result.detail, count=True)
        return "retried"
    sub.status = BOUNCED
    session.add(sub)
    outbox.mark_dead(session, row.id, result.detail)
    assert sub.id is not None
    outbox.drop_for(session, sub.id, "address bounced")
    notify_bounce(session, sub, row.id)
    log.warning(
        "email: %s bounced (%s); no more e-mails go there", mask(sub.address), result.detail
    )
    return "failed"


def _count(result: Result, outcome: str) -> None:
    if outcome == "sent":
        metrics.EMAILS_SENT.inc()
        return
    metrics.EMAIL_FAILURES.inc()
    if outcome == "failed" and result.outcome is Outcome.PERMANENT:
        metrics.EMAILS_BOUNCED.inc()


class Drainer:
    """One pass over the due rows, on one SMTP connection."""

    def __init__(self, settings: Settings, engine: Engine, policy: Policy) -> None:
        self.settings = settings
        self.engine = engine
        self.policy = policy

    async def _db(self, fn: Callable[[Session], T]) -> T:
        def work() -> T:
            with session_scope(self.engine) as session:
                return fn(session)

        return await asyncio.to_thread(work)

    def _take_due(self, session: Session) -> list[EmailOutbox]:
        now = utcnow()
        released = outbox.release_stale(session, now)
        if released:
            log.warning("email: %d e-mail(s) were left in flight by a stopped sender", released)
        return list(outbox.due(session, now, self.policy.batch))

    async def drain(self) -> DrainSummary:
        summary = DrainSummary()
        rows = await self._db(self._take_due)
        if not rows:
            return summary
        sender = sender_address(self.settings.smtp_from)
        async with SmtpClient(self.settings) as client:
            for index, row in enumerate(rows):
                assert row.id is not None
                if not await self._db(partial(outbox.claim, row_id=row.id)):
                    continue  # another instance took it
                try:
                    result = await client.send(sender, row.recipient, row.message)
                except SmtpUnavailable as err:
                    postpone = partial(
                        outbox.postpone,
                        row_id=row.id,
                        seconds=self.policy.down_retry,
                        error=str(err),
                        count=False,
                    )
                    await self._db(postpone)
                    summary.unavailable, summary.waiting = str(err), len(rows) - index
                    break
                except Exception as err:  # a bug or an odd message: retried, then given up
                    log.exception("email: sending e-mail %s failed", row.id)
                    result = Result(Outcome.TEMPORARY, f"{type(err).__name__}: {err}")
                outcome = await self._db(
                    partial(record, row=row, result=result, policy=self.policy)
                )
                setattr(summary, outcome, getattr(summary, outcome) + 1)
                _count(result, outcome)
        return summary
