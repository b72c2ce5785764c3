"""Polling decisions, tested without network or database."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from bot import schedule

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_success_waits_about_one_interval() -> None:
    rng = random.Random(1)
    for _ in range(50):
        wait = schedule.next_check_after_success(NOW, HOUR, rng=rng) - NOW
        assert timedelta(minutes=54) <= wait <= timedelta(minutes=66)


def test_server_cache_hint_stretches_but_is_capped() -> None:
    rng = random.Random(1)
    assert schedule.next_check_after_success(NOW, HOUR, timedelta(hours=3), rng) - NOW == timedelta(
        hours=3
    )
    capped = schedule.next_check_after_success(NOW, HOUR, timedelta(days=30), rng) - NOW
    assert capped == schedule.MAX_CACHE_DELAY
    # A shorter hint never makes us poll faster than the interval.
    assert schedule.next_check_after_success(
        NOW, HOUR, timedelta(minutes=1), rng
    ) - NOW > timedelta(minutes=50)


def test_backoff_grows_and_caps_at_a_day() -> None:
    waits = [schedule.backoff(HOUR, n) for n in range(0, 12)]
    assert waits[0] == HOUR and waits[1] == HOUR and waits[2] == 2 * HOUR and waits[3] == 4 * HOUR
    assert all(a <= b for a, b in itertools.pairwise(waits))
    assert waits[-1] == timedelta(days=1)


def test_retry_after_is_honoured_within_cap() -> None:
    rng = random.Random(1)
    at = schedule.next_check_after_failure(NOW, timedelta(minutes=15), 1, timedelta(hours=5), rng)
    assert at - NOW == timedelta(hours=5)
    at = schedule.next_check_after_failure(NOW, timedelta(minutes=15), 1, timedelta(days=9), rng)
    assert at - NOW == schedule.MAX_SERVER_DELAY


def test_parse_retry_after_seconds_and_dates() -> None:
    assert schedule.parse_retry_after("120", NOW) == timedelta(seconds=120)
    assert schedule.parse_retry_after("Mon, 23 Nov 2026 13:00:00 GMT", NOW) == HOUR
    assert schedule.parse_retry_after("soon", NOW) is None
    assert schedule.parse_retry_after(None, NOW) is None


def test_cache_delay_reads_max_age_and_ttl() -> None:
    assert schedule.cache_delay({"cache-control": "public, max-age=7200"}, None) == 2 * HOUR
    assert schedule.cache_delay({}, 90) == timedelta(minutes=90)
    assert schedule.cache_delay({"cache-control": "no-cache"}, None) is None


def test_due_and_daily_unconditional_fetch() -> None:
    assert schedule.is_due(None, NOW)
    assert schedule.is_due(NOW, NOW) and not schedule.is_due(NOW + HOUR, NOW)
    assert schedule.wants_unconditional(None, NOW)
    assert not schedule.wants_unconditional(NOW - HOUR, NOW)
    assert schedule.wants_unconditional(NOW - timedelta(days=1, minutes=1), NOW)
