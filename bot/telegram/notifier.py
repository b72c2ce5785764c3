"""Turn newly classified items into instant-alert rows in the outbox (no network here)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from bot.config import Settings
from bot.telegram import outbox
from bot.telegram.messages import Entry, feedback_markup, render_alert
from bot.telegram.subscribers import feed_names
from storage.delivery import MODE_INSTANT_DAILY, Subscriber
from storage.models import Item

ALERT_TIER = "alert"


def alert_key(chat_id: int, item_id: int) -> str:
    return f"alert:{chat_id}:{item_id}"


class TelegramNotifier:
    """The pipeline's hook: enqueue alerts inside the transaction that marks items dispatched,
    so an item is either dispatched with its rows or not at all."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def dispatch(self, session: Session, items: list[Item]) -> int:
        """Enqueue instant alerts for active, unpaused subscribers in the instant mode whose
        topics match; return the number of rows enqueued. Idempotent per chat and item."""
        alerts = [i for i in items if i.tier == ALERT_TIER and not i.backfill]
        if not alerts:
            return 0
        if any(i.id is None for i in alerts):
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
        names = feed_names(session, (i.feed_id for i in alerts))
        messages: list[outbox.NewMessage] = []
        for item in alerts:
            assert item.id is not None
            entry = Entry(item=item, source=names.get(item.feed_id, "?"))
            for sub in subscribers:
                if not sub.wants_topics(item.topics):
                    continue
                messages.append(
                    outbox.NewMessage(
                        key=alert_key(sub.chat_id, item.id),
                        chat_id=sub.chat_id,
                        subscriber_id=sub.id,
                        kind="alert",
                        item_id=item.id,
                        text=render_alert(entry, sub),
                        reply_markup=feedback_markup(item.id),
                        link_preview=sub.link_previews,
                    )
                )
        return outbox.enqueue(session, messages)
