"""When an address's digest is due: its last scheduled moment, in its owner's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from storage.timeutil import as_utc


def zone(name: str) -> ZoneInfo:
    """The named zone, or UTC if this machine does not know it."""
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def parse_hhmm(value: str) -> time:
    try:
        hour, minute = (int(x) for x in value.split(":", 1))
        return time(hour, minute)
    except ValueError:
        return time(8, 0)


def last_slot(tz_name: str, at: time, now: datetime) -> tuple[datetime, str]:
    """The latest digest moment at or before `now` (as UTC), and its period (the local date)."""
    tz = zone(tz_name)
    local_now = as_utc(now).astimezone(tz)
    slot = datetime.combine(local_now.date(), at, tzinfo=tz)
    if slot > local_now:
        slot = datetime.combine(local_now.date() - timedelta(days=1), at, tzinfo=tz)
    return slot.astimezone(UTC), slot.date().isoformat()
