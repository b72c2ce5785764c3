"""Polling decisions as pure functions: when a feed is due, how long to wait after each outcome.

Kept apart from I/O (like reader's update Decider) so every rule is tested without a network.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from storage.timeutil import as_utc

JITTER_FRACTION = 0.1
MAX_BACKOFF = timedelta(days=1)
MAX_SERVER_DELAY = timedelta(days=1)
MAX_CACHE_DELAY = timedelta(hours=6)
UNCONDITIONAL_EVERY = timedelta(days=1)


def jittered(interval: timedelta, rng: random.Random | None = None) -> timedelta:
    """Spread feeds over time so a thousand feeds added at once do not poll in one burst."""
    r = (rng or random).uniform(-JITTER_FRACTION, JITTER_FRACTION)
    return interval * (1 + r)


def next_check_after_success(
    now: datetime,
    interval: timedelta,
    server_delay: timedelta | None = None,
    rng: random.Random | None = None,
) -> datetime:
    """Next poll: the feed's interval, stretched by what the server asked for (within caps)."""
    wait = jittered(interval, rng)
    if server_delay is not None and server_delay > wait:
        wait = min(server_delay, MAX_CACHE_DELAY)
    return now + wait


def backoff(interval: timedelta, failures: int) -> timedelta:
    """Doubling wait after consecutive failures, capped at a day: a feed is never given up on."""
    if failures <= 0:
        return interval
    grown: timedelta = interval * (2 ** min(failures - 1, 16))
    return min(grown, max(MAX_BACKOFF, interval))


def next_check_after_failure(
    now: datetime,
    interval: timedelta,
    failures: int,
    retry_after: timedelta | None = None,
    rng: random.Random | None = None,
) -> datetime:
    wait = jittered(backoff(interval, failures), rng)
    if retry_after is not None:
        wait = max(wait, min(retry_after, MAX_SERVER_DELAY))
    return now + wait


def is_due(next_check_at: datetime | None, now: datetime) -> bool:
    return next_check_at is None or next_check_at <= now


def wants_unconditional(last_unconditional_at: datetime | None, now: datetime) -> bool:
    """Some servers send stale ETags (Media Cloud's finding): refetch in full once a day."""
    return last_unconditional_at is None or now - last_unconditional_at >= UNCONDITIONAL_EVERY


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    delta = as_utc(when) - now
    return delta if delta > timedelta(0) else timedelta(0)


_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


def cache_delay(headers: Mapping[str, str], ttl_minutes: int | None) -> timedelta | None:
    """The longest of Cache-Control max-age and RSS <ttl>; no-store/no-cache mean no hint."""
    delays: list[timedelta] = []
    cc = headers.get("cache-control", "")
    if m := _MAX_AGE.search(cc):
        delays.append(timedelta(seconds=int(m.group(1))))
    if ttl_minutes and ttl_minutes > 0:
        delays.append(timedelta(minutes=ttl_minutes))
    return max(delays) if delays else None
