"""Database work for the commands: subscriptions, erasure, feedback, archive queries.

Plain synchronous functions on a Session; handlers run them in a thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import delete, func, or_, update
from sqlmodel import Session, col, select

from bot.telegram.messages import Entry
from storage.delivery import MODE_DAILY, Feedback, OutboxMessage, Subscriber
from storage.email import EmailOutbox, EmailSubscription
from storage.models import Feed, Item
from storage.timeutil import utcnow


def get(session: Session, chat_id: int) -> Subscriber | None:
    return session.exec(select(Subscriber).where(col(Subscriber.chat_id) == chat_id)).first()


def subscribe(
    session: Session,
    chat_id: int,
    chat_type: str,
    language: str,
    title: str | None = None,
    added_by: int | None = None,
) -> tuple[Subscriber, bool]:
    """Create the subscription with defaults, or switch an existing one back on.

    Returns (subscriber, True if it is new). Groups and channels default to the daily digest
    only: their limit is 20 messages a minute and alerts would flood the members.
    """
    sub = get(session, chat_id)
    if sub is None:
        sub = Subscriber(
            chat_id=chat_id,
            chat_type=chat_type,
            language=language,
            title=title,
            added_by=added_by,
            last_digest_at=utcnow(),
        )
        if chat_type != "private":
            sub.mode = MODE_DAILY
        session.add(sub)
        session.flush()
        return sub, True
    if not sub.active or sub.paused:
        sub.last_digest_at = utcnow()  # no catch-up flood of what happened while away
    sub.active, sub.paused, sub.deactivated_reason = True, False, None
    sub.chat_type = chat_type
    if title is not None:
        sub.title = title
    session.add(sub)
    return sub, False


def set_state(session: Session, chat_id: int, *, active: bool, paused: bool) -> bool:
    sub = get(session, chat_id)
    if sub is None:
        return False
    sub.active, sub.paused = active, paused
    session.add(sub)
    return True


def erase_person(session: Session, user_id: int) -> bool:
    """/delete_me: remove the private subscription, its feedback and queued or sent messages,
    and the person's id on groups they subscribed. True if anything was stored."""
    found = False
    sub = get(session, user_id)
    if sub is not None and sub.chat_type == "private":
        session.exec(delete(Feedback).where(col(Feedback.subscriber_id) == sub.id))
        session.exec(delete(OutboxMessage).where(col(OutboxMessage.subscriber_id) == sub.id))
        _erase_email(session, sub.id)
        session.delete(sub)
        found = True
    session.exec(delete(OutboxMessage).where(col(OutboxMessage.chat_id) == user_id))
    added = session.exec(
        update(Subscriber).where(col(Subscriber.added_by) == user_id).values(added_by=None)
    )
    return found or bool(added.rowcount)


def _erase_email(session: Session, subscriber_id: int | None) -> None:
    """The address they added with /email, and mail queued for it, go too."""
    addresses = select(EmailSubscription.id).where(
        col(EmailSubscription.subscriber_id) == subscriber_id
    )
    session.exec(delete(EmailOutbox).where(col(EmailOutbox.subscription_id).in_(addresses)))
    session.exec(
        delete(EmailSubscription).where(col(EmailSubscription.subscriber_id) == subscriber_id)
    )


def record_feedback(session: Session, chat_id: int, item_id: int, value: int) -> str:
    """Store 👍/👎 for the subscriber; returns "ok", "no_subscriber" or "no_item"."""
    sub = get(session, chat_id)
    if sub is None or sub.id is None:
        return "no_subscriber"
    if session.get(Item, item_id) is None:
        return "no_item"
    row = session.exec(
        select(Feedback).where(
            col(Feedback.item_id) == item_id, col(Feedback.subscriber_id) == sub.id
        )
    ).first()
    if row is None:
        row = Feedback(item_id=item_id, subscriber_id=sub.id, value=value)
    else:
        row.value, row.updated_at = value, utcnow()
    session.add(row)
    return "ok"


def feed_names(session: Session, feed_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(feed_ids))
    if not ids:
        return {}
    rows = session.exec(select(Feed.id, Feed.name).where(col(Feed.id).in_(ids))).all()
    return {fid: name for fid, name in rows if fid is not None}


def entries(session: Session, items: Sequence[Item]) -> list[Entry]:
    names = feed_names(session, (i.feed_id for i in items))
    return [Entry(item=i, source=names.get(i.feed_id, "?")) for i in items]


def latest(session: Session, sub: Subscriber | None, count: int) -> list[Entry]:
    """The most recent relevant items the subscriber's topics want."""
    query = (
        select(Item)
        .where(col(Item.tier) != "ignore")
        .order_by(col(Item.first_seen_at).desc(), col(Item.id).desc())
        .limit(count * 5 if sub and sub.topics_off else count)
    )
    items = [i for i in session.exec(query).all() if sub is None or sub.wants_topics(i.topics)]
    return entries(session, items[:count])


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(session: Session, words: Sequence[str], limit: int = 10) -> list[Entry]:
    """Items whose title or summary contains every word (case-insensitive), newest first."""
    query = select(Item)
    for word in words[:8]:
        pattern = _like(word)
        query = query.where(
            or_(
                col(Item.title).ilike(pattern, escape="\\"),
                col(Item.summary).ilike(pattern, escape="\\"),
            )
        )
    query = query.order_by(col(Item.first_seen_at).desc(), col(Item.id).desc()).limit(limit)
    return entries(session, session.exec(query).all())


def known_topics(session: Session, configured: Mapping[str, str]) -> dict[str, str]:
    """Topic id → label: the configured topics plus any seen on recent relevant items."""
    result = dict(configured)
    recent = session.exec(
        select(Item.topics)
        .where(col(Item.tier) != "ignore")
        .order_by(col(Item.id).desc())
        .limit(2000)
    ).all()
    for topics in recent:
        for topic in topics or []:
            result.setdefault(topic, topic.replace("_", " ").capitalize())
    return result


def stats(session: Session) -> dict[str, int]:
    """Counts for /stats."""

    def count(query: object) -> int:
        return int(session.exec(query).one())  # type: ignore[call-overload]

    subs = select(func.count()).select_from(Subscriber)
    return {
        "subscribers_active": count(subs.where(col(Subscriber.active), ~col(Subscriber.paused))),
        "subscribers_paused": count(subs.where(col(Subscriber.active), col(Subscriber.paused))),
        "subscribers_inactive": count(subs.where(~col(Subscriber.active))),
        "groups_and_channels": count(
            subs.where(col(Subscriber.active), col(Subscriber.chat_type) != "private")
        ),
        "items": count(select(func.count()).select_from(Item)),
        "items_relevant": count(
            select(func.count()).select_from(Item).where(col(Item.tier) != "ignore")
        ),
        "items_alert": count(
            select(func.count()).select_from(Item).where(col(Item.tier) == "alert")
        ),
        "feedback_up": count(
            select(func.count()).select_from(Feedback).where(col(Feedback.value) > 0)
        ),
        "feedback_down": count(
            select(func.count()).select_from(Feedback).where(col(Feedback.value) < 0)
        ),
    }


def feeds(session: Session) -> Sequence[Feed]:
    return session.exec(select(Feed).order_by(col(Feed.failure_count).desc(), col(Feed.name))).all()
