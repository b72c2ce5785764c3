"""Digests: find subscribers whose local digest time has passed, enqueue their digest.

Runs every minute. The rows and the new `last_digest_at` are written in one transaction, and
keys are per chat and period, so a crash or a second run never sends a digest twice. A digest
lists stories, not copies: one line per story, with every outlet that reported it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta

from sqlmodel import Session, col, select

from bot.stories import digest_items, stories_for
from bot.telegram import outbox
from bot.telegram.messages import Entry, render_digest, zone
from storage.delivery import MODE_WEEKLY, Subscriber
from storage.timeutil import as_utc

MAX_DIGEST_ITEMS = 200


def _digest_time(sub: Subscriber) -> time:
    try:
        hour, minute = (int(x) for x in sub.digest_time.split(":", 1))
        return time(hour, minute)
    except ValueError:
        return time(8, 0)


def last_slot(sub: Subscriber, now: datetime) -> tuple[datetime, str]:
    """The latest scheduled digest moment at or before `now` (UTC), and its period name
    (local date, or ISO week for the weekly mode)."""
    tz = zone(sub.timezone)
    local_now = as_utc(now).astimezone(tz)
    at = _digest_time(sub)
    if sub.mode == MODE_WEEKLY:
        back = (local_now.weekday() - sub.digest_weekday) % 7
        slot = datetime.combine(local_now.date() - timedelta(days=back), at, tzinfo=tz)
        if slot > local_now:
            slot -= timedelta(days=7)
        year, week, _ = slot.isocalendar()
        period = f"{year}-W{week:02d}"
    else:
        slot = datetime.combine(local_now.date(), at, tzinfo=tz)
        if slot > local_now:
            slot -= timedelta(days=1)
        period = slot.date().isoformat()
    return slot.astimezone(UTC), period


def digest_key(chat_id: int, period: str, part: int) -> str:
    return f"digest:{chat_id}:{period}:{part}"


def enqueue_due_digests(session: Session, now: datetime, labels: Mapping[str, str]) -> int:
    """Enqueue every due digest; return rows enqueued. Empty digests send nothing."""
    subs = session.exec(
        select(Subscriber).where(col(Subscriber.active), ~col(Subscriber.paused))
    ).all()
    total = 0
    for sub in subs:
        slot, period = last_slot(sub, now)
        since = as_utc(sub.last_digest_at or sub.created_at)
        if since >= slot:
            continue
        items = digest_items(session, since, now)
        wanted = [i for i in items if sub.wants_topics(i.topics)]
        stories = [
            Entry(item=v.lead, source=v.source, also=v.also)
            for v in stories_for(session, wanted)[:MAX_DIGEST_ITEMS]
        ]
        parts = render_digest(stories, sub, labels, period, weekly=sub.mode == MODE_WEEKLY)
        total += outbox.enqueue(
            session,
            (
                outbox.NewMessage(
                    key=digest_key(sub.chat_id, period, n),
                    chat_id=sub.chat_id,
                    subscriber_id=sub.id,
                    kind="digest",
                    text=text,
                    link_preview=False,
                )
                for n, text in enumerate(parts, start=1)
            ),
        )
        sub.last_digest_at = now
        session.add(sub)
    return total
