"""Run the Telegram side beside the scheduler: PTB Application (polling or webhook), the outbox
sender and the digest job, all on the service's event loop, until `stop` is set.

Structured like PTB's "custom event loop" example: initialize/start the Application and its
Updater by hand instead of run_polling(), which would own the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.engine import Engine
from telegram import BotCommand, BotCommandScopeChat, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
)

from bot.config import Settings
from bot.email.telegram_commands import EmailCommand
from bot.leader import Leadership
from bot.telegram import subscribers
from bot.telegram.admin import AdminHandlers
from bot.telegram.digest import enqueue_due_digests
from bot.telegram.handlers import SubscriberHandlers
from bot.telegram.i18n import t
from bot.telegram.redact import install_token_redaction, redact
from bot.telegram.sender import Pacing, Sender
from storage.db import session_scope
from storage.timeutil import utcnow

log = logging.getLogger(__name__)

SUBSCRIBER_COMMANDS = (
    "start",
    "settings",
    "latest",
    "search",
    "pause",
    "resume",
    "stop",
    "delete_me",
    "timezone",
    "channel",
    "help",
)
ADMIN_COMMANDS = (
    ("feeds", "Feed health: last success, failures, last error"),
    ("stats", "Subscribers, items, outbox"),
    ("deadletters", "Messages that kept failing (and retry)"),
    ("broadcast", "Send a text to every active chat (asks to confirm)"),
    ("rules", "Alerts, 👍/👎 and precision per topic rule"),
    ("addfeed", "Add a feed: /addfeed URL [name]"),
    ("removefeed", "Remove a feed: /removefeed NAME|URL (asks to confirm)"),
    ("pausefeed", "Stop checking a feed: /pausefeed NAME|URL"),
    ("resumefeed", "Check a paused feed again: /resumefeed NAME|URL"),
)
DIGEST_JOB_ID = "telegram-digests"


def file_url(api_url: str) -> str:
    """https://api.telegram.org/bot → https://api.telegram.org/file/bot (same for a local API)."""
    base = api_url.removesuffix("/bot")
    return f"{base}/file/bot" if base != api_url else api_url


def webhook_secret(token: str) -> str:
    """A stable secret Telegram echoes in each webhook call, so strangers cannot post updates."""
    return hashlib.sha256(b"watchbot-webhook:" + token.encode()).hexdigest()[:48]


class TelegramService:
    """The Application, its handlers, the sender and the digest job, wired together."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        topics: Mapping[str, str],
        *,
        pacing: Pacing | None = None,
        digest_every: float = 60.0,
    ) -> None:
        if settings.telegram_token is None:
            raise ValueError("WATCHBOT_TELEGRAM_TOKEN is not set")
        self.settings = settings
        self.engine = engine
        self.topics = dict(topics)
        self.digest_every = digest_every
        self.token = settings.telegram_token.get_secret_value()
        install_token_redaction(self.token)
        self.app: Application = (  # type: ignore[type-arg]
            ApplicationBuilder()
            .token(self.token)
            .base_url(settings.telegram_api_url)
            .base_file_url(file_url(settings.telegram_api_url))
            .defaults(
                Defaults(
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            )
            .build()
        )
        self.sender = Sender(self.app.bot, engine, pacing)
        self.leadership = Leadership(engine)
        self.subscriber_handlers = SubscriberHandlers(engine, self.topics)
        self.admin_handlers = AdminHandlers(
            engine,
            self.topics,
            settings.admin_ids,
            self.sender.wake,
            feeds_file=settings.feeds_file,
            user_agent=settings.user_agent,
        )
        self._register_handlers()

    def _register_handlers(self) -> None:
        subs, admin, app = self.subscriber_handlers, self.admin_handlers, self.app
        for name in SUBSCRIBER_COMMANDS:
            app.add_handler(CommandHandler(name, getattr(subs, name)))
        for name, _ in ADMIN_COMMANDS:
            app.add_handler(CommandHandler(name, getattr(admin, name)))
        app.add_handler(CallbackQueryHandler(subs.feedback, pattern=r"^fb:\d+:(up|down)$"))
        app.add_handler(CallbackQueryHandler(subs.settings_button, pattern=r"^s:-?\d+:\w+"))
        app.add_handler(CallbackQueryHandler(admin.deadletters_button, pattern=r"^dl:retry$"))
        app.add_handler(CallbackQueryHandler(admin.broadcast_button, pattern=r"^bc:(yes|no):\w+$"))
        app.add_handler(CallbackQueryHandler(admin.removefeed_button, pattern=r"^rf:(yes|no):\w+$"))
        app.add_handler(ChatMemberHandler(subs.member_changed, ChatMemberHandler.MY_CHAT_MEMBER))
        app.add_handler(CommandHandler("email", EmailCommand(self.engine, self.settings).email))
        app.add_error_handler(self._on_error)

    @staticmethod
    async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        err = context.error
        log.error("telegram: handling an update failed: %s", redact(repr(err)), exc_info=err)

    def _menu(self) -> tuple[str, ...]:
        """The subscriber commands, with /email when e-mail digests are set up."""
        return SUBSCRIBER_COMMANDS + (("email",) if self.settings.smtp_host else ())

    async def register_commands(self) -> None:
        """setMyCommands: the menu in English, Arabic, and with admin commands for admins."""
        bot = self.app.bot
        for lang in ("en", "ar"):
            commands = [BotCommand(c, t(lang, f"cmd_{c}")) for c in self._menu()]
            await bot.set_my_commands(commands, language_code=None if lang == "en" else lang)
        admin_menu = [BotCommand(c, t("en", f"cmd_{c}")) for c in self._menu()]
        admin_menu += [BotCommand(c, d) for c, d in ADMIN_COMMANDS]
        for admin_id in self.settings.admin_ids:
            try:
                await bot.set_my_commands(admin_menu, scope=BotCommandScopeChat(admin_id))
            except TelegramError as err:  # the admin has not opened a chat with the bot yet
                log.info("telegram: admin menu for %s not set: %s", admin_id, redact(str(err)))

    async def digest_tick(self) -> None:
        """The periodic job: enqueue every digest whose time has come, then wake the sender."""

        def work() -> int:
            with session_scope(self.engine) as session:
                labels = subscribers.known_topics(session, self.topics)
                return enqueue_due_digests(session, utcnow(), labels)

        try:
            count = await asyncio.to_thread(work)
        except Exception:
            log.exception("telegram: digest run failed")
            return
        if count:
            log.info("telegram: %d digest message(s) queued", count)
            self.sender.wake()

    async def _initialize(self, stop: asyncio.Event) -> bool:
        """getMe with retries: a network outage at boot must not kill the service."""
        delay = 2.0
        while not stop.is_set():
            try:
                await self.app.initialize()
                return True
            except InvalidToken:
                raise
            except TelegramError as err:
                log.warning(
                    "telegram: cannot reach the Bot API (%s); retry in %.0fs",
                    redact(str(err)),
                    delay,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 60.0)
        return False

    async def _start_polling(self) -> None:
        updater = self.app.updater
        assert updater is not None
        await updater.start_polling(allowed_updates=Update.ALL_TYPES)
        log.info("telegram: long polling started")

    async def _stop_polling(self) -> None:
        updater = self.app.updater
        if updater is not None and updater.running:
            await updater.stop()

    async def _start_webhook(self, url: str) -> None:
        updater = self.app.updater
        assert updater is not None
        parts = urlsplit(url)
        await updater.start_webhook(
            listen="0.0.0.0",
            port=self.settings.webhook_port,
            url_path=parts.path.lstrip("/"),
            webhook_url=url,
            secret_token=webhook_secret(self.token),
            allowed_updates=Update.ALL_TYPES,
        )
        log.info("telegram: webhook listening on port %s", self.settings.webhook_port)

    async def _lead(self, stop: asyncio.Event) -> None:
        """While this instance leads: long-poll for updates and drain the outbox. If the lead is
        lost (its database connection dropped), stop both and stand by again."""
        while not stop.is_set():
            if not await self.leadership.acquire(stop):
                return
            lost = asyncio.Event()
            done = asyncio.Event()
            watcher = asyncio.create_task(self.leadership.watch(stop, lost))
            relay = asyncio.create_task(_set_when_any(done, stop, lost))
            try:
                if self.settings.webhook_url is None:
                    await self._start_polling()
                await self.sender.run(done)  # returns once `done` is set and sends in flight end
            finally:
                await self._stop_polling()
                for task in (watcher, relay):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if lost.is_set():
                await self.leadership.release()

    async def run(self, scheduler: AsyncIOScheduler, stop: asyncio.Event) -> None:
        if not await self._initialize(stop):
            return
        try:
            try:
                await self.register_commands()
            except TelegramError as err:  # the menu is a nicety; alerts matter more
                log.warning("telegram: command menu not set: %s", redact(str(err)))
            await self.app.start()
            if self.settings.webhook_url is not None:  # webhooks may run in every instance
                await self._start_webhook(self.settings.webhook_url)
            scheduler.add_job(
                self.digest_tick,
                "interval",
                seconds=self.digest_every,
                id=DIGEST_JOB_ID,
                replace_existing=True,
                max_instances=1,
                coalesce=True,
            )
            await self._lead(stop)
        finally:
            await self.leadership.release()
            with contextlib.suppress(Exception):
                scheduler.remove_job(DIGEST_JOB_ID)
            await self._stop_polling()
            if self.app.running:
                await self.app.stop()
            await self.app.shutdown()
            log.info("telegram: stopped")


async def _set_when_any(target: asyncio.Event, *events: asyncio.Event) -> None:
    waits = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        target.set()
    finally:
        for w in waits:
            w.cancel()


async def run_telegram(
    settings: Settings,
    engine: Engine,
    scheduler: AsyncIOScheduler,
    stop: asyncio.Event,
    topics: dict[str, str],
) -> None:
    """Run the PTB Application (polling or webhook), the outbox sender, and register the digest
    job on `scheduler` (already started), until `stop` is set; then shut down cleanly."""
    await TelegramService(settings, engine, topics).run(scheduler, stop)
