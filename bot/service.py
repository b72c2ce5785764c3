"""`watchbot run`: the scheduler, the poller, the notifiers and (with a token) the Telegram bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import metrics
from bot.config import Settings
from bot.dispatch import ConsoleNotifier, Notifier, dispatch_pending
from bot.feeds_file import load_feeds_file
from bot.poller import Poller
from bot.relevance import RulesHolder
from bot.reload import FeedsWatcher, apply_config
from bot.web import Heartbeat, start_http
from storage.db import create_schema, make_engine, session_scope
from storage.feeds import release_leases

log = logging.getLogger("watchbot")
RELOAD_CHECK_SECONDS = 5


async def run_service(settings: Settings) -> None:
    config = load_feeds_file(settings.feeds_file)
    engine = make_engine(settings.database_url)
    create_schema(engine, auto_migrate=settings.auto_migrate)
    rules = RulesHolder(config.topics)
    apply_config(engine, config)
    watcher = FeedsWatcher(settings.feeds_file, engine, rules, config)
    poller = Poller(
        engine,
        rules,
        user_agent=settings.user_agent,
        concurrency=settings.poll_concurrency,
        per_host=settings.per_host_concurrency,
        max_body_bytes=settings.max_body_bytes,
        fetch_deadline=settings.fetch_timeout_seconds,
        connect_timeout=settings.fetch_connect_timeout_seconds,
        read_timeout=settings.fetch_read_timeout_seconds,
        parse_workers=settings.parse_workers,
    )
    notifiers: list[Notifier] = []
    token = settings.telegram_token
    if token is None:
        notifiers.append(ConsoleNotifier())
    else:
        from bot.telegram.notifier import TelegramNotifier

        notifiers.append(TelegramNotifier(settings))

    running: set[asyncio.Task[Any]] = set()
    heartbeat = Heartbeat(tick_seconds=settings.poll_tick_seconds)

    async def tick() -> None:
        task = asyncio.current_task()
        if task is not None:
            running.add(task)
        heartbeat.begin()
        try:
            with metrics.POLL_DURATION.time():
                summary = await poller.poll()
            pushed = await asyncio.to_thread(dispatch_pending, engine, notifiers)
            for outcome in summary.outcomes:
                metrics.FEEDS_POLLED.labels(outcome.status).inc()
            metrics.ITEMS_NEW.inc(summary.new_items)
            metrics.ITEMS_RELEVANT.inc(summary.relevant_items)
            if summary.outcomes:
                log.info(
                    "poll: %d feeds, %d fetched, %d not modified, %d failed, %d new items, "
                    "%d relevant pushed",
                    len(summary.outcomes),
                    summary.count("fetched"),
                    summary.count("not_modified") + summary.count("unchanged"),
                    summary.count("failed"),
                    summary.new_items,
                    pushed,
                )
            await wake_when_due()
        except Exception:
            log.exception("poll tick failed; the next tick will try again")
        finally:
            heartbeat.end()
            if task is not None:
                running.discard(task)

    async def wake_when_due() -> None:
        """Run the next tick when the next feed falls due if that is before the fixed tick:
        with 30 s ticks a feed due just after one waited up to 30 s more."""
        wait = await poller.seconds_until_due()
        job = scheduler.get_job("poll")
        if wait is None or job is None or wait >= settings.poll_tick_seconds:
            return
        job.modify(next_run_time=datetime.now(UTC) + timedelta(seconds=max(wait, 1.0)))

    scheduler = AsyncIOScheduler()
    scheduler.add_job(
        tick,
        "interval",
        seconds=settings.poll_tick_seconds,
        next_run_time=datetime.now(),
        max_instances=1,
        coalesce=True,
        id="poll",
    )
    scheduler.add_job(
        watcher.check,
        "interval",
        seconds=RELOAD_CHECK_SECONDS,
        max_instances=1,
        coalesce=True,
        id="reload",
    )
    if settings.smtp_host is not None:  # digest e-mails: queue what is due, then send
        from bot.email.service import EVERY_SECONDS, JOB_ID, EmailService

        mailer = EmailService(settings, engine, rules.classifier.topic_labels)
        scheduler.add_job(
            mailer.tick,
            "interval",
            seconds=EVERY_SECONDS,
            max_instances=1,
            coalesce=True,
            id=JOB_ID,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    scheduler.start()
    http = await start_http(settings, engine, heartbeat)
    output = "console" if token is None else "Telegram"
    log.info(
        "watchbot started: %d feeds from %s, %d topics, database %s, alerts to %s%s",
        len(config.feeds),
        settings.feeds_file,
        len(rules.classifier.topic_labels),
        _safe_db_url(settings.database_url),
        output,
        " (set WATCHBOT_TELEGRAM_TOKEN for Telegram)" if token is None else "",
    )
    tasks: list[asyncio.Task[None]] = []
    if token is not None:
        from bot.telegram.app import run_telegram

        tasks.append(
            asyncio.create_task(
                run_telegram(settings, engine, scheduler, stop, rules.classifier.topic_labels)
            )
        )
    try:
        await stop.wait()
    finally:
        log.info("stopping: finishing in-flight work")
        scheduler.shutdown(wait=False)
        for t in list(running):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for task in tasks:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=8)
        if http is not None:
            await http.cleanup()
        with session_scope(engine) as session:
            release_leases(session, poller.owner)
        poller.close()
        engine.dispose()
        log.info("stopped")


def _safe_db_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
