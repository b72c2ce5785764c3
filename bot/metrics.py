"""Prometheus metrics: counters this process increments, and gauges read from the database at
scrape time, so every instance reports the same shared state (feeds, outbox depth)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot.health import feed_state
from storage.db import session_scope
from storage.delivery import OutboxMessage
from storage.models import Feed

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()

POLL_DURATION = Histogram(
    "watchbot_poll_tick_seconds",
    "Duration of one poll tick (claim, fetch, parse, store, classify).",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
FEEDS_POLLED = Counter(
    "watchbot_feed_polls_total",
    "Feed fetches by outcome (fetched, not_modified, unchanged, failed).",
    ["outcome"],
    registry=REGISTRY,
)
ITEMS_NEW = Counter("watchbot_items_new_total", "New items stored.", registry=REGISTRY)
ITEMS_RELEVANT = Counter(
    "watchbot_items_relevant_total", "New items classified alert or digest.", registry=REGISTRY
)
MESSAGES_SENT = Counter(
    "watchbot_telegram_messages_sent_total", "Telegram messages delivered.", registry=REGISTRY
)
TELEGRAM_429 = Counter(
    "watchbot_telegram_429_total", "Telegram 429 (flood control) answers.", registry=REGISTRY
)
TELEGRAM_FAILURES = Counter(
    "watchbot_telegram_failures_total",
    "Telegram send failures by kind (retry, dead, gone).",
    ["kind"],
    registry=REGISTRY,
)
EMAILS_SENT = Counter("watchbot_emails_sent_total", "E-mails accepted by SMTP.", registry=REGISTRY)
EMAILS_BOUNCED = Counter(
    "watchbot_emails_bounced_total", "Addresses marked bounced.", registry=REGISTRY
)
EMAIL_FAILURES = Counter(
    "watchbot_email_failures_total", "SMTP attempts that failed.", registry=REGISTRY
)


class DatabaseCollector(Collector):
    """Feeds by state and outbox rows by state, read when Prometheus scrapes."""

    def __init__(self, engine: Engine | None) -> None:
        self.engine = engine  # set by the HTTP server; None: no database gauges yet

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.engine is None:
            return
        feeds = GaugeMetricFamily("watchbot_feeds", "Feeds by health state.", labels=["state"])
        outbox = GaugeMetricFamily(
            "watchbot_outbox_messages", "Telegram outbox rows by state.", labels=["state"]
        )
        try:
            with session_scope(self.engine) as session:
                states: dict[str, int] = {}
                for feed in session.exec(select(Feed).where(col(Feed.in_config))):
                    state = feed_state(feed)
                    states[state] = states.get(state, 0) + 1
                rows = session.exec(
                    select(OutboxMessage.state, func.count()).group_by(col(OutboxMessage.state))
                ).all()
        except Exception as err:
            log.warning("metrics: cannot read the database (%s)", type(err).__name__)
            return
        for state in ("ok", "new", "failing", "stopped", "disabled"):
            feeds.add_metric([state], states.get(state, 0))
        found = dict(rows)
        for state in ("pending", "sending", "sent", "dead", "dropped"):
            outbox.add_metric([state], found.get(state, 0))
        yield feeds
        yield outbox


_database = DatabaseCollector(None)
REGISTRY.register(_database)


def registry_for(engine: Engine) -> CollectorRegistry:
    """The process registry, its database gauges read from `engine`."""
    _database.engine = engine
    return REGISTRY
