"""Which instance talks to Telegram: one leader receives updates and drains the outbox.

Telegram allows one getUpdates consumer per bot, and per-chat pacing only holds if one process
sends. On PostgreSQL the leader holds a session-level advisory lock on a dedicated connection:
if that process dies, PostgreSQL drops the connection and the lock with it, and a standby takes
over at its next try. SQLite is single-instance, so its only process always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

# Two-key advisory lock: a constant ("wbld") and the schema, so deployments (and test runs)
# in different schemas of one database do not contend.
LOCK_CLASS = 0x77626C64
LOCK_ARGS = "CAST(:c AS int), hashtext(current_schema())"
RETRY_SECONDS = 10.0
CHECK_SECONDS = 10.0


class Leadership:
    """Acquire, keep and notice the loss of the Telegram lead."""

    def __init__(
        self,
        engine: Engine,
        retry_seconds: float = RETRY_SECONDS,
        check_seconds: float = CHECK_SECONDS,
    ) -> None:
        self.engine = engine
        self.retry_seconds = retry_seconds
        self.check_seconds = check_seconds
        self.shared = engine.dialect.name == "postgresql"
        self._conn: Connection | None = None

    def _try_lock(self) -> bool:
        if self._conn is None:
            self._conn = self.engine.connect()
        got = bool(
            self._conn.execute(
                text(f"SELECT pg_try_advisory_lock({LOCK_ARGS})"), {"c": LOCK_CLASS}
            ).scalar()
        )
        self._conn.commit()
        if not got:
            self._close()
        return got

    def _still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            held = self._conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND pid = pg_backend_pid() AND granted AND objsubid = 2 "
                    "AND classid::bigint = :c AND objid::bigint = "
                    "(hashtext(current_schema())::bigint & 4294967295)"
                ),
                {"c": LOCK_CLASS},
            ).scalar()
            self._conn.commit()
            return bool(held)
        except Exception:
            self._close()
            return False

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until this instance leads (True) or `stop` is set (False)."""
        if not self.shared:
            return True
        announced = False
        while not stop.is_set():
            try:
                if await asyncio.to_thread(self._try_lock):
                    log.info("leader: this instance now receives Telegram updates and sends")
                    return True
                if not announced:
                    log.info("leader: another instance leads; standing by to take over")
                    announced = True
            except Exception as err:
                log.warning("leader: cannot reach the database for the lead lock (%s)", err)
                self._close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.retry_seconds)
        return False

    async def watch(self, stop: asyncio.Event, lost: asyncio.Event) -> None:
        """Set `lost` if the lock's connection goes away, so this instance stops sending."""
        if not self.shared:
            return
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.check_seconds)
            if stop.is_set():
                return
            if not await asyncio.to_thread(self._still_held):
                log.error("leader: lost the lead lock (database connection dropped); standing by")
                lost.set()
                return

    async def release(self) -> None:
        if self._conn is None:
            return

        def unlock() -> None:
            assert self._conn is not None
            with contextlib.suppress(Exception):
                self._conn.execute(
                    text(f"SELECT pg_advisory_unlock({LOCK_ARGS})"), {"c": LOCK_CLASS}
                )
                self._conn.commit()
            self._close()

        await asyncio.to_thread(unlock)
