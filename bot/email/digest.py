"""Digest e-mails: which addresses are due, which items each gets, and the queued message.

Each address's digest is enqueued in its own transaction together with its new
`last_digest_at`, under the key `digest:<address id>:<local date>`, so a crash or a second
instance never queues a digest twice. Empty digests are not sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlmodel import Session, col, select

from bot.config import Settings
from bot.email import outbox
from bot.email.links import Links
from bot.email.message import compose, serialize
from bot.email.render import Digest, DigestItem, Section, digest_item, render_digest, topic_label
from bot.email.schedule import last_slot, parse_hhmm, zone
from bot.stories import digest_items, stories_for
from storage.delivery import Subscriber
from storage.email import ACTIVE, KIND_DIGEST, EmailSubscription
from storage.models import Item
from storage.timeutil import as_utc

MAX_ITEMS = 100
OTHER = "Other news"


@dataclass(frozen=True)
class Timing:
    """Where and when an address's digest goes out: its Telegram owner's choice, if any."""

    tz: str
    at: time


def timing(sub: EmailSubscription, owner: Subscriber | None) -> Timing:
    if owner is not None:
        return Timing(owner.timezone, parse_hhmm(owner.digest_time))
    return Timing(sub.timezone, time(sub.digest_hour % 24, 0))


def owner_of(session: Session, sub: EmailSubscription) -> Subscriber | None:
    return session.get(Subscriber, sub.subscriber_id) if sub.subscriber_id is not None else None


def wants(sub: EmailSubscription, owner: Subscriber | None, topics: Sequence[str]) -> bool:
    """The address's own topic list (empty: all), and its Telegram owner's topics switched off."""
    if sub.topics and topics and not set(sub.topics) & set(topics):
        return False
    if sub.topics and not topics:
        return False
    return owner is None or owner.wants_topics(list(topics))


def select_items(
    session: Session,
    sub: EmailSubscription,
    owner: Subscriber | None,
    since: datetime,
    until: datetime,
) -> list[tuple[Item, str]]:
    """The relevant items (alert or digest tier) first seen in (since, until] that the address
    wants, best first, one per story, with the names of the outlets that reported it. The one
    place that picks a digest's items."""
    items = digest_items(session, since, until)
    chosen = [i for i in items if wants(sub, owner, i.topics)]
    # One entry per story, not per copy: its best report, with every outlet that carried it.
    return [(v.lead, ", ".join(v.sources)) for v in stories_for(session, chosen)][:MAX_ITEMS]


def group(
    picked: Sequence[tuple[Item, str]],
    sub: EmailSubscription,
    owner: Subscriber | None,
    labels: Mapping[str, str],
    tz: str,
) -> tuple[Section, ...]:
    """Each item under its first wanted topic; sections by their best score, items by score."""
    sections: dict[str, list[tuple[Item, str]]] = {}
    for item, source in picked:
        topics = [t for t in item.topics if wants(sub, owner, [t])]
        sections.setdefault(topics[0] if topics else "", []).append((item, source))
    for members in sections.values():
        members.sort(key=lambda m: (-m[0].score, m[0].id or 0))
    order = sorted(sections, key=lambda k: (k == "", -sections[k][0][0].score, k))
    tzinfo = zone(tz)

    def entry(item: Item, source: str) -> DigestItem:
        local = as_utc(item.published_at or item.first_seen_at).astimezone(tzinfo)
        return digest_item(item, source, f"{local:%Y-%m-%d %H:%M} {local.tzname() or tz}")

    return tuple(
        Section(
            label=topic_label(k, labels) if k else OTHER,
            items=tuple(entry(i, s) for i, s in sections[k]),
        )
        for k in order
    )


def build_digest(
    session: Session,
    sub: EmailSubscription,
    links: Links,
    labels: Mapping[str, str],
    since: datetime,
    until: datetime,
    date: str,
) -> Digest | None:
    """The digest for one address, or None when there is nothing to send."""
    owner = owner_of(session, sub)
    picked = select_items(session, sub, owner, since, until)
    if not picked:
        return None
    tz = timing(sub, owner).tz
    return Digest(
        date=date,
        sections=group(picked, sub, owner, labels, tz),
        unsubscribe_url=links.unsubscribe_url(sub),
    )


def digest_key(sub_id: int, period: str) -> str:
    return f"digest:{sub_id}:{period}"


def due_ids(session: Session) -> list[int]:
    rows = session.exec(
        select(EmailSubscription.id).where(col(EmailSubscription.status) == ACTIVE)
    ).all()
    return [r for r in rows if r is not None]


def window(
    sub: EmailSubscription, owner: Subscriber | None, now: datetime
) -> tuple[datetime, datetime, str]:
    """(since, slot, period): a first digest covers the day before its slot."""
    when = timing(sub, owner)
    slot, period = last_slot(when.tz, when.at, now)
    since = as_utc(sub.last_digest_at) if sub.last_digest_at else slot - timedelta(days=1)
    return since, slot, period


def enqueue_digest(
    session: Session,
    sub_id: int,
    settings: Settings,
    links: Links,
    labels: Mapping[str, str],
    now: datetime,
) -> bool:
    """Queue this address's digest if its time has come; True if an e-mail was queued."""
    sub = session.get(EmailSubscription, sub_id, with_for_update=True)
    if sub is None or sub.id is None or sub.status != ACTIVE:
        return False
    since, slot, period = window(sub, owner_of(session, sub), now)
    if since >= slot:
        return False
    sub.last_digest_at = now
    session.add(sub)
    digest = build_digest(session, sub, links, labels, since, now, period)
    if digest is None:
        return False
    text, html = render_digest(digest)
    message = compose(
        smtp_from=settings.smtp_from,
        to=sub.address,
        subject=digest.subject,
        text=text,
        html=html,
        date=now,
        unsubscribe=(links.unsubscribe_url(sub), links.unsubscribe_token(sub)),
    )
    return outbox.enqueue(
        session,
        outbox.NewEmail(
            key=digest_key(sub.id, period),
            subscription_id=sub.id,
            kind=KIND_DIGEST,
            recipient=sub.address,
            message=serialize(message),
        ),
    )


def preview_digest(
    session: Session,
    sub: EmailSubscription,
    links: Links,
    labels: Mapping[str, str],
    now: datetime,
) -> Digest | None:
    """What the address's next digest holds so far; a stored address with no digest yet, or
    the stand-in of `watchbot digest --preview`, covers the last day."""
    owner = owner_of(session, sub)
    since = as_utc(sub.last_digest_at) if sub.last_digest_at else now - timedelta(days=1)
    local = as_utc(now).astimezone(zone(timing(sub, owner).tz))
    return build_digest(session, sub, links, labels, since, now, f"{local:%Y-%m-%d}")
