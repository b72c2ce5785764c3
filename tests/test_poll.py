"""Polling end to end over real HTTP on 127.0.0.1: store once, conditional GETs, failures."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import Session, select

from bot.config import load_settings
from bot.poll_once import poll_once
from bot.poller import PollSummary
from storage.db import make_engine
from storage.models import Feed, Item
from tests.conftest import write_feeds
from tests.feed_server import FeedServer, Route, rfc822_ago, rss

RELEVANT = {
    "title": "World Court hears Canada and the Netherlands against Syria over torture",
    "link": "http://news.example/icj-syria-torture",
    "guid": "icj-1",
    "description": "Judges at the International Court of Justice heard arguments that Syria "
    "breached the Convention against Torture in its detention centres.",
    "pubDate": rfc822_ago(hours=4),
}
OTHER = {
    "title": "Local football club wins the cup",
    "link": "http://news.example/football",
    "guid": "fb-1",
    "description": "A late goal decided the final.",
    "pubDate": rfc822_ago(hours=5),
}


def poll() -> PollSummary:
    return asyncio.run(poll_once(load_settings(), everything=True, show_progress=False))


def stored_items() -> list[Item]:
    engine = make_engine(load_settings().database_url)
    with Session(engine) as s:
        return list(s.exec(select(Item).order_by(Item.id)).all())


def feed_rows() -> dict[str, Feed]:
    engine = make_engine(load_settings().database_url)
    with Session(engine) as s:
        return {f.name: f for f in s.exec(select(Feed)).all()}


def test_items_stored_once_and_second_poll_is_conditional(
    workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/a.xml"] = Route(
        rss([RELEVANT, OTHER]), etag='"v1"', last_modified="Mon, 23 Nov 2026 08:00:00 GMT"
    )
    write_feeds(workdir, [{"name": "A", "url": feed_server.url("/a.xml")}])

    first = poll()
    assert first.count("fetched") == 1 and first.new_items == 2
    second = poll()
    assert second.count("not_modified") == 1 and second.new_items == 0

    items = stored_items()
    assert [i.title for i in items] == [RELEVANT["title"], OTHER["title"]]
    hdrs = feed_server.requests_for("/a.xml")
    assert "if-none-match" not in hdrs[0]
    assert hdrs[1]["if-none-match"] == '"v1"'
    assert hdrs[1]["if-modified-since"] == "Mon, 23 Nov 2026 08:00:00 GMT"
    assert "watchbot" in hdrs[0]["user-agent"]


def test_relevance_is_stored_with_evidence(workdir: Path, feed_server: FeedServer) -> None:
    feed_server.routes["/a.xml"] = Route(rss([RELEVANT, OTHER]))
    write_feeds(workdir, [{"name": "A", "url": feed_server.url("/a.xml")}])
    poll()
    by_title = {i.title: i for i in stored_items()}
    hit, miss = by_title[RELEVANT["title"]], by_title[OTHER["title"]]
    assert hit.tier in ("alert", "digest") and hit.score > miss.score
    assert hit.topics and hit.matches and hit.explanation
    assert miss.tier == "ignore"


def test_unchanged_body_without_validators_stores_nothing_new(
    workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/a.xml"] = Route(rss([RELEVANT, OTHER]))
    write_feeds(workdir, [{"name": "A", "url": feed_server.url("/a.xml")}])
    poll()
    again = poll()
    assert again.new_items == 0
    assert len(stored_items()) == 2


def test_changed_entry_updates_item_without_new_row(workdir: Path, feed_server: FeedServer) -> None:
    feed_server.routes["/a.xml"] = Route(rss([RELEVANT]))
    write_feeds(workdir, [{"name": "A", "url": feed_server.url("/a.xml")}])
    poll()
    edited = {**RELEVANT, "title": RELEVANT["title"] + " (updated)"}
    feed_server.routes["/a.xml"] = Route(rss([edited]))
    summary = poll()
    assert summary.new_items == 0
    items = stored_items()
    assert len(items) == 1 and items[0].title.endswith("(updated)")
    assert items[0].update_count == 1


def test_same_article_in_two_feeds_is_stored_once(workdir: Path, feed_server: FeedServer) -> None:
    copy = {**RELEVANT, "guid": "other-guid", "link": RELEVANT["link"] + "?utm_source=rss&fbclid=x"}
    feed_server.routes["/a.xml"] = Route(rss([RELEVANT]))
    feed_server.routes["/b.xml"] = Route(rss([copy]))
    write_feeds(
        workdir,
        [
            {"name": "A", "url": feed_server.url("/a.xml")},
            {"name": "B", "url": feed_server.url("/b.xml")},
        ],
    )
    summary = poll()
    assert summary.new_items == 1
    assert len(stored_items()) == 1


def test_broken_feeds_are_recorded_and_healthy_ones_still_polled(
    workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/good.xml"] = Route(rss([RELEVANT]))
    feed_server.routes["/500.xml"] = Route(b"oops", status=500)
    feed_server.routes["/html.xml"] = Route(
        b"<!DOCTYPE html><html><body>Access denied</body></html>",
        headers={"Content-Type": "text/html"},
    )
    feed_server.routes["/gone.xml"] = Route(b"", status=410)
    write_feeds(
        workdir,
        [
            {"name": "Good", "url": feed_server.url("/good.xml")},
            {"name": "Broken", "url": feed_server.url("/500.xml")},
            {"name": "Html", "url": feed_server.url("/html.xml")},
            {"name": "Gone", "url": feed_server.url("/gone.xml")},
            {"name": "Missing", "url": feed_server.url("/nope.xml")},
            {"name": "Closed port", "url": "http://127.0.0.1:9/feed.xml"},
        ],
    )
    summary = poll()
    assert summary.count("fetched") == 1 and summary.count("failed") == 5
    feeds = feed_rows()
    assert feeds["Good"].failure_count == 0 and feeds["Good"].last_success_at is not None
    assert "500" in (feeds["Broken"].last_error or "")
    assert "HTML page" in (feeds["Html"].last_error or "")
    assert "404" in (feeds["Missing"].last_error or "")
    assert "connect" in (feeds["Closed port"].last_error or "")
    assert feeds["Gone"].disabled_reason and "410" in feeds["Gone"].disabled_reason
    for name in ("Broken", "Html", "Missing"):
        f = feeds[name]
        assert f.failure_count == 1 and f.last_checked_at is not None
        assert f.next_check_at > f.last_checked_at

    # The gone feed is not polled again; the others are retried, not given up on.
    feed_server.routes["/500.xml"] = Route(rss([OTHER]))
    summary = poll()
    assert "Gone" not in {o.name for o in summary.outcomes}
    assert feed_rows()["Broken"].failure_count == 0


def test_permanent_redirect_is_followed_and_reported(
    workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/old.xml"] = Route(status=301, headers={"Location": "/new.xml"})
    feed_server.routes["/new.xml"] = Route(rss([RELEVANT]))
    write_feeds(workdir, [{"name": "Moved", "url": feed_server.url("/old.xml")}])
    summary = poll()
    assert summary.new_items == 1
    assert feed_rows()["Moved"].moved_to == feed_server.url("/new.xml")


def test_entity_bomb_is_defused(workdir: Path, feed_server: FeedServer) -> None:
    bomb = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY big "' + b"x" * 10000 + b'">]>\n'
        b'<rss version="2.0"><channel><title>t</title>'
        + b"<item><title>&big;&big;&big;</title><link>http://e.example/1</link></item>" * 2000
        + b"</channel></rss>"
    )
    feed_server.routes["/bomb.xml"] = Route(bomb)
    write_feeds(workdir, [{"name": "Bomb", "url": feed_server.url("/bomb.xml")}])
    poll()
    items = stored_items()
    assert all(len(i.title) < 1000 for i in items)
    assert "entity" in (feed_rows()["Bomb"].parse_warning or "")


# --- Leases and batched bookkeeping (storage/feeds.py) -------------------------------------


def _feeds_in_db(n: int) -> None:
    from datetime import timedelta

    from storage.db import create_schema, session_scope
    from storage.timeutil import utcnow

    engine = make_engine(load_settings().database_url)
    create_schema(engine)
    with session_scope(engine) as s:
        for i in range(n):
            s.add(Feed(url=f"http://lease.example/{i}", name=f"f{i}", next_check_at=utcnow()))
        s.add(  # not due for an hour: never claimed without `everything`
            Feed(
                url="http://lease.example/later",
                name="later",
                next_check_at=utcnow() + timedelta(hours=1),
            )
        )


def test_two_claimers_never_share_a_feed(workdir: Path) -> None:
    from datetime import timedelta

    from storage.db import session_scope
    from storage.feeds import claim_due_feeds
    from storage.timeutil import utcnow

    _feeds_in_db(30)
    engine = make_engine(load_settings().database_url)
    now, lease = utcnow(), timedelta(minutes=10)
    with session_scope(engine) as s1, session_scope(engine) as s2:
        first = claim_due_feeds(s1, now, "one", lease, 20)
        second = claim_due_feeds(s2, now, "two", lease, 100)
    ids1, ids2 = {f.id for f in first}, {f.id for f in second}
    assert len(ids1) == 20 and len(ids2) == 10 and not ids1 & ids2
    assert all(f.lease_owner == "one" for f in first)
    assert "later" not in {f.name for f in first + second}


def test_lease_of_a_dead_instance_expires(workdir: Path) -> None:
    from datetime import timedelta

    from storage.db import session_scope
    from storage.feeds import claim_due_feeds
    from storage.timeutil import utcnow

    _feeds_in_db(3)
    engine = make_engine(load_settings().database_url)
    lease = timedelta(minutes=10)
    start = utcnow()
    with session_scope(engine) as s:
        assert len(claim_due_feeds(s, start, "dead", lease, 100)) == 3
    with session_scope(engine) as s:  # still leased a minute later: nobody else gets it
        assert claim_due_feeds(s, start + timedelta(minutes=1), "alive", lease, 100) == []
    with session_scope(engine) as s:  # the dead instance never finished: its lease runs out
        taken = claim_due_feeds(s, start + timedelta(minutes=11), "alive", lease, 100)
    assert len(taken) == 3 and {f.lease_owner for f in taken} == {"alive"}


def test_batched_finish_only_writes_feeds_still_leased(workdir: Path) -> None:
    from datetime import timedelta

    from storage.db import session_scope
    from storage.feeds import claim_due_feeds, finish_feeds
    from storage.timeutil import utcnow

    _feeds_in_db(2)
    engine = make_engine(load_settings().database_url)
    now = utcnow()
    with session_scope(engine) as s:
        mine = claim_due_feeds(s, now, "me", timedelta(minutes=10), 100)
    a, b = mine[0].id or 0, mine[1].id or 0
    with session_scope(engine) as s:  # b's lease expired and another worker took it
        s.exec(select(Feed).where(Feed.id == b)).one().lease_owner = "other"
    later = now + timedelta(hours=1)
    with session_scope(engine) as s:
        finish_feeds(
            s,
            "me",
            [
                (a, {"last_status": 304, "next_check_at": later, "etag": '"x"'}),
                (b, {"last_status": 304, "next_check_at": later}),
            ],
        )
    rows = feed_rows()
    done = next(f for f in rows.values() if f.id == a)
    other = next(f for f in rows.values() if f.id == b)
    assert done.last_status == 304 and done.etag == '"x"' and done.lease_until is None
    assert other.lease_owner == "other" and other.last_status is None


def test_poll_json_reports_the_pass_duration(workdir: Path, feed_server: FeedServer) -> None:
    feed_server.routes["/a.xml"] = Route(rss([RELEVANT]), etag='"v1"')
    write_feeds(workdir, [{"name": "A", "url": feed_server.url("/a.xml")}])
    first, second = poll(), poll()
    assert first.as_dict()["seconds"] >= 0 and second.count("not_modified") == 1
    assert feed_rows()["A"].lease_owner is None  # the batched 304 bookkeeping released it
