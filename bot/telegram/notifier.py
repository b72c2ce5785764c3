"""Turn newly classified items into outbox rows: one alert per story, edits for later sources.

No network here. When a second outlet reports a story a chat was already alerted to, the chat
gets an `edit` row instead of a new alert: the sender edits the original message to add
"also reported by …", which Telegram does without a notification.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from bot.config import Settings
from bot.telegram import outbox
from bot.telegram.messages import Entry, feedback_markup, render_alert
from bot.telegram.subscribers import feed_names
from storage.delivery import (
    DEAD,
    DROPPED,
    MODE_INSTANT_DAILY,
    OutboxMessage,
    Subscriber,
)
from storage.models import Item
from storage.stories import members, story_ids
from storage.timeutil import as_utc

ALERT_TIER = "alert"


def alert_key(chat_id: int, item_id: int) -> str:
    return f"alert:{chat_id}:{item_id}"


def edit_key(chat_id: int, story_id: int, sources: int) -> str:
    """One edit per chat, story and number of outlets: a re-run enqueues nothing new."""
    return f"edit:{chat_id}:{story_id}:{sources}"


@dataclass(frozen=True)
class Story:
    """A story touched by this batch: all its items so far and which of them are new."""

    id: int
    items: tuple[Item, ...]  # oldest first
    new: tuple[Item, ...]
    names: dict[int, str]  # feed id → name

    def sources(self, first: Item | None = None) -> list[str]:
        """Outlets in the order they reported, starting with `first`'s outlet if given."""
        order = ([first] if first is not None else []) + list(self.items)
        names: list[str] = []
        for item in order:
            name = self.names.get(item.feed_id, "?")
            if name not in names:
                names.append(name)
        return names

    def grew_since(self, alert: OutboxMessage) -> bool:
        """Whether outlets reported the story after `alert` was written (which named every
        outlet stored by then)."""
        written = as_utc(alert.created_at)
        shown = {
            self.names.get(i.feed_id, "?") for i in self.items if as_utc(i.first_seen_at) <= written
        }
        return any(name not in shown for name in self.sources())


def _stories(session: Session, items: list[Item]) -> list[Story]:
    """Group the batch by story, with each story's earlier items loaded."""
    of = story_ids(session, (i.id for i in items if i.id is not None))
    all_ids = members(session, set(of.values()))
    known = {i.id: i for i in items}
    missing = [i for ids in all_ids.values() for i in ids if i not in known]
    if missing:
        for row in session.exec(select(Item).where(col(Item.id).in_(missing))).all():
            known[row.id] = row
    names = feed_names(session, (i.feed_id for i in known.values()))
    batch_ids = {i.id for i in items}
    stories = []
    for story_id, ids in all_ids.items():
        story_items = tuple(known[i] for i in ids if i in known)
        new = tuple(i for i in story_items if i.id in batch_ids)
        stories.append(Story(story_id, story_items, new, names))
    stories.sort(key=lambda s: (-max(i.score for i in s.new), s.id))
    return stories


def _first_alerts(session: Session, stories: list[Story]) -> dict[tuple[int, int], OutboxMessage]:
    """(chat id, story id) → the earliest alert row for one of the story's items."""
    story_of = {i.id: s.id for s in stories for i in s.items}
    found: dict[tuple[int, int], OutboxMessage] = {}
    ids = sorted(i for i in story_of if i is not None)
    for start in range(0, len(ids), 500):
        rows = session.exec(
            select(OutboxMessage)
            .where(
                col(OutboxMessage.kind) == "alert",
                col(OutboxMessage.item_id).in_(ids[start : start + 500]),
            )
            .order_by(col(OutboxMessage.id))
        ).all()
        for row in rows:
            found.setdefault((row.chat_id, story_of[row.item_id]), row)
    return found


class TelegramNotifier:
    """The pipeline's hook: enqueue alerts inside the transaction that marks items dispatched,
    so an item is either dispatched with its rows or not at all."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def dispatch(self, session: Session, items: list[Item]) -> int:
        """Enqueue, for active, unpaused subscribers in the instant mode: an alert for each
        story they have not been alerted to (its best alert-tier item, if their topics match),
        or an edit of the alert they got when the story gained an outlet. Returns rows
        enqueued; idempotent per chat and item (alerts) or story and outlet count (edits)."""
        relevant = [i for i in items if i.tier != "ignore" and not i.backfill]
        if not relevant:
            return 0
        if any(i.id is None for i in relevant):
            session.flush()
        subscribers = session.exec(
            select(Subscriber).where(
                col(Subscriber.active),
                ~col(Subscriber.paused),
                col(Subscriber.mode) == MODE_INSTANT_DAILY,
            )
        ).all()
        if not subscribers:
            return 0
        stories = _stories(session, relevant)
        alerted = _first_alerts(session, stories)
        messages: list[outbox.NewMessage] = []
        for story in stories:
            for sub in subscribers:
                first = alerted.get((sub.chat_id, story.id))
                if first is not None:
                    message = self._edit(story, sub, first)
                else:
                    message = self._alert(story, sub)
                if message is not None:
                    messages.append(message)
        return outbox.enqueue(session, messages)

    @staticmethod
    def _alert(story: Story, sub: Subscriber) -> outbox.NewMessage | None:
        """The story's best new alert-tier item the chat wants, with the outlets so far."""
        wanted = [
            i
            for i in story.new
            if i.tier == ALERT_TIER and not i.backfill and sub.wants_topics(i.topics)
        ]
        if not wanted:
            return None
        item = max(wanted, key=lambda i: (i.score, -(i.id or 0)))
        assert item.id is not None
        sources = story.sources(item)
        entry = Entry(item=item, source=sources[0], also=tuple(sources[1:]))
        return outbox.NewMessage(
            key=alert_key(sub.chat_id, item.id),
            chat_id=sub.chat_id,
            subscriber_id=sub.id,
            kind="alert",
            item_id=item.id,
            text=render_alert(entry, sub),
            reply_markup=feedback_markup(item.id),
            link_preview=sub.link_previews,
        )

    @staticmethod
    def _edit(story: Story, sub: Subscriber, first: OutboxMessage) -> outbox.NewMessage | None:
        """Re-render the chat's alert with every outlet; the sender edits it in place."""
        if first.state in (DEAD, DROPPED) or first.item_id is None:
            return None
        if not story.grew_since(first):
            return None
        original = next((i for i in story.items if i.id == first.item_id), None)
        if original is None:
            return None
        sources = story.sources(original)
        entry = Entry(item=original, source=sources[0], also=tuple(sources[1:]))
        return outbox.NewMessage(
            key=edit_key(first.chat_id, story.id, len(sources)),
            chat_id=first.chat_id,
            subscriber_id=sub.id,
            kind=outbox.EDIT,
            item_id=first.item_id,
            text=render_alert(entry, sub),
            reply_markup=feedback_markup(first.item_id),
            link_preview=sub.link_previews,
        )
