"""One polling pass: claim due feeds, fetch them concurrently, parse, store, classify."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import schedule
from bot.fetch import FetchResult, fetch_feed, make_client
from bot.ingest import to_new_entries
from bot.parse import FeedParseError, ParsedFeed, parse_feed
from bot.relevance import RulesHolder
from storage.db import session_scope
from storage.feeds import claim_due_feeds, finish_feed, release_leases
from storage.items import store_entries
from storage.models import Feed
from storage.timeutil import utcnow

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=10)
CLAIM_LIMIT = 500

Status = Literal["fetched", "not_modified", "unchanged", "failed"]


@dataclass
class FeedOutcome:
    feed_id: int
    name: str
    url: str
    status: Status
    new: int = 0
    updated: int = 0
    relevant: int = 0
    error: str | None = None


@dataclass
class PollSummary:
    outcomes: list[FeedOutcome] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def new_items(self) -> int:
        return sum(o.new for o in self.outcomes)

    @property
    def relevant_items(self) -> int:
        return sum(o.relevant for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "feeds": len(self.outcomes),
            "fetched": self.count("fetched"),
            "not_modified": self.count("not_modified"),
            "unchanged": self.count("unchanged"),
            "failed": self.count("failed"),
            "new_items": self.new_items,
            "relevant_items": self.relevant_items,
            "updated_items": sum(o.updated for o in self.outcomes),
            "failures": [
                {"feed": o.name, "url": o.url, "error": o.error}
                for o in self.outcomes
                if o.status == "failed"
            ],
        }


def worker_id() -> str:
    return f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"


class Poller:
    """Polls feeds; safe to run in several processes against one database (feeds are leased)."""

    def __init__(
        self,
        engine: Engine,
        rules: RulesHolder,
        *,
        user_agent: str,
        concurrency: int = 20,
        per_host: int = 3,
        max_body_bytes: int = 15 * 1024 * 1024,
        owner: str | None = None,
    ) -> None:
        self.engine = engine
        self.rules = rules
        self.user_agent = user_agent
        self.concurrency = concurrency
        self.per_host = per_host
        self.max_body_bytes = max_body_bytes
        self.owner = owner or worker_id()
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="watchbot-db")
        self._hosts: dict[str, asyncio.Semaphore] = {}

    async def _in_db(self, fn: Callable[[Session], Any]) -> Any:
        def run() -> Any:
            with session_scope(self.engine) as session:
                return fn(session)

        return await asyncio.get_running_loop().run_in_executor(self._db, run)

    async def poll(
        self,
        everything: bool = False,
        on_feed_done: Callable[[FeedOutcome], None] | None = None,
        on_claimed: Callable[[int], None] | None = None,
    ) -> PollSummary:
        """Poll every due feed (or every enabled feed with `everything`) once."""
        now = utcnow()
        limit = 1_000_000 if everything else CLAIM_LIMIT
        feeds: list[Feed] = await self._in_db(
            lambda s: claim_due_feeds(s, now, self.owner, LEASE, limit, everything)
        )
        if on_claimed:
            on_claimed(len(feeds))
        summary = PollSummary()
        if not feeds:
            return summary
        gate = asyncio.Semaphore(self.concurrency)
        async with make_client(self.user_agent, max_connections=self.concurrency * 2) as client:

            async def one(feed: Feed) -> None:
                async with gate, self._host_gate(feed.url):
                    outcome = await self._poll_feed(client, feed)
                summary.outcomes.append(outcome)
                if on_feed_done:
                    on_feed_done(outcome)

            try:
                await asyncio.gather(*(one(f) for f in feeds))
            finally:
                await self._in_db(lambda s: release_leases(s, self.owner))
        return summary

    def _host_gate(self, url: str) -> asyncio.Semaphore:
        host = (urlsplit(url).hostname or "").lower()
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(self.per_host)
        return self._hosts[host]

    async def _poll_feed(self, client: httpx.AsyncClient, feed: Feed) -> FeedOutcome:
        assert feed.id is not None
        now = utcnow()
        outcome = FeedOutcome(feed.id, feed.name, feed.url, "failed")
        unconditional = schedule.wants_unconditional(feed.last_unconditional_at, now)
        try:
            res = await fetch_feed(
                client,
                feed.url,
                etag=None if unconditional else feed.etag,
                last_modified=None if unconditional else feed.last_modified,
                max_bytes=self.max_body_bytes,
            )
            if not res.ok:
                return await self._fail(feed, outcome, res.error or "failed", res)
            if res.not_modified:
                outcome.status = "not_modified"
                await self._succeed(feed, res, None, None, unconditional)
                return outcome
            body = res.body or b""
            body_hash = hashlib.sha256(body).hexdigest()
            if feed.has_succeeded and body_hash == feed.body_hash:
                outcome.status = "unchanged"
                await self._succeed(feed, res, body_hash, None, unconditional)
                return outcome
            try:
                parsed = await asyncio.to_thread(
                    parse_feed, body, res.headers, res.final_url or feed.url, self.max_body_bytes
                )
            except FeedParseError as exc:
                return await self._fail(feed, outcome, str(exc), res)
            outcome.status = "fetched"
            await self._succeed(feed, res, body_hash, parsed, unconditional, outcome)
            return outcome
        except Exception as exc:
            log.exception("feed %r (%s): unexpected error", feed.name, feed.url)
            return await self._fail(feed, outcome, f"internal error: {type(exc).__name__}: {exc}")

    async def _fail(
        self, feed: Feed, outcome: FeedOutcome, error: str, res: FetchResult | None = None
    ) -> FeedOutcome:
        now = utcnow()
        failures = feed.failure_count + 1
        interval = timedelta(minutes=feed.interval_minutes)
        retry_after = schedule.parse_retry_after(res.retry_after if res else None, now)
        changes: dict[str, Any] = {
            "failure_count": failures,
            "last_error": error,
            "last_error_at": now,
            "last_checked_at": now,
            "last_status": res.status if res else None,
            "next_check_at": schedule.next_check_after_failure(
                now, interval, failures, retry_after
            ),
        }
        if res is not None and res.status == 410:
            changes["disabled_reason"] = (
                f"gone (410) since {now:%Y-%m-%d}; remove it from the feeds file or fix its URL"
            )
            error = "the feed is gone for good (410); polling stopped until its URL is changed"
        outcome.error = error
        log.warning(
            "feed %r (%s) failed: %s; next try %s",
            feed.name,
            feed.url,
            error,
            f"{changes['next_check_at']:%Y-%m-%d %H:%M} UTC",
        )
        await self._in_db(lambda s: finish_feed(s, feed.id or 0, self.owner, changes))
        return outcome

    async def _succeed(
        self,
        feed: Feed,
        res: FetchResult,
        body_hash: str | None,
        parsed: ParsedFeed | None,
        unconditional: bool,
        outcome: FeedOutcome | None = None,
    ) -> None:
        now = utcnow()
        interval = timedelta(minutes=feed.interval_minutes)
        server_delay = schedule.cache_delay(res.headers, parsed.ttl_minutes if parsed else None)
        changes: dict[str, Any] = {
            "failure_count": 0,
            "last_checked_at": now,
            "last_success_at": now,
            "last_status": res.status,
            "has_succeeded": True,
            "moved_to": res.moved_to,
            "next_check_at": schedule.next_check_after_success(now, interval, server_delay),
        }
        if res.headers.get("etag"):
            changes["etag"] = res.headers["etag"]
        if res.headers.get("last-modified"):
            changes["last_modified"] = res.headers["last-modified"]
        if body_hash is not None:
            changes["body_hash"] = body_hash
        if unconditional:
            changes["last_unconditional_at"] = now
        if res.moved_to and res.moved_to != feed.moved_to:
            log.warning(
                "feed %r (%s) has moved permanently to %s; update the feeds file",
                feed.name,
                feed.url,
                res.moved_to,
            )
        if parsed is not None:
            changes["parse_warning"] = parsed.warning
            entries = to_new_entries(
                parsed.entries, res.final_url or feed.url, feed.language or parsed.language
            )
            classify = self.rules.verdict
            first_fetch = not feed.has_succeeded

            def store(session: Session) -> None:
                stored = store_entries(session, feed.id or 0, entries, now, classify, first_fetch)
                if stored.new:
                    changes["last_new_item_at"] = now
                finish_feed(session, feed.id or 0, self.owner, changes)
                if outcome is not None:
                    outcome.new = len(stored.new)
                    outcome.updated = stored.updated
                    outcome.relevant = sum(1 for i in stored.new if i.tier != "ignore")

            await self._in_db(store)
        else:
            await self._in_db(lambda s: finish_feed(s, feed.id or 0, self.owner, changes))

    def close(self) -> None:
        self._db.shutdown(wait=True)
