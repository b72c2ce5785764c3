"""`watchbot poll --once`: one pass with a progress bar, for admins and scripts."""

from __future__ import annotations

import asyncio
import sys

import click

from bot.config import Settings
from bot.dispatch import dispatch_pending
from bot.feeds_file import load_feeds_file
from bot.poller import FeedOutcome, Poller, PollSummary
from bot.relevance import RulesHolder
from bot.reload import apply_config
from storage.db import create_schema, make_engine


async def poll_once(settings: Settings, everything: bool, show_progress: bool) -> PollSummary:
    config = load_feeds_file(settings.feeds_file)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    rules = RulesHolder(config.topics)
    apply_config(engine, config)
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
    bar: list[object] = []

    def claimed(n: int) -> None:
        if show_progress and sys.stderr.isatty() and n:
            pb = click.progressbar(length=n, label="polling", file=sys.stderr)
            pb.__enter__()
            bar.append(pb)

    def done(_o: FeedOutcome) -> None:
        if bar:
            bar[0].update(1)  # type: ignore[attr-defined]

    try:
        summary = await poller.poll(everything, on_feed_done=done, on_claimed=claimed)
        poller.parse_pool.shutdown()  # the pass is over: no worker during the hand-over
        # Items are handed on (and marked dispatched) by `watchbot run`'s notifiers, not here,
        # except that with no Telegram token there is nobody to hand them to but the console.
        if settings.telegram_token is None:
            from bot.dispatch import ConsoleNotifier

            await asyncio.to_thread(dispatch_pending, engine, [ConsoleNotifier(sys.stderr)])
        return summary
    finally:
        if bar:
            bar[0].__exit__(None, None, None)  # type: ignore[attr-defined]
        poller.close()
        engine.dispose()
