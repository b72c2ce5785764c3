"""The periodic e-mail job `watchbot run` schedules: queue the digests that are due, then
drain the e-mail outbox. One clear log sentence when the SMTP server takes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.email.delivery import Drainer, DrainSummary, Policy
from bot.email.digest import due_ids, enqueue_digest
from bot.email.links import Links
from storage.db import session_scope
from storage.timeutil import utcnow

log = logging.getLogger(__name__)

JOB_ID = "email"
EVERY_SECONDS = 60


class EmailService:
    """Stateless apart from remembering whether the server was down, to log changes once."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        topics: Mapping[str, str] | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.topics = dict(topics or {})
        self.policy = policy or Policy()
        self._down = False

    def enqueue_due(self, now: datetime | None = None) -> int:
        """Queue every digest whose time has come (each address in its own transaction)."""
        now = now or utcnow()
        with session_scope(self.engine) as session:
            ids = due_ids(session)
            links = Links.load(session, self.settings)
        queued = 0
        for sub_id in ids:
            try:
                with session_scope(self.engine) as session:
                    queued += enqueue_digest(
                        session, sub_id, self.settings, links, self.topics, now
                    )
            except Exception:
                log.exception("email: the digest for address #%d could not be queued", sub_id)
        return queued

    async def drain(self) -> DrainSummary:
        summary = await Drainer(self.settings, self.engine, self.policy).drain()
        if summary.unavailable is not None:
            level = logging.INFO if self._down else logging.WARNING
            log.log(
                level,
                "email: %s; %d e-mail(s) wait and will be sent when it works again",
                summary.unavailable,
                summary.waiting,
            )
            self._down = True
        elif self._down and summary.sent:
            log.info("email: the SMTP server takes e-mail again")
            self._down = False
        if summary.sent or summary.failed:
            log.info("email: %d sent, %d given up", summary.sent, summary.failed)
        return summary

    async def tick(self) -> None:
        """The scheduler job; never raises (the next run tries again)."""
        try:
            queued = await asyncio.to_thread(self.enqueue_due)
            if queued:
                log.info("email: %d digest e-mail(s) queued", queued)
            await self.drain()
        except Exception:
            log.exception("email: the e-mail job failed; the next run tries again")
