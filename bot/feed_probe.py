"""A quick look at a newly added feed URL, so the admin learns at once whether it is a feed.

Advisory only: the feed stays added whatever the probe finds, and the regular poller (with its
retries and back-off) has the last word. Bounded to 10 s and a small body.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.fetch import fetch_feed, make_client
from bot.parse import FeedParseError, parse_feed

PROBE_TIMEOUT = 10.0
PROBE_MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str  # plain text: the feed's title and size, or why it could not be confirmed


async def probe_feed(url: str, user_agent: str, timeout: float = PROBE_TIMEOUT) -> ProbeResult:
    """Fetch and parse once; never raises."""
    async with make_client(user_agent, connect_timeout=timeout, read_timeout=timeout) as client:
        result = await fetch_feed(client, url, max_bytes=PROBE_MAX_BYTES, deadline=timeout)
    if result.error is not None or result.body is None:
        return ProbeResult(False, result.error or "no answer")
    try:
        parsed = await asyncio.to_thread(
            parse_feed, result.body, result.headers, url, PROBE_MAX_BYTES
        )
    except FeedParseError as err:
        return ProbeResult(False, str(err))
    title = f"“{parsed.title}”, " if parsed.title else ""
    moved = f"; it redirects permanently to {result.moved_to}" if result.moved_to else ""
    return ProbeResult(True, f"{title}{len(parsed.entries)} entries{moved}")
