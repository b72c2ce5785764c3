"""Admin commands (WATCHBOT_ADMIN_IDS only): /feeds, /stats, /deadletters, /broadcast, and
the feeds.yaml editing commands of bot.telegram.feed_admin (/addfeed, /removefeed, …).

Admin replies are in English; everyone else gets a polite refusal in their language.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.telegram import html, outbox, subscribers
from bot.telegram.feed_admin import FeedCommands
from bot.telegram.handlers import Base, Context, edit, reply
from bot.telegram.i18n import t
from bot.telegram.messages import pack
from storage.delivery import Subscriber
from storage.models import Feed

log = logging.getLogger(__name__)


def _when(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "never"


def feed_line(feed: Feed) -> str:
    """One feed's health: last success, failures, last error."""
    if not feed.enabled or feed.disabled_reason:
        icon = "⏸"
    elif feed.failure_count:
        icon = "⚠️"
    else:
        icon = "✅"
    line = f"{icon} <b>{html.escape(feed.name)}</b>\n   last ok: {_when(feed.last_success_at)}"
    if feed.failure_count:
        line += f" · failures: {feed.failure_count}"
    if feed.last_error:
        line += f"\n   error: <code>{html.escape(html.shorten(feed.last_error, 200))}</code>"
    if feed.disabled_reason:
        line += f"\n   disabled: {html.escape(feed.disabled_reason)}"
    if feed.moved_to:
        line += f"\n   moved to: {html.escape(feed.moved_to)}"
    return line


class AdminHandlers(FeedCommands, Base):
    """The bot operators' view of feeds, delivery and subscribers."""

    def __init__(
        self,
        engine: Engine,
        labels: Mapping[str, str],
        admin_ids: Sequence[int],
        wake_sender: Callable[[], None],
        *,
        feeds_file: Path | None = None,
        user_agent: str = "watchbot",
    ) -> None:
        super().__init__(engine, labels)
        self.admin_ids = frozenset(admin_ids)
        self.wake_sender = wake_sender
        self._broadcasts: dict[str, str] = {}
        self.feeds_file = feeds_file
        self.user_agent = user_agent
        self._removals = {}

    async def _allowed(self, update: Update) -> bool:
        user = update.effective_user
        if user is not None and user.id in self.admin_ids:
            return True
        log.warning(
            "telegram: refused an admin command from user %s in chat %s",
            user.id if user else None,
            update.effective_chat.id if update.effective_chat else None,
        )
        if update.callback_query is not None:
            await update.callback_query.answer(t(await self.language(update), "admin_only"))
        else:
            await reply(update, t(await self.language(update), "admin_only"))
        return False

    async def feeds(self, update: Update, context: Context) -> None:
        if not await self._allowed(update):
            return
        rows = await self.db(subscribers.feeds)
        if not rows:
            await reply(update, "No feeds yet.")
            return
        failing = sum(1 for f in rows if f.failure_count)
        header = f"<b>Feeds</b>: {len(rows)}, failing: {failing}"
        for part in pack(header, [("", feed_line(f)) for f in rows]):
            await reply(update, part)

    async def stats(self, update: Update, context: Context) -> None:
        if not await self._allowed(update):
            return

        def gather(s: Session) -> tuple[dict[str, int], dict[str, int]]:
            return subscribers.stats(s), outbox.counts(s)

        numbers, queue = await self.db(gather)
        lines = ["<b>Stats</b>"]
        lines += [f"{k.replace('_', ' ')}: {v}" for k, v in numbers.items()]
        lines.append(
            "outbox: " + (", ".join(f"{k} {v}" for k, v in sorted(queue.items())) or "empty")
        )
        await reply(update, "\n".join(lines))

    async def rules(self, update: Update, context: Context) -> None:
        """/rules: alerts, 👍/👎 and precision per topic rule (see `watchbot rules report`)."""
        if not await self._allowed(update):
            return
        from bot.rules.telegram import report_messages

        feeds_file, admins = self.feeds_file, self.admin_ids
        for part in await self.db(lambda s: report_messages(s, feeds_file, admins)):
            await reply(update, part)

    async def deadletters(self, update: Update, context: Context) -> None:
        if not await self._allowed(update):
            return

        def gather(s: Session) -> tuple[int, list[str]]:
            total = outbox.counts(s).get("dead", 0)
            lines = [
                f"#{r.id} {r.kind} to <code>{r.chat_id}</code>, {r.attempts} attempts: "
                f"<code>{html.escape(html.shorten(r.last_error or '?', 200))}</code>"
                for r in outbox.dead_letters(s, 10)
            ]
            return total, lines

        total, lines = await self.db(gather)
        if not total:
            await reply(update, "No dead letters.")
            return
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton(f"Retry all ({total})", callback_data="dl:retry")]]
        )
        header = f"<b>Dead letters</b>: {total} (latest {len(lines)})"
        await reply(update, pack(header, [("", x) for x in lines])[0], reply_markup=markup)

    async def deadletters_button(self, update: Update, context: Context) -> None:
        if not await self._allowed(update):
            return
        query = update.callback_query
        assert query is not None
        count = await self.db(outbox.retry_dead)
        self.wake_sender()
        await query.answer(f"{count} message(s) queued again")
        await edit(query, f"Dead letters: {count} queued for another try.")

    async def broadcast(self, update: Update, context: Context) -> None:
        """/broadcast TEXT shows a preview and asks for confirmation before queueing."""
        if not await self._allowed(update):
            return
        message = update.effective_message
        assert message is not None and message.text is not None
        text = message.text.partition(" ")[2].strip()
        if not text:
            await reply(update, "Usage: /broadcast TEXT (plain text, sent to every active chat).")
            return
        token = hashlib.sha256(
            f"{message.chat_id}:{message.message_id}:{text}".encode()
        ).hexdigest()
        token = token[:16]
        self._broadcasts[token] = text
        count = await self.db(lambda s: len(active_chats(s)))
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(f"Send to {count} chats", callback_data=f"bc:yes:{token}"),
                    InlineKeyboardButton("Cancel", callback_data=f"bc:no:{token}"),
                ]
            ]
        )
        await reply(update, f"<b>Broadcast preview</b>\n\n{html.escape(text)}", reply_markup=markup)

    async def broadcast_button(self, update: Update, context: Context) -> None:
        if not await self._allowed(update):
            return
        query = update.callback_query
        assert query is not None and query.data is not None
        _, answer, token = query.data.split(":", 2)
        text = self._broadcasts.pop(token, None)
        if text is None:
            await query.answer("This broadcast is no longer pending.")
            return
        if answer != "yes":
            await query.answer("Cancelled")
            await edit(query, "Broadcast cancelled.")
            return
        body = html.escape(text)

        def queue(s: Session) -> int:
            return outbox.enqueue(
                s,
                (
                    outbox.NewMessage(
                        key=f"broadcast:{token}:{sub.chat_id}",
                        chat_id=sub.chat_id,
                        subscriber_id=sub.id,
                        kind="broadcast",
                        text=body,
                    )
                    for sub in active_chats(s)
                ),
            )

        count = await self.db(queue)
        self.wake_sender()
        await query.answer("Queued")
        await edit(query, f"Broadcast queued for {count} chats.")


def active_chats(session: Session) -> Sequence[Subscriber]:
    return session.exec(
        select(Subscriber).where(col(Subscriber.active), ~col(Subscriber.paused))
    ).all()
