"""A feed's first fetch: the feeds an installation starts with show the last two days' news
(so a first run has something to show), a feed added later imports its backlog silently
(subscribers are not flooded), and either way what it publishes next is news."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlmodel import Session

from bot.config import load_settings
from storage.db import make_engine
from storage.models import Feed
from storage.timeutil import utcnow
from tests.conftest import write_feeds
from tests.feed_server import FeedServer, Route, rfc822_ago, rss
from tests.test_poll import RELEVANT, poll, stored_items

LATER = {
    **RELEVANT,
    "guid": "icj-later",
    "link": "http://news.example/icj-later",
    "title": "ICJ sets date for hearing on Syria's compliance with the torture convention",
    "pubDate": rfc822_ago(hours=1),
}


def test_new_installation_alerts_recent_items_but_a_feed_added_later_is_silent(
    workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/start.xml"] = Route(rss([RELEVANT]))
    feeds = [{"name": "Starting feed", "url": feed_server.url("/start.xml")}]
    write_feeds(workdir, feeds)
    poll()
    (first,) = stored_items()
    assert first.tier == "alert" and not first.backfill  # recent news on a new installation

    # The installation has been running for a day when an admin adds a feed.
    engine = make_engine(load_settings().database_url)
    with Session(engine) as session:
        session.exec(update(Feed).values(created_at=utcnow() - timedelta(days=1)))  # type: ignore[call-overload]
        session.commit()
    recent = {**RELEVANT, "guid": "b-1", "link": "http://news.example/b-1"}
    recent["title"] = "Dutch prosecutors charge Syrian ex-officer with torture in Damascus prison"
    feed_server.routes["/added.xml"] = Route(rss([recent]))
    write_feeds(workdir, [*feeds, {"name": "Added feed", "url": feed_server.url("/added.xml")}])
    poll()
    added = {i.title: i for i in stored_items()}[recent["title"]]
    assert added.tier == "alert" and added.backfill, "a later feed's first fetch is silent"

    feed_server.routes["/added.xml"] = Route(rss([LATER, recent]))
    poll()
    later = {i.title: i for i in stored_items()}[LATER["title"]]
    assert later.tier == "alert" and not later.backfill, "what it publishes next alerts"
    engine.dispose()
