"""The bot as a user meets it: PTB's Application polling the fake Bot API over 127.0.0.1.

Commands, settings keyboards, feedback buttons, groups and channels, admin commands,
/delete_me, the digest job, webhook mode, and the token kept out of the logs.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.config import load_settings
from bot.telegram import outbox
from bot.telegram.app import TelegramService, run_telegram, webhook_secret
from bot.telegram.notifier import TelegramNotifier
from storage.db import session_scope
from storage.delivery import Feedback, OutboxMessage, Subscriber
from storage.models import Feed
from storage.timeutil import utcnow
from tests.fake_telegram import (
    ADMIN_ID,
    TOKEN,
    USER_ID,
    FakeBotAPI,
    add_item,
    fake_bot_api,
    make_db,
)
from tests.test_telegram_outbox import FAST

__all__ = ["fake_bot_api"]

TOPICS = {"icj_case": "ICJ case", "detainees": "Detainees and the missing"}
GROUP = -100777


def settings_for(api: FakeBotAPI, **overrides: Any) -> Any:
    return load_settings(
        _env_file=None,
        telegram_token=TOKEN,
        telegram_api_url=api.url,
        admin_ids=[ADMIN_ID],
        **overrides,
    )


@asynccontextmanager
async def running_bot(
    api: FakeBotAPI, engine: Engine, digest_every: float = 60.0, **overrides: Any
) -> AsyncIterator[TelegramService]:
    service = TelegramService(
        settings_for(api, **overrides), engine, TOPICS, pacing=FAST, digest_every=digest_every
    )
    scheduler = AsyncIOScheduler()
    scheduler.start()
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(scheduler, stop))
    try:
        await api.await_for(lambda: api.calls_of("getUpdates") or api.webhook)
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        scheduler.shutdown(wait=False)


async def command(api: FakeBotAPI, text: str, user_id: int = USER_ID, **kw: Any) -> dict[str, Any]:
    """Type a command and return the bot's reply in that chat."""
    chat_id = kw.get("chat_id") or user_id
    before = len(api.messages_to(chat_id))
    api.push_command(text, user_id=user_id, **kw)
    await api.await_for(lambda: len(api.messages_to(chat_id)) > before)
    return api.messages_to(chat_id)[before]


async def tap(
    api: FakeBotAPI, message: dict[str, Any], label: str, user_id: int = USER_ID
) -> dict[str, Any]:
    """Tap the button whose text contains `label`; return the redrawn message."""
    data = next(
        b["callback_data"]
        for row in message["reply_markup"]["inline_keyboard"]
        for b in row
        if label in b["text"]
    )
    answers, edits = len(api.answers), len(api.edits)
    api.push_callback(data, message, user_id=user_id)
    await api.await_for(lambda: len(api.answers) > answers)  # answered at once
    if data.startswith("fb:"):
        return message
    await api.await_for(lambda: len(api.edits) > edits)
    return api.edits[-1]


def sub(engine: Engine, chat_id: int = USER_ID) -> Subscriber | None:
    with Session(engine) as session:
        return session.exec(select(Subscriber).where(Subscriber.chat_id == chat_id)).first()


async def test_start_subscribes_with_defaults_and_registers_the_menu(
    fake_bot_api: FakeBotAPI, database_url: str
) -> None:
    engine = make_db(database_url)
    scheduler = AsyncIOScheduler()
    scheduler.start()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_telegram(settings_for(fake_bot_api), engine, scheduler, stop, TOPICS)
    )
    reply = await command(fake_bot_api, "/start")
    stop.set()
    await asyncio.wait_for(task, 10)
    scheduler.shutdown(wait=False)

    assert "Welcome to watchbot" in reply["plain"] and "08:00" in reply["plain"]
    s = sub(engine)
    assert s is not None and s.active and not s.paused
    assert (s.mode, s.digest_time, s.topics_off, s.link_previews) == (
        "instant_daily",
        "08:00",
        [],
        False,
    )
    menu = {c["command"] for c in fake_bot_api.commands["default::"]}
    assert {"start", "settings", "latest", "search", "pause", "resume", "stop", "delete_me"} <= menu
    assert "feeds" not in menu
    assert "default::ar" in fake_bot_api.commands
    assert "feeds" in {c["command"] for c in fake_bot_api.commands[f"chat:{ADMIN_ID}:"]}
    assert fake_bot_api.calls_of("deleteWebhook")  # long polling mode


async def test_arabic_speakers_are_answered_in_arabic(
    fake_bot_api: FakeBotAPI, database_url: str
) -> None:
    engine = make_db(database_url)
    async with running_bot(fake_bot_api, engine):
        reply = await command(fake_bot_api, "/start", language_code="ar")
    assert "مرحباً" in reply["plain"]
    s = sub(engine)
    assert s is not None and s.language == "ar"


async def test_settings_with_inline_keyboards(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    async with running_bot(fake_bot_api, engine):
        await command(fake_bot_api, "/start")
        menu = await command(fake_bot_api, "/settings")
        assert "Instant alerts + daily digest" in menu["plain"]

        screen = await tap(fake_bot_api, menu, "Mode")
        screen = await tap(fake_bot_api, screen, "Daily digest only")
        assert "Mode: Daily digest only" in screen["plain"]

        screen = await tap(fake_bot_api, screen, "Topics")
        screen = await tap(fake_bot_api, screen, "ICJ case")
        assert "⬜ ICJ case" in str(screen["reply_markup"])
        screen = await tap(fake_bot_api, screen, "Back")

        screen = await tap(fake_bot_api, screen, "Digest time")
        screen = await tap(fake_bot_api, screen, "07:00")
        screen = await tap(fake_bot_api, screen, "Time zone")
        screen = await tap(fake_bot_api, screen, "Asia/Damascus")
        assert "07:00 (Asia/Damascus)" in screen["plain"]

        screen = await tap(fake_bot_api, screen, "Link previews: off")
        assert "Link previews: on" in screen["plain"]
        screen = await tap(fake_bot_api, screen, "Language")
        screen = await tap(fake_bot_api, screen, "العربية")
        assert "الإعدادات" in screen["plain"]
        await tap(fake_bot_api, screen, "تم")

    s = sub(engine)
    assert s is not None
    assert (s.mode, s.topics_off, s.digest_time, s.timezone) == (
        "daily",
        ["icj_case"],
        "07:00",
        "Asia/Damascus",
    )
    assert s.link_previews and s.language == "ar"


async def test_alert_feedback_buttons(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    async with running_bot(fake_bot_api, engine) as service:
        await command(fake_bot_api, "/start")
        item = add_item(engine, "Syria <must> comply & report")
        with session_scope(engine) as session:
            assert TelegramNotifier(service.settings).dispatch(session, [item]) == 1
        service.sender.wake()
        alert = await fake_bot_api.await_for(
            lambda: [m for m in fake_bot_api.messages_to(USER_ID) if "🔔" in m["plain"]]
        )
        assert "Syria <must> comply & report" in alert[0]["plain"]
        await tap(fake_bot_api, alert[0], "👍")
        assert fake_bot_api.answers[-1]["text"] == "Thanks, noted as useful."
        await tap(fake_bot_api, alert[0], "👎")
    with Session(engine) as session:
        (fb,) = session.exec(select(Feedback)).all()
    assert fb.item_id == item.id and fb.value == -1


async def test_pause_resume_and_stop(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    async with running_bot(fake_bot_api, engine) as service:
        await command(fake_bot_api, "/start")
        notifier = TelegramNotifier(service.settings)
        assert "Paused" in (await command(fake_bot_api, "/pause"))["plain"]
        with session_scope(engine) as session:
            assert notifier.dispatch(session, [add_item(engine, "one")]) == 0
        assert "Resumed" in (await command(fake_bot_api, "/resume"))["plain"]
        with session_scope(engine) as session:
            assert notifier.dispatch(session, [add_item(engine, "two")]) == 1
        await fake_bot_api.await_for(
            lambda: "🔔 two" in fake_bot_api.messages_to(USER_ID)[-1]["plain"]
        )
        assert "Unsubscribed" in (await command(fake_bot_api, "/stop"))["plain"]
    s = sub(engine)
    assert s is not None and not s.active


async def test_latest_and_search(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    now = utcnow()
    add_item(engine, "Koblenz trial verdict", first_seen_at=now - timedelta(hours=3))
    add_item(engine, "ICJ hearing scheduled", first_seen_at=now - timedelta(hours=2))
    add_item(engine, "Football scores", tier="ignore", first_seen_at=now - timedelta(hours=1))
    add_item(engine, "Caesar files <new>", tier="digest", first_seen_at=now)
    async with running_bot(fake_bot_api, engine):
        await command(fake_bot_api, "/start")
        latest = (await command(fake_bot_api, "/latest 2"))["plain"]
        found = (await command(fake_bot_api, "/search koblenz"))["plain"]
        nothing = (await command(fake_bot_api, "/search nonexistentword"))["plain"]
    assert "Caesar files <new>" in latest and "ICJ hearing" in latest
    assert "Koblenz" not in latest and "Football" not in latest
    assert "Koblenz trial verdict" in found and "ICJ" not in found
    assert "Nothing in the archive" in nothing


async def test_delete_me_erases_everything(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    async with running_bot(fake_bot_api, engine) as service:
        await command(fake_bot_api, "/start")
        item = add_item(engine, "An alert")
        with session_scope(engine) as session:
            TelegramNotifier(service.settings).dispatch(session, [item])
        service.sender.wake()
        alert = await fake_bot_api.await_for(
            lambda: [m for m in fake_bot_api.messages_to(USER_ID) if "🔔" in m["plain"]]
        )
        await tap(fake_bot_api, alert[0], "👍")
        reply = await command(fake_bot_api, "/delete_me")
    assert "erased" in reply["plain"]
    with Session(engine) as session:
        assert session.exec(select(Subscriber)).all() == []
        assert session.exec(select(Feedback)).all() == []
        assert session.exec(select(OutboxMessage)).all() == []


async def test_admin_commands_refuse_non_admins(
    fake_bot_api: FakeBotAPI, database_url: str
) -> None:
    engine = make_db(database_url)
    async with running_bot(fake_bot_api, engine):
        for text in ("/feeds", "/stats", "/deadletters", "/broadcast hello everyone"):
            reply = await command(fake_bot_api, text)
            assert "for the bot's administrators only" in reply["plain"]
    with Session(engine) as session:
        assert session.exec(select(OutboxMessage)).all() == []


async def test_admin_commands(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    add_item(engine, "x", feed="Flaky <Feed>")
    with session_scope(engine) as session:
        feed = session.exec(select(Feed)).one()
        feed.failure_count, feed.last_error = 3, "HTTP 503 <html>"
        session.add(feed)
        outbox.enqueue(session, [outbox.NewMessage(key="k", chat_id=5555, text="lost message")])
        row = session.exec(select(OutboxMessage)).one()
        assert row.id is not None
        outbox.mark_dead(session, row.id, "NetworkError: Bad Gateway")
    async with running_bot(fake_bot_api, engine):
        await command(fake_bot_api, "/start")  # a subscriber for the broadcast
        feeds = (await command(fake_bot_api, "/feeds", user_id=ADMIN_ID))["plain"]
        assert "Flaky <Feed>" in feeds and "failures: 3" in feeds and "HTTP 503 <html>" in feeds
        stats = (await command(fake_bot_api, "/stats", user_id=ADMIN_ID))["plain"]
        assert "subscribers active: 1" in stats and "dead 1" in stats

        dead = await command(fake_bot_api, "/deadletters", user_id=ADMIN_ID)
        assert "Bad Gateway" in dead["plain"]
        await tap(fake_bot_api, dead, "Retry all (1)", user_id=ADMIN_ID)
        await fake_bot_api.await_for(lambda: fake_bot_api.texts_to(5555) == ["lost message"])

        preview = await command(
            fake_bot_api, "/broadcast Hearing <today> & tomorrow", user_id=ADMIN_ID
        )
        assert "Hearing <today> & tomorrow" in preview["plain"]
        await tap(fake_bot_api, preview, "Send to 1 chats", user_id=ADMIN_ID)
        await fake_bot_api.await_for(
            lambda: (
                "Hearing <today> & tomorrow"
                in [m["plain"] for m in fake_bot_api.messages_to(USER_ID)]
            )
        )


async def test_groups_need_an_admin_and_get_digests_only(
    fake_bot_api: FakeBotAPI, database_url: str
) -> None:
    engine = make_db(database_url)
    async with running_bot(fake_bot_api, engine):
        refused = await command(fake_bot_api, "/start", chat_id=GROUP, chat_type="supergroup")
        assert "Only an admin" in refused["plain"] and sub(engine, GROUP) is None
        fake_bot_api.set_member(GROUP, USER_ID, "administrator")
        welcome = await command(fake_bot_api, "/start", chat_id=GROUP, chat_type="supergroup")
    assert "subscribed in this chat" in welcome["plain"]
    group = sub(engine, GROUP)
    assert group is not None and group.mode == "daily" and group.chat_type == "supergroup"


async def test_channel_subscribed_by_its_admin(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    channel = -100888
    fake_bot_api.chats[channel] = fake_bot_api.chat(channel, "channel", "Syria Justice Watch")
    fake_bot_api.set_member(channel, USER_ID, "creator")
    async with running_bot(fake_bot_api, engine):
        refused = await command(fake_bot_api, f"/channel {channel}")
        assert "must be an admin" in refused["plain"]
        fake_bot_api.set_member(channel, 123456789, "administrator", can_post_messages=True)
        settings = await command(fake_bot_api, f"/channel {channel}")
        assert "Syria Justice Watch" in settings["plain"]
        screen = await tap(fake_bot_api, settings, "Mode")
        await tap(fake_bot_api, screen, "Weekly digest only")
    s = sub(engine, channel)
    assert s is not None and s.chat_type == "channel" and s.mode == "weekly"


async def test_blocking_the_bot_deactivates(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    async with running_bot(fake_bot_api, engine):
        await command(fake_bot_api, "/start")
        me = fake_bot_api.me()
        fake_bot_api.push_update(
            {
                "my_chat_member": {
                    "chat": fake_bot_api.chat(USER_ID),
                    "from": fake_bot_api.user(USER_ID),
                    "date": 0,
                    "old_chat_member": {"status": "member", "user": me},
                    "new_chat_member": {"status": "kicked", "user": me, "until_date": 0},
                }
            }
        )
        await fake_bot_api.await_for(lambda: not (s := sub(engine)) or not s.active)


async def test_digest_job_runs_on_the_scheduler(
    fake_bot_api: FakeBotAPI, database_url: str
) -> None:
    engine = make_db(database_url)
    with session_scope(engine) as session:
        yesterday = utcnow() - timedelta(days=1, minutes=1)
        session.add(Subscriber(chat_id=USER_ID, mode="daily", last_digest_at=yesterday))
    add_item(engine, "Detainee list published", topics=["detainees"], tier="digest")
    async with running_bot(fake_bot_api, engine, digest_every=0.1):
        digest = await fake_bot_api.await_for(lambda: fake_bot_api.messages_to(USER_ID))
    assert "Daily digest" in digest[0]["plain"]
    assert "Detainees and the missing" in digest[0]["plain"]
    assert "Detainee list published" in digest[0]["plain"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_webhook_mode(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram-hook"
    async with running_bot(fake_bot_api, engine, webhook_url=url, webhook_port=port):
        assert fake_bot_api.webhook is not None and fake_bot_api.webhook["url"] == url
        secret = fake_bot_api.webhook["secret_token"]
        assert secret == webhook_secret(TOKEN) and TOKEN not in secret
        update = {
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": fake_bot_api.chat(USER_ID),
                "from": fake_bot_api.user(USER_ID),
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            }
        }
        forged = await asyncio.to_thread(fake_bot_api.post_to_webhook, update, "wrong")
        assert forged == 403
        assert await asyncio.to_thread(fake_bot_api.post_to_webhook, update, secret) == 200
        reply = await fake_bot_api.await_for(lambda: fake_bot_api.messages_to(USER_ID))
    assert len(reply) == 1 and "Welcome to watchbot" in reply[0]["plain"]


async def test_token_never_reaches_the_logs(
    fake_bot_api: FakeBotAPI, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = make_db(database_url)
    async with running_bot(fake_bot_api, engine) as service:
        await command(fake_bot_api, "/start")
        fake_bot_api.fail("sendMessage", 500, "Internal Server Error", times=1)
        with session_scope(engine) as session:
            TelegramNotifier(service.settings).dispatch(session, [add_item(engine, "alert")])
        service.sender.wake()
        await fake_bot_api.await_for(lambda: len(fake_bot_api.messages_to(USER_ID)) == 2)
        try:
            raise RuntimeError(f"failed POST {fake_bot_api.url}{TOKEN}/sendMessage")
        except RuntimeError:
            logging.getLogger("watchbot.test").exception("request to %s failed", TOKEN)
    assert "[REDACTED]" in caplog.text  # httpx logged request URLs, masked
    assert TOKEN not in caplog.text
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    with Session(engine) as session:
        assert all(TOKEN not in (r.last_error or "") for r in session.exec(select(OutboxMessage)))


async def test_timezone_can_be_typed(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    async with running_bot(fake_bot_api, engine):
        await command(fake_bot_api, "/start")
        assert (
            "Unknown time zone" in (await command(fake_bot_api, "/timezone Mars/Olympus"))["plain"]
        )
        assert "Europe/Berlin" in (await command(fake_bot_api, "/timezone Europe/Berlin"))["plain"]
    s = sub(engine)
    assert s is not None and s.timezone == "Europe/Berlin"
