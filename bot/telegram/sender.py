"""Drain the outbox within Telegram's limits, pacing each chat on its own.

PTB's AIORateLimiter waits globally on a 429 and does not pace private chats, so the pacing
lives here: ~1 message/s per private chat, 20/min per group or channel, under 30/s overall.
A 429 parks only the chat it came for; other chats keep going.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session
from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from bot import metrics
from bot.telegram import outbox
from bot.telegram.redact import redact
from storage.db import session_scope
from storage.delivery import PENDING, SENDING, SENT, OutboxMessage
from storage.timeutil import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

# 400s that mean the chat is gone for good, like a 403.
_GONE = ("chat not found", "user not found", "bot was kicked", "peer_id_invalid", "chat_id_invalid")


@dataclass(frozen=True)
class Pacing:
    """Telegram's limits and our retry policy; tests shrink the intervals."""

    private_interval: float = 1.0  # seconds between messages to one private chat
    group_interval: float = 3.0  # 20 per minute for a group or channel
    # Under the 30/s overall limit with ~5 % to spare for network jitter (fan-out bench: 25/s
    # delivered 24.3 msg/s; the target is 27).
    global_per_second: float = 28.5
    backoff_base: float = 5.0
    backoff_max: float = 900.0
    max_attempts: int = 8
    idle_poll: float = 1.0  # how often to look for rows enqueued by other processes
    concurrency: int = 20


class ChatPacer:
    """When each chat may get its next message, and the global spacing between sends."""

    def __init__(self, pacing: Pacing, clock: Callable[[], float] = time.monotonic) -> None:
        self._pacing = pacing
        self._clock = clock
        self._ready_at: dict[int, float] = {}
        self._global_next = 0.0

    def interval(self, chat_id: int) -> float:
        # Private chats (users) have positive ids; groups and channels negative ones.
        return self._pacing.private_interval if chat_id > 0 else self._pacing.group_interval

    def wait_for(self, chat_id: int) -> float:
        """Seconds until `chat_id` may get a message (0 when it may now)."""
        return max(0.0, self._ready_at.get(chat_id, 0.0) - self._clock())

    def global_wait(self) -> float:
        return max(0.0, self._global_next - self._clock())

    def record_send(self, chat_id: int) -> None:
        now = self._clock()
        self._ready_at[chat_id] = max(
            self._ready_at.get(chat_id, 0.0), now + self.interval(chat_id)
        )
        self._global_next = max(self._global_next, now) + 1.0 / self._pacing.global_per_second

    def park(self, chat_id: int, seconds: float) -> None:
        """A 429 for this chat: nothing more to it for `seconds`."""
        self._ready_at[chat_id] = max(self._ready_at.get(chat_id, 0.0), self._clock() + seconds)

    def forget_idle(self) -> None:
        """Drop chats whose pause is over, so the table does not grow forever."""
        now = self._clock()
        self._ready_at = {c: t for c, t in self._ready_at.items() if t > now}


def retry_after_seconds(err: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the int becomes a timedelta later
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = err.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


class Sender:
    """The drain loop: one message in flight per chat, many chats at once."""

    def __init__(
        self, bot: Bot, engine: Engine, pacing: Pacing | None = None, pacer: ChatPacer | None = None
    ) -> None:
        self.bot = bot
        self.engine = engine
        self.pacing = pacing or Pacing()
        self.pacer = pacer or ChatPacer(self.pacing)
        self._wake = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}

    def wake(self) -> None:
        """Rows were enqueued in this process: look now instead of at the next poll."""
        self._wake.set()

    async def _db(self, fn: Callable[[Session], T]) -> T:
        def work() -> T:
            with session_scope(self.engine) as session:
                return fn(session)

        return await asyncio.to_thread(work)

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set; rows left `sending` by a crash are sent again first."""
        reset = await self._db(outbox.reset_in_flight)
        if reset:
            log.warning("outbox: %d message(s) were in flight at the last stop; resending", reset)
        passes = 0
        while not stop.is_set():
            try:
                next_wake = await self._launch_ready()
            except Exception:
                log.exception("outbox: pass failed; retrying")
                next_wake = self.pacing.idle_poll
            passes += 1
            if passes % 1000 == 0:
                self.pacer.forget_idle()
            await self._wait(stop, next_wake)
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=5)

    async def _launch_ready(self) -> float:
        """Start a send for every chat whose head row is due; return seconds until next look."""
        for chat_id, task in list(self._in_flight.items()):
            if task.done():
                del self._in_flight[chat_id]
        rows = await self._db(outbox.heads)
        now = utcnow()
        next_wake = self.pacing.idle_poll
        for row in rows:
            if row.chat_id in self._in_flight:
                continue
            if len(self._in_flight) >= self.pacing.concurrency:
                break
            due_in = (row.next_attempt_at - now).total_seconds()
            wait = max(due_in, self.pacer.wait_for(row.chat_id))
            if wait > 0:
                next_wake = min(next_wake, wait)
                continue
            global_wait = self.pacer.global_wait()
            if global_wait > 0:
                await asyncio.sleep(global_wait)
            self.pacer.record_send(row.chat_id)
            self._in_flight[row.chat_id] = asyncio.create_task(self._deliver(row))
        return next_wake

    async def _wait(self, stop: asyncio.Event, timeout: float) -> None:
        helpers = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait(
                [*helpers, *self._in_flight.values()],
                timeout=max(timeout, 0.001),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for helper in helpers:
                helper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await helper
            self._wake.clear()

    async def _deliver(self, row: OutboxMessage) -> None:
        """Send one row; whatever goes wrong, the row must not stay `sending`."""
        assert row.id is not None
        row_id = row.id
        if not await self._db(lambda s: outbox.claim(s, row_id)):
            return
        try:
            await self._send(row)
        except Exception as err:
            log.exception("outbox: bookkeeping for message %s failed", row_id)
            error = redact(f"{type(err).__name__}: {err}")
            with contextlib.suppress(Exception):
                delay = self.pacing.backoff_base
                await self._db(lambda s: outbox.postpone(s, row_id, delay, error, count=True))

    def _content(self, row: OutboxMessage) -> dict[str, Any]:
        """What a sent message and its later edit share: text, markup, buttons, preview."""
        markup = (
            InlineKeyboardMarkup.de_json(row.reply_markup, self.bot) if row.reply_markup else None
        )
        return {
            "text": row.text,
            "parse_mode": ParseMode.HTML,
            "link_preview_options": LinkPreviewOptions(is_disabled=not row.link_preview),
            "reply_markup": markup,
        }

    async def _send(self, row: OutboxMessage) -> None:
        assert row.id is not None
        row_id, chat_id = row.id, row.chat_id
        if row.kind == outbox.EDIT:
            await self._edit(row)
            return
        try:
            message = await self.bot.send_message(chat_id=chat_id, **self._content(row))
        except Exception as err:
            await self._failed(row, err)
        else:
            await self._db(lambda s: outbox.mark_sent(s, row_id, message.message_id))
            metrics.MESSAGES_SENT.inc()

    async def _edit(self, row: OutboxMessage) -> None:
        """editMessageText on the chat's original alert (no notification). It waits while the
        alert is unsent; if the alert never got through, there is nothing to edit."""
        assert row.id is not None
        row_id = row.id
        target = await self._db(lambda s: outbox.edit_target(s, row))
        if target is not None and target.state in (PENDING, SENDING):
            delay = self.pacing.backoff_base
            wait = "the alert is not sent yet"
            await self._db(lambda s: outbox.postpone(s, row_id, delay, wait, count=False))
            return
        if target is None or target.state != SENT or target.telegram_message_id is None:
            gone = "the original alert was not delivered"
            await self._db(lambda s: outbox.mark_dead(s, row_id, gone))
            return
        message_id = target.telegram_message_id
        try:
            await self.bot.edit_message_text(
                chat_id=row.chat_id, message_id=message_id, **self._content(row)
            )
        except BadRequest as err:
            text = str(err).lower()
            if "not modified" in text:  # already says this: done
                await self._db(lambda s: outbox.mark_sent(s, row_id, message_id))
            elif "message to edit not found" in text or "can't be edited" in text:
                error = redact(f"{type(err).__name__}: {err}")
                await self._db(lambda s: outbox.mark_dead(s, row_id, error))
            else:
                await self._failed(row, err)
        except Exception as err:
            await self._failed(row, err)
        else:
            await self._db(lambda s: outbox.mark_sent(s, row_id, message_id))

    async def _failed(self, row: OutboxMessage, err: Exception) -> None:
        """Sort a failure into park, drop, dead or retry."""
        assert row.id is not None
        row_id, chat_id = row.id, row.chat_id
        error = redact(f"{type(err).__name__}: {err}")
        if isinstance(err, RetryAfter):
            seconds = retry_after_seconds(err)
            log.warning("outbox: 429 for chat %s, parked for %ss", chat_id, seconds)
            metrics.TELEGRAM_429.inc()
            self.pacer.park(chat_id, seconds)
            await self._db(lambda s: outbox.postpone(s, row_id, seconds, error, count=False))
        elif isinstance(err, ChatMigrated):
            new_id = int(err.new_chat_id)
            log.info("outbox: chat %s migrated to %s", chat_id, new_id)
            await self._db(lambda s: outbox.migrate_chat(s, chat_id, new_id))
        elif isinstance(err, Forbidden) or (
            isinstance(err, BadRequest) and any(g in str(err).lower() for g in _GONE)
        ):
            log.info("outbox: chat %s unreachable (%s); subscriber deactivated", chat_id, error)
            metrics.TELEGRAM_FAILURES.labels("gone").inc()
            await self._db(lambda s: outbox.drop_chat(s, chat_id, error))
        elif isinstance(err, BadRequest):
            # The request itself is wrong (e.g. bad markup): retrying cannot help.
            log.error("outbox: message %s rejected: %s", row_id, error)
            metrics.TELEGRAM_FAILURES.labels("dead").inc()
            await self._db(lambda s: outbox.mark_dead(s, row_id, error))
        elif row.attempts + 1 >= self.pacing.max_attempts:
            log.error(
                "outbox: message %s dead after %d attempts: %s", row_id, row.attempts + 1, error
            )
            metrics.TELEGRAM_FAILURES.labels("dead").inc()
            await self._db(lambda s: outbox.mark_dead(s, row_id, error))
        else:
            if not isinstance(err, TelegramError):
                log.warning("outbox: unexpected error sending %s: %s", row_id, error)
            delay = min(self.pacing.backoff_base * 2**row.attempts, self.pacing.backoff_max)
            delay *= random.uniform(0.8, 1.2)
            log.info("outbox: message %s failed (%s); retry in %.1fs", row_id, error, delay)
            metrics.TELEGRAM_FAILURES.labels("retry").inc()
            await self._db(lambda s: outbox.postpone(s, row_id, delay, error, count=True))
