"""Admin commands that edit feeds.yaml: /addfeed, /removefeed (confirmed), /pausefeed, /resumefeed.

They change the file, not the database: the running service's FeedsWatcher picks the edit up
within seconds, exactly as if an admin had edited the file by hand, so there is one way in.
File work runs in a thread (it takes a lock and fsyncs); the add's feed probe runs after the
reply, so a slow server never holds up the bot.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot import feeds_edit
from bot.feed_probe import probe_feed
from bot.feeds_file import FeedSpec
from bot.telegram import html
from bot.telegram.handlers import Context, edit, reply

log = logging.getLogger(__name__)
T = TypeVar("T")
PENDING_LIMIT = 100


def _args(update: Update) -> str:
    message = update.effective_message
    text = message.text if message is not None and message.text else ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def _who(update: Update) -> int | None:
    return update.effective_user.id if update.effective_user else None


def describe(feed: FeedSpec) -> str:
    """<b>name</b> and its URL, escaped: both come from whoever typed the command."""
    return f"<b>{html.escape(feed.name)}</b> (<code>{html.escape(feed.url)}</code>)"


class FeedCommands:
    """Mixed into AdminHandlers, which supplies the admin check."""

    feeds_file: Path | None
    user_agent: str
    _removals: dict[str, str]

    async def _allowed(self, update: Update) -> bool:
        raise NotImplementedError

    async def _edit(self, update: Update, fn: Callable[[Path], T]) -> T | None:
        """Run one file edit in a thread; an error is the admin's reply, never an exception."""
        if self.feeds_file is None:
            await reply(update, "Feed editing is off: no feeds file is configured.")
            return None
        path = self.feeds_file
        try:
            return await asyncio.to_thread(fn, path)
        except (feeds_edit.FeedsEditError, OSError) as err:
            await reply(update, f"Nothing changed: {html.escape(str(err))}")
            return None

    async def addfeed(self, update: Update, context: Context) -> None:
        """/addfeed URL [name]"""
        if not await self._allowed(update):
            return
        url, _, name = _args(update).partition(" ")
        if not url:
            await reply(update, "Usage: /addfeed URL [name]")
            return
        feed = await self._edit(update, lambda p: feeds_edit.add_feed(p, url, name or None))
        if feed is None:
            return
        log.info("telegram: admin %s added feed %s (%s)", _who(update), feed.name, feed.url)
        await reply(
            update,
            f"➕ Added {describe(feed)}.\nThe service checks it within seconds; items already "
            "in the feed are archived without alerts; what it publishes next is alerted.",
        )
        context.application.create_task(self._probe(update, feed), update=update)

    async def _probe(self, update: Update, feed: FeedSpec) -> None:
        result = await probe_feed(feed.url, self.user_agent)
        name = html.escape(feed.name)
        if result.ok:
            text = f"🔎 <b>{name}</b> looks like a feed: {html.escape(result.detail)}."
        else:
            text = (
                f"⚠️ Could not confirm that <b>{name}</b> is a feed: "
                f"{html.escape(result.detail)}. It stays added; /feeds shows how its checks "
                "go, /removefeed takes it out."
            )
        await reply(update, text)

    async def removefeed(self, update: Update, context: Context) -> None:
        """/removefeed NAME|URL asks for confirmation first, like /broadcast."""
        if not await self._allowed(update):
            return
        key = _args(update)
        if not key:
            await reply(update, "Usage: /removefeed NAME or URL")
            return
        feed = await self._edit(update, lambda p: feeds_edit.lookup(p, key))
        if feed is None:
            return
        message = update.effective_message
        assert message is not None
        token = hashlib.sha256(f"{message.chat_id}:{message.message_id}:{feed.url}".encode())
        token_hex = token.hexdigest()[:16]
        if len(self._removals) >= PENDING_LIMIT:
            self._removals.pop(next(iter(self._removals)))
        self._removals[token_hex] = feed.url
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("Remove", callback_data=f"rf:yes:{token_hex}"),
                    InlineKeyboardButton("Cancel", callback_data=f"rf:no:{token_hex}"),
                ]
            ]
        )
        await reply(
            update,
            f"Remove {describe(feed)} from the feeds file? Its stored items stay in the archive.",
            reply_markup=markup,
        )

    async def removefeed_button(self, update: Update, context: Context) -> None:
        if not await self._allowed(update):
            return
        query = update.callback_query
        assert query is not None and query.data is not None
        _, answer, token = query.data.split(":", 2)
        url = self._removals.pop(token, None)
        if url is None:
            await query.answer("This removal is no longer pending.")
            return
        if answer != "yes":
            await query.answer("Cancelled")
            await edit(query, "Nothing removed.")
            return
        feed = await self._edit(update, lambda p: feeds_edit.remove_feed(p, url))
        await query.answer("Removed" if feed else "Not removed")
        if feed is None:
            return
        log.info("telegram: admin %s removed feed %s (%s)", _who(update), feed.name, feed.url)
        await edit(
            query, f"🗑 Removed {describe(feed)}.\nThe service stops checking it within seconds."
        )

    async def pausefeed(self, update: Update, context: Context) -> None:
        """/pausefeed NAME|URL: `enabled: false`."""
        await self._toggle(update, enabled=False)

    async def resumefeed(self, update: Update, context: Context) -> None:
        """/resumefeed NAME|URL: `enabled: true`."""
        await self._toggle(update, enabled=True)

    async def _toggle(self, update: Update, *, enabled: bool) -> None:
        if not await self._allowed(update):
            return
        key = _args(update)
        command = "resumefeed" if enabled else "pausefeed"
        if not key:
            await reply(update, f"Usage: /{command} NAME or URL")
            return
        done = await self._edit(update, lambda p: feeds_edit.set_enabled(p, key, enabled))
        if done is None:
            return
        state = "active" if enabled else "paused"
        if not done.changed:
            await reply(update, f"{describe(done.feed)} is already {state}; nothing changed.")
            return
        log.info("telegram: admin %s: %s %s", _who(update), command, done.feed.url)
        if enabled:
            text = f"▶️ Resumed {describe(done.feed)}: it is checked again within seconds."
        else:
            text = f"⏸ Paused {describe(done.feed)}: no more checks until /resumefeed."
        await reply(update, text)
