"""Picking up feeds.yaml edits while running; a broken edit keeps the last good version."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.engine import Engine

from bot.feeds_file import FeedsConfig, FeedsFileError, load_feeds_file
from bot.relevance import RulesHolder
from storage.db import session_scope
from storage.feeds import SyncReport, sync_feeds
from storage.timeutil import utcnow

log = logging.getLogger(__name__)


def apply_config(engine: Engine, config: FeedsConfig) -> SyncReport:
    with session_scope(engine) as session:
        return sync_feeds(session, config.feeds, utcnow())


class FeedsWatcher:
    """Checks the file's modification time cheaply; reparses only when it changed."""

    def __init__(self, path: Path, engine: Engine, rules: RulesHolder, config: FeedsConfig):
        self.path = path
        self.engine = engine
        self.rules = rules
        self.config = config
        self._stamp = self._mtime()
        self._reported: str | None = None

    def _mtime(self) -> tuple[int, int, int] | None:
        """mtime alone misses two saves within one clock tick; an atomic replace changes the
        inode and most edits change the size."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def check(self) -> bool:
        """Reload if the file changed; True when a new version went into force."""
        stamp = self._mtime()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            config = load_feeds_file(self.path)
        except FeedsFileError as err:
            if str(err) != self._reported:
                log.error("%s; the last good version stays in force", err)
                self._reported = str(err)
            return False
        self._reported = None
        if config.digest == self.config.digest:
            return False
        self.rules.replace(config.topics)
        report = apply_config(self.engine, config)
        self.config = config
        log.info(
            "%s reloaded: %d feeds (%d added, %d changed, %d removed)",
            self.path,
            len(config.feeds),
            len(report.added),
            len(report.changed),
            len(report.removed),
        )
        return True
