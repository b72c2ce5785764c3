"""One polling pass: claim due feeds, fetch them concurrently, parse, store, classify."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import schedule
from bot.fetch import FetchResult, fetch_feed, make_client
from bot.ingest import to_new_entries
from bot.parse import FeedParseError, ParsedFeed, parse_feed
from bot.parse_pool import MIN_BODY_BYTES, ParsePool, ParseTask, Prepared, WorkerCrashed
from bot.relevance import RulesHolder
from storage.db import session_scope
from storage.feeds import (
    added_after_install,
    claim_due_feeds,
    finish_feed,
    finish_feeds,
    next_due_at,
    release_leases,
)
from storage.items import Classify, Verdict, store_entries
from storage.models import Feed
from storage.timeutil import as_utc, utcnow

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
    seconds: float = 0.0  # claim to last write, for `poll --json` and the benchmarks

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
            "seconds": round(self.seconds, 3),
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
        fetch_deadline: float = 90.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        parse_workers: int = 0,
    ) -> None:
        self.engine = engine
        self.rules = rules
        self.user_agent = user_agent
        self.concurrency = concurrency
        self.per_host = per_host
        self.max_body_bytes = max_body_bytes
        self.owner = owner or worker_id()
        self.fetch_deadline = fetch_deadline
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._claimed_at = utcnow()
        self._finishes: list[tuple[int, dict[str, Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="watchbot-db")
        self._hosts: dict[str, asyncio.Semaphore] = {}
        # Big bodies are parsed and classified in worker processes (0: all in-process).
        self.parse_pool = ParsePool(parse_workers)

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
        started = time.perf_counter()
        now = utcnow()
        # Next checks count from this claim, not from when each fetch ended: with a 60 s
        # interval and 30 s ticks, counting from the end made every period 90 s.
        self._claimed_at = now
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
        client_cm = make_client(
            self.user_agent,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_connections=self.concurrency * 2,
        )
        async with client_cm as client:

            async def one(feed: Feed) -> None:
                async with gate, self._host_gate(feed.url):
                    outcome = await self._poll_feed(client, feed)
                summary.outcomes.append(outcome)
                if on_feed_done:
                    on_feed_done(outcome)

            try:
                await asyncio.gather(*(one(f) for f in feeds))
            finally:
                await self._drain_finishes()
                await self._in_db(lambda s: release_leases(s, self.owner))
        summary.seconds = time.perf_counter() - started
        return summary

    def _host_gate(self, url: str) -> asyncio.Semaphore:
        host = (urlsplit(url).hostname or "").lower()
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(self.per_host)
        return self._hosts[host]

    async def _poll_feed(self, client: aiohttp.ClientSession, feed: Feed) -> FeedOutcome:
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
                deadline=self.fetch_deadline,
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
            prepared: Prepared | None = None
            try:
                if self._use_pool(body):
                    version, topics_blob = self.rules.for_workers
                    prepared = await self.parse_pool.run(
                        ParseTask(
                            body,
                            res.headers,
                            res.final_url or feed.url,
                            self.max_body_bytes,
                            feed.language,
                            version,
                            topics_blob,
                        )
                    )
                    parsed = prepared.parsed
                else:
                    parsed = await asyncio.to_thread(
                        parse_feed,
                        body,
                        res.headers,
                        res.final_url or feed.url,
                        self.max_body_bytes,
                    )
            except (FeedParseError, WorkerCrashed) as exc:
                return await self._fail(feed, outcome, str(exc), res)
            outcome.status = "fetched"
            await self._succeed(feed, res, body_hash, parsed, unconditional, outcome, prepared)
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
                now,
                interval,
                failures,
                retry_after,  # from now: Retry-After must be honoured
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
        self._finish_later(feed.id or 0, changes)
        return outcome

    async def _succeed(
        self,
        feed: Feed,
        res: FetchResult,
        body_hash: str | None,
        parsed: ParsedFeed | None,
        unconditional: bool,
        outcome: FeedOutcome | None = None,
        prepared: Prepared | None = None,
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
            "next_check_at": schedule.next_check_after_success(
                self._claimed_at, interval, server_delay
            ),
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
            if prepared is not None:
                entries = prepared.entries
                classify = self._lookup(prepared)
            else:
                entries = to_new_entries(
                    parsed.entries, res.final_url or feed.url, feed.language or parsed.language
                )
                classify = self.rules.verdict
            first_fetch = not feed.has_succeeded

            def store(session: Session) -> None:
                silent = first_fetch and added_after_install(session, feed.id or 0)
                stored = store_entries(
                    session, feed.id or 0, entries, now, classify, first_fetch, silent
                )
                if stored.new:
                    changes["last_new_item_at"] = now
                finish_feed(session, feed.id or 0, self.owner, changes)
                if outcome is not None:
                    outcome.new = len(stored.new)
                    outcome.updated = stored.updated
                    outcome.relevant = sum(1 for i in stored.new if i.tier != "ignore")

            await self._in_db(store)
        else:
            self._finish_later(feed.id or 0, changes)

    def _use_pool(self, body: bytes) -> bool:
        """Worth a worker: a big body, and the workers not already behind (then this process
        parses it itself, so both cores work)."""
        pool = self.parse_pool
        return pool.enabled and len(body) >= MIN_BODY_BYTES and not pool.busy()

    def _lookup(self, prepared: Prepared) -> Classify:
        """The worker's verdicts as a classify callable; rules reloaded since the worker
        classified (or an entry it did not see) are classified here, with the rules now in
        force."""
        verdicts: dict[tuple[str, str, str | None], Verdict] = {
            (e.title, e.summary, e.language): v
            for e, v in zip(prepared.entries, prepared.verdicts, strict=True)
        }
        rules = self.rules

        def classify(title: str, text: str, lang: str | None) -> Verdict:
            found = verdicts.get((title, text, lang))
            if found is None or rules.for_workers[0] != prepared.rules_version:
                return rules.verdict(title, text, lang)
            return found

        return classify

    def _finish_later(self, feed_id: int, changes: dict[str, Any]) -> None:
        """Queue an outcome that stores no items; queued outcomes are written together, one
        transaction for all that arrived while the previous write ran (a 304 is cheap to
        fetch, and a commit per feed made the warm pass DB-bound)."""
        self._finishes.append((feed_id, changes))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_finishes())

    async def _flush_finishes(self) -> None:
        while self._finishes:
            batch, self._finishes = self._finishes, []
            try:
                await self._in_db(functools.partial(self._write_finishes, batch))
            except Exception:
                # The leases stay and expire, so these feeds are polled again: nothing lost.
                log.exception("recording %d feed outcomes failed", len(batch))

    def _write_finishes(self, batch: list[tuple[int, dict[str, Any]]], session: Session) -> None:
        finish_feeds(session, self.owner, batch)

    async def _drain_finishes(self) -> None:
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def seconds_until_due(self) -> float | None:
        """Seconds until the next feed is due (0 if one is), None if nothing is pollable."""
        due = await self._in_db(next_due_at)
        if due is None:
            return None
        return max(0.0, (as_utc(due) - utcnow()).total_seconds())

    def close(self) -> None:
        self.parse_pool.shutdown()
        self._db.shutdown(wait=True)
