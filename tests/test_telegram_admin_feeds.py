"""/addfeed, /removefeed, /pausefeed and /resumefeed as an admin meets them: PTB polling the
fake Bot API, feeds.yaml edited on disk, the service's FeedsWatcher and poller taking it from
there (all over 127.0.0.1, on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.dispatch import dispatch_pending
from bot.feeds_file import load_feeds_file
from bot.poller import Poller
from bot.relevance import RulesHolder
from bot.reload import FeedsWatcher, apply_config
from bot.telegram.notifier import TelegramNotifier
from storage.delivery import OutboxMessage
from storage.models import Feed, Item
from storage.timeutil import utcnow
from tests.conftest import topics_section
from tests.fake_telegram import ADMIN_ID, USER_ID, FakeBotAPI, fake_bot_api, make_db
from tests.feed_server import FeedServer, Route, rss
from tests.test_telegram_bot import running_bot, tap

__all__ = ["fake_bot_api"]

OTHER = {
    "title": "Local football club wins the cup",
    "guid": "fb-1",
    "link": "http://news.example/football",
    "description": "A late goal decided it.",
}


def head(server: FeedServer) -> str:
    return f"""\
# watchbot feeds (comments must survive bot edits)
feeds:
  # --- Primary ----------------------------------------------
  - name: UN News – Middle East   # the UN's regional feed
    url: {server.url("/un.xml")}
    language: en
    tier: primary
    tags: [un]
"""


@pytest.fixture
def feeds_file(tmp_path: Path, feed_server: FeedServer) -> Path:
    feed_server.routes["/un.xml"] = Route(rss([OTHER]))
    path = tmp_path / "feeds.yaml"
    path.write_text(head(feed_server) + "\n" + topics_section(), encoding="utf-8")
    return path


def watcher_for(path: Path, engine: Engine) -> FeedsWatcher:
    """What `watchbot run` sets up at start: the file's feeds in the database, and a watcher."""
    config = load_feeds_file(path)
    apply_config(engine, config)
    return FeedsWatcher(path, engine, RulesHolder(config.topics), config)


async def say(
    api: FakeBotAPI, text: str, user_id: int = ADMIN_ID, expect: int = 1
) -> list[dict[str, Any]]:
    """Type a command; return the bot's next `expect` messages in that chat."""
    before = len(api.messages_to(user_id))
    api.push_command(text, user_id=user_id)
    await api.await_for(lambda: len(api.messages_to(user_id)) >= before + expect)
    return api.messages_to(user_id)[before : before + expect]


def feed_row(engine: Engine, url: str) -> Feed | None:
    with Session(engine) as session:
        return session.exec(select(Feed).where(Feed.url == url)).first()


def story(n: int, age: timedelta, title: str | None = None) -> dict[str, str]:
    return {
        "title": title or f"ICJ orders Syria to stop torture in detention centres, ruling {n}",
        "link": f"http://news.example/icj-{n}",
        "guid": f"icj-{n}",
        "description": "The International Court of Justice ordered provisional measures "
        "against Syria under the Convention against Torture.",
        "pubDate": format_datetime(utcnow() - age, usegmt=True),
    }


async def test_admin_adds_a_feed_and_the_service_picks_it_up(
    fake_bot_api: FakeBotAPI, database_url: str, feed_server: FeedServer, feeds_file: Path
) -> None:
    engine = make_db(database_url)
    watcher = watcher_for(feeds_file, engine)
    before = feeds_file.read_text(encoding="utf-8")
    feed_server.routes["/justice.xml"] = Route(rss([OTHER], title="Justice Watch"))
    url = feed_server.url("/justice.xml")
    async with running_bot(fake_bot_api, engine, feeds_file=feeds_file):
        added, probe = await say(fake_bot_api, f"/addfeed {url} Justice Watch", expect=2)
    assert added["plain"].startswith(f"➕ Added Justice Watch ({url})")
    assert probe["plain"] == "🔎 Justice Watch looks like a feed: “Justice Watch”, 1 entries."
    entry = f"  - name: Justice Watch\n    url: {url}\n"
    assert feeds_file.read_text(encoding="utf-8") == before.replace("\n\n", "\n" + entry + "\n", 1)
    assert load_feeds_file(feeds_file).feeds[-1].name == "Justice Watch"

    assert feed_row(engine, url) is None  # the file changed; the database follows the watcher
    assert watcher.check()
    row = feed_row(engine, url)
    assert row is not None and row.name == "Justice Watch" and row.in_config and row.enabled


async def test_a_feed_that_does_not_answer_is_added_anyway(
    fake_bot_api: FakeBotAPI, database_url: str, feed_server: FeedServer, feeds_file: Path
) -> None:
    engine = make_db(database_url)
    url = feed_server.url("/missing.xml")
    async with running_bot(fake_bot_api, engine, feeds_file=feeds_file):
        added, probe = await say(fake_bot_api, f"/addfeed {url}", expect=2)
    assert "➕ Added 127.0.0.1" in added["plain"]
    assert probe["plain"].startswith(
        "⚠️ Could not confirm that 127.0.0.1 is a feed: the feed was not found"
    )
    assert "It stays added" in probe["plain"]
    assert load_feeds_file(feeds_file).feeds[-1].url == url


async def test_non_admins_are_refused_and_the_file_is_untouched(
    fake_bot_api: FakeBotAPI, database_url: str, feed_server: FeedServer, feeds_file: Path
) -> None:
    engine = make_db(database_url)
    before = feeds_file.read_bytes()
    async with running_bot(fake_bot_api, engine, feeds_file=feeds_file):
        for text in (
            f"/addfeed {feed_server.url('/x.xml')} Mine",
            "/removefeed UN News – Middle East",
            "/pausefeed UN News – Middle East",
            "/resumefeed UN News – Middle East",
        ):
            (refused,) = await say(fake_bot_api, text, user_id=USER_ID)
            assert "for the bot's administrators only" in refused["plain"]
        # An admin's pending confirmation cannot be tapped by someone else either.
        (question,) = await say(fake_bot_api, "/removefeed UN News – Middle East")
        answers = len(fake_bot_api.answers)
        data = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        fake_bot_api.push_callback(data, question, user_id=USER_ID)
        await fake_bot_api.await_for(lambda: len(fake_bot_api.answers) > answers)
    assert "administrators only" in fake_bot_api.answers[-1]["text"]
    assert feeds_file.read_bytes() == before


async def test_duplicates_and_bad_addresses_are_refused(
    fake_bot_api: FakeBotAPI, database_url: str, feed_server: FeedServer, feeds_file: Path
) -> None:
    engine = make_db(database_url)
    before = feeds_file.read_bytes()
    async with running_bot(fake_bot_api, engine, feeds_file=feeds_file):
        (dup,) = await say(fake_bot_api, f"/addfeed {feed_server.url('/un.xml')}/ Again")
        (bad,) = await say(fake_bot_api, "/addfeed javascript:alert(1)")
        (usage,) = await say(fake_bot_api, "/addfeed")
        (unknown,) = await say(fake_bot_api, "/pausefeed No Such Feed")
    assert dup["plain"].startswith("Nothing changed:")
    assert "already listed as “UN News – Middle East”" in dup["plain"]
    assert "must be a full http:// or https:// URL" in bad["plain"]
    assert usage["plain"] == "Usage: /addfeed URL [name]"
    assert "no feed has the name or URL “No Such Feed”" in unknown["plain"]
    assert feeds_file.read_bytes() == before


async def test_remove_asks_for_confirmation(
    fake_bot_api: FakeBotAPI, database_url: str, feed_server: FeedServer, feeds_file: Path
) -> None:
    engine = make_db(database_url)
    watcher = watcher_for(feeds_file, engine)
    before = feeds_file.read_text(encoding="utf-8")
    url = feed_server.url("/un.xml")
    async with running_bot(fake_bot_api, engine, feeds_file=feeds_file):
        (question,) = await say(fake_bot_api, "/removefeed un news – middle east")
        assert f"Remove UN News – Middle East ({url}) from the feeds file?" in question["plain"]
        cancelled = await tap(fake_bot_api, question, "Cancel", user_id=ADMIN_ID)
        assert cancelled["plain"] == "Nothing removed."
        assert feeds_file.read_text(encoding="utf-8") == before

        (question,) = await say(fake_bot_api, f"/removefeed {url}")
        done = await tap(fake_bot_api, question, "Remove", user_id=ADMIN_ID)
        assert done["plain"].startswith(f"🗑 Removed UN News – Middle East ({url}).")
        answers = len(fake_bot_api.answers)
        fake_bot_api.push_callback(
            question["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
            question,
            user_id=ADMIN_ID,
        )
        await fake_bot_api.await_for(lambda: len(fake_bot_api.answers) > answers)
        assert fake_bot_api.answers[-1]["text"] == "This removal is no longer pending."

    text = feeds_file.read_text(encoding="utf-8")
    entry = before[before.index("  - name:") : before.index("\n\n") + 1]
    assert text == before.replace(entry, "").replace("feeds:\n", "feeds: []\n", 1)
    assert load_feeds_file(feeds_file).feeds == ()
    assert "# --- Primary ---" in text and text.endswith(topics_section())
    assert watcher.check()
    row = feed_row(engine, url)
    assert row is not None and not row.in_config


async def test_pause_and_resume_toggle_enabled(
    fake_bot_api: FakeBotAPI, database_url: str, feed_server: FeedServer, feeds_file: Path
) -> None:
    engine = make_db(database_url)
    watcher = watcher_for(feeds_file, engine)
    before = feeds_file.read_text(encoding="utf-8")
    url = feed_server.url("/un.xml")
    async with running_bot(fake_bot_api, engine, feeds_file=feeds_file):
        (paused,) = await say(fake_bot_api, "/pausefeed UN News – Middle East")
        again = await say(fake_bot_api, f"/pausefeed {url}")
        assert paused["plain"].startswith("⏸ Paused UN News – Middle East")
        assert "is already paused; nothing changed" in again[0]["plain"]
        assert feeds_file.read_text(encoding="utf-8") == before.replace(
            "tags: [un]\n", "tags: [un]\n    enabled: false\n"
        )
        assert watcher.check()
        row = feed_row(engine, url)
        assert row is not None and not row.enabled

        (resumed,) = await say(fake_bot_api, f"/resumefeed {url}")
        assert resumed["plain"].startswith("▶️ Resumed UN News – Middle East")
    assert feeds_file.read_text(encoding="utf-8") == before.replace(
        "tags: [un]\n", "tags: [un]\n    enabled: true\n"
    )
    assert watcher.check()
    row = feed_row(engine, url)
    assert row is not None and row.enabled


async def test_hostile_names_and_urls_are_shown_as_text(
    fake_bot_api: FakeBotAPI, database_url: str, feed_server: FeedServer, feeds_file: Path
) -> None:
    engine = make_db(database_url)
    name = "<b>Evil</b> & <script>alert(1)</script> *x #y: z"
    url = feed_server.url("/new.xml?a=<i>&b=1")
    async with running_bot(fake_bot_api, engine, feeds_file=feeds_file):
        added, probe = await say(fake_bot_api, f"/addfeed {url} {name}", expect=2)
        (paused,) = await say(fake_bot_api, f"/pausefeed {name}")
        (question,) = await say(fake_bot_api, f"/removefeed {url}")
    # The fake Bot API parses HTML like Telegram: these arrived, so the markup was valid.
    assert added["plain"].startswith(f"➕ Added {name} ({url})")
    assert name in probe["plain"] and name in paused["plain"] and name in question["plain"]
    assert "&lt;b&gt;Evil&lt;/b&gt; &amp;" in added["text"]
    feed = load_feeds_file(feeds_file).feeds[-1]
    assert (feed.name, feed.url, feed.enabled) == (name, url, False)


async def test_a_new_feed_imports_its_backlog_silently_then_alerts(
    fake_bot_api: FakeBotAPI, database_url: str, feed_server: FeedServer, feeds_file: Path
) -> None:
    engine = make_db(database_url)
    watcher = watcher_for(feeds_file, engine)
    backlog = [story(n, timedelta(days=2 + n)) for n in range(1, 6)]
    feed_server.routes["/justice.xml"] = Route(rss(backlog))
    url = feed_server.url("/justice.xml")
    poller = Poller(engine, watcher.rules, user_agent="watchbot-test")
    try:
        async with running_bot(fake_bot_api, engine, feeds_file=feeds_file) as service:
            notifier = TelegramNotifier(service.settings)
            await say(fake_bot_api, "/start", user_id=USER_ID)
            await say(fake_bot_api, f"/addfeed {url} Justice Watch", expect=2)
            assert await asyncio.to_thread(watcher.check)

            await poller.poll(everything=True)  # the new feed's first fetch
            assert await asyncio.to_thread(dispatch_pending, engine, [notifier]) == 0
            row = feed_row(engine, url)
            assert row is not None and row.has_succeeded
            with Session(engine) as session:
                items = session.exec(select(Item).where(Item.feed_id == row.id)).all()
                assert len(items) == 5
                assert all(i.tier == "alert" and i.backfill for i in items)
                assert session.exec(select(OutboxMessage)).all() == []

            fresh = story(6, timedelta(minutes=5), "ICJ hears Syria torture case today")
            feed_server.routes["/justice.xml"] = Route(rss([fresh, *backlog]))
            await poller.poll(everything=True)
            assert await asyncio.to_thread(dispatch_pending, engine, [notifier]) == 1
            service.sender.wake()
            alerts = await fake_bot_api.await_for(
                lambda: [m for m in fake_bot_api.messages_to(USER_ID) if "🔔" in m["plain"]]
            )
    finally:
        poller.close()
    assert "ICJ hears Syria torture case today" in alerts[0]["plain"]
    with Session(engine) as session:
        assert len(session.exec(select(OutboxMessage)).all()) == 1


async def test_feed_commands_are_in_the_admin_menu_only(
    fake_bot_api: FakeBotAPI, database_url: str, feeds_file: Path
) -> None:
    engine = make_db(database_url)
    async with running_bot(fake_bot_api, engine, feeds_file=feeds_file):
        await fake_bot_api.await_for(lambda: f"chat:{ADMIN_ID}:" in fake_bot_api.commands)
    admin = {c["command"] for c in fake_bot_api.commands[f"chat:{ADMIN_ID}:"]}
    public = {c["command"] for c in fake_bot_api.commands["default::"]}
    feed_commands = {"addfeed", "removefeed", "pausefeed", "resumefeed"}
    assert feed_commands <= admin and not feed_commands & public
