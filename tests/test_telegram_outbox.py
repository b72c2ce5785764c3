"""Delivery through the outbox, over real sockets: PTB's HTTP client against the fake Bot API.

Covers escaping of hostile titles end to end, 429 parking one chat only, 403 and "chat not
found" deactivating, 5xx retried, dead letters, and restarts (clean and kill -9) that lose
nothing and send nothing twice except the message that was in flight.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from telegram import Bot

from bot.config import load_settings
from bot.telegram import outbox
from bot.telegram.notifier import TelegramNotifier
from bot.telegram.sender import ChatPacer, Pacing, Sender
from storage.db import session_scope
from storage.delivery import DEAD, DROPPED, PENDING, SENDING, SENT, OutboxMessage, Subscriber
from tests.fake_telegram import TOKEN, FakeBotAPI, add_item, fake_bot_api, make_db

__all__ = ["fake_bot_api"]

FAST = Pacing(
    private_interval=0.0,
    group_interval=0.0,
    global_per_second=1000.0,
    backoff_base=0.02,
    backoff_max=0.1,
    max_attempts=3,
    idle_poll=0.05,
)
A, B = 1001, 1002


@asynccontextmanager
async def running_sender(
    api: FakeBotAPI, engine: Engine, pacing: Pacing = FAST
) -> AsyncIterator[Sender]:
    stop = asyncio.Event()
    async with Bot(TOKEN, base_url=api.url) as bot:
        sender = Sender(bot, engine, pacing)
        task = asyncio.create_task(sender.run(stop))
        try:
            yield sender
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


def subscribe(engine: Engine, chat_id: int, **prefs: object) -> None:
    with session_scope(engine) as session:
        session.add(Subscriber(chat_id=chat_id, **prefs))  # type: ignore[arg-type]


def queue(engine: Engine, chat_id: int, *texts: str) -> None:
    with session_scope(engine) as session:
        outbox.enqueue(
            session,
            [outbox.NewMessage(key=f"t:{chat_id}:{t}", chat_id=chat_id, text=t) for t in texts],
        )


def rows(engine: Engine, chat_id: int | None = None) -> list[OutboxMessage]:
    with Session(engine) as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)  # type: ignore[arg-type]
        return [r for r in session.exec(query).all() if chat_id in (None, r.chat_id)]


def subscriber(engine: Engine, chat_id: int) -> Subscriber:
    with Session(engine) as session:
        found = session.exec(select(Subscriber).where(Subscriber.chat_id == chat_id)).one()
        return found


async def until(api: FakeBotAPI, check: Callable[[], object]) -> None:
    await api.await_for(check)


async def test_alerts_with_hostile_titles_are_delivered(
    fake_bot_api: FakeBotAPI, database_url: str
) -> None:
    engine = make_db(database_url)
    subscribe(engine, A, timezone="Asia/Damascus")
    subscribe(engine, B, paused=True)
    subscribe(engine, 1003, mode="daily")
    subscribe(engine, 1004, topics_off=["icj_case"])
    titles = ["<script>x</script> & <b>broken", "a < b && c", "&bogus; </i>"]
    items = [
        add_item(
            engine,
            title,
            link=f"https://e.org/{n}?a=1&b=<2>",
            matches=[{"term": "ICJ", "field": "title"}],
        )
        for n, title in enumerate(titles)
    ]
    add_item(engine, "digest-tier item", tier="digest")
    notifier = TelegramNotifier(load_settings(_env_file=None))
    with session_scope(engine) as session:
        assert notifier.dispatch(session, items) == 3  # only A: B paused, 1003 daily, 1004 off
    with session_scope(engine) as session:
        assert notifier.dispatch(session, items) == 0  # idempotent per chat and item

    async with running_sender(fake_bot_api, engine):
        await until(fake_bot_api, lambda: len(fake_bot_api.sent) == 3)

    assert not [c for c in fake_bot_api.calls_of("sendMessage") if c.status != 200]
    delivered = fake_bot_api.messages_to(A)
    assert [m["plain"].splitlines()[0] for m in delivered] == [f"🔔 {t}" for t in titles]
    for message in delivered:
        assert message["link_preview_options"]["is_disabled"] is True
        buttons = message["reply_markup"]["inline_keyboard"][0]
        assert [b["text"] for b in buttons] == ["👍", "👎"]
        assert "+03" in message["plain"]  # published time in the subscriber's zone
    assert {r.state for r in rows(engine)} == {SENT}


def _metric(name: str) -> float:
    from bot.metrics import REGISTRY

    sample = {"sent": "watchbot_telegram_messages_sent_total", "429": "watchbot_telegram_429_total"}
    value = REGISTRY.get_sample_value(sample[name])
    return value or 0.0


async def test_429_parks_only_that_chat(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    fake_bot_api.fail(
        "sendMessage", 429, "Too Many Requests: retry after 1", chat_id=A, retry_after=1
    )
    queue(engine, A, "a1", "a2", "a3")
    queue(engine, B, "b1", "b2", "b3")
    sent_before, limited_before = _metric("sent"), _metric("429")
    async with running_sender(fake_bot_api, engine):
        await until(fake_bot_api, lambda: len(fake_bot_api.sent) == 6)
    # /metrics counts what happened (same process: the counters are process-wide).
    assert _metric("sent") - sent_before == 6 and _metric("429") - limited_before == 1
    order = [m["text"] for m in fake_bot_api.sent]
    assert fake_bot_api.texts_to(A) == ["a1", "a2", "a3"]  # nothing lost, order kept
    assert order.index("b3") < order.index("a1")  # B went on while A waited
    assert len(fake_bot_api.calls_of("sendMessage")) == 7  # one 429, no storm of retries


def test_pacer_spaces_private_chats_and_groups() -> None:
    now = [100.0]
    pacer = ChatPacer(Pacing(), clock=lambda: now[0])
    pacer.record_send(A)
    pacer.record_send(-100123)
    assert pacer.wait_for(A) == 1.0
    assert pacer.wait_for(-100123) == 3.0  # 20 per minute in a group
    assert pacer.wait_for(B) == 0.0  # other chats are not held back
    pacer.park(B, 7)
    assert pacer.wait_for(B) == 7.0 and pacer.wait_for(A) == 1.0
    rate = Pacing().global_per_second
    assert 25 <= rate < 30  # overall, under Telegram's 30/s
    assert pacer.global_wait() == pytest.approx(2 / rate)
    now[0] += 3.0
    assert pacer.wait_for(A) == pacer.wait_for(-100123) == 0.0


async def test_403_deactivates_and_drops_the_queue(
    fake_bot_api: FakeBotAPI, database_url: str
) -> None:
    engine = make_db(database_url)
    subscribe(engine, A)
    subscribe(engine, B)
    fake_bot_api.fail("sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=A)
    queue(engine, A, "a1", "a2")
    queue(engine, B, "b1")
    async with running_sender(fake_bot_api, engine):
        await until(fake_bot_api, lambda: fake_bot_api.texts_to(B) == ["b1"])
        await until(fake_bot_api, lambda: {r.state for r in rows(engine, A)} == {DROPPED})
    assert not subscriber(engine, A).active
    assert subscriber(engine, B).active
    assert len([c for c in fake_bot_api.calls_of("sendMessage") if c.params["chat_id"] == A]) == 1


async def test_chat_not_found_deactivates(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    subscribe(engine, A)
    fake_bot_api.fail("sendMessage", 400, "Bad Request: chat not found", chat_id=A)
    queue(engine, A, "a1")
    async with running_sender(fake_bot_api, engine):
        await until(fake_bot_api, lambda: rows(engine, A)[0].state == DROPPED)
    assert not subscriber(engine, A).active
    assert "chat not found" in (subscriber(engine, A).deactivated_reason or "").lower()


async def test_5xx_is_retried_until_delivered(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    fake_bot_api.fail("sendMessage", 500, "Internal Server Error", chat_id=A, times=2)
    queue(engine, A, "a1")
    async with running_sender(fake_bot_api, engine):
        await until(fake_bot_api, lambda: rows(engine, A)[0].state == SENT)
    assert fake_bot_api.texts_to(A) == ["a1"]
    row = rows(engine, A)[0]
    assert row.attempts == 3 and row.telegram_message_id is not None


async def test_message_that_keeps_failing_becomes_a_dead_letter(
    fake_bot_api: FakeBotAPI, database_url: str
) -> None:
    engine = make_db(database_url)
    fake_bot_api.fail("sendMessage", 502, "Bad Gateway", chat_id=A, times=50)
    queue(engine, A, "a1")
    queue(engine, B, "b1")
    async with running_sender(fake_bot_api, engine):
        await until(fake_bot_api, lambda: rows(engine, A)[0].state == DEAD)
        await until(fake_bot_api, lambda: fake_bot_api.texts_to(B) == ["b1"])
    row = rows(engine, A)[0]
    assert row.attempts == FAST.max_attempts
    assert "Bad Gateway" in (row.last_error or "")
    with session_scope(engine) as session:
        assert [r.id for r in outbox.dead_letters(session)] == [row.id]
        assert outbox.retry_dead(session) == 1
    fake_bot_api.fail("sendMessage", 502, "Bad Gateway", chat_id=A, times=0)  # no-op marker
    with fake_bot_api._cond:
        fake_bot_api._faults.clear()
    async with running_sender(fake_bot_api, engine):
        await until(fake_bot_api, lambda: fake_bot_api.texts_to(A) == ["a1"])


async def test_restart_resumes_pending_rows(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    queue(engine, A, "done1", "done2", "inflight", "p1", "p2")
    with session_scope(engine) as session:
        for row in session.exec(select(OutboxMessage)).all():
            row.state = {"done1": SENT, "done2": SENT, "inflight": SENDING}.get(row.text, PENDING)
            session.add(row)
    async with running_sender(fake_bot_api, engine):
        await until(fake_bot_api, lambda: len(fake_bot_api.texts_to(A)) == 3)
        await until(fake_bot_api, lambda: {r.state for r in rows(engine)} == {SENT})
    assert fake_bot_api.texts_to(A) == ["inflight", "p1", "p2"]


SENDER_PROCESS = """
import asyncio, sys
from telegram import Bot
from bot.telegram.sender import Pacing, Sender
from storage.db import make_engine

async def main():
    engine = make_engine(sys.argv[1])
    async with Bot(sys.argv[3], base_url=sys.argv[2]) as bot:
        pacing = Pacing(private_interval=0.0, global_per_second=1000.0, idle_poll=0.05)
        await Sender(bot, engine, pacing).run(asyncio.Event())

asyncio.run(main())
"""


async def test_kill_9_mid_flight_loses_nothing(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    texts = ["m1", "m2", "m3-held", "m4", "m5"]
    queue(engine, A, *texts)
    release = fake_bot_api.hold("m3-held")
    url = database_url
    proc = subprocess.Popen([sys.executable, "-c", SENDER_PROCESS, url, fake_bot_api.url, TOKEN])
    try:
        await until(fake_bot_api, lambda: "m3-held" in fake_bot_api.texts_to(A))
    finally:
        proc.kill()  # SIGKILL: no cleanup of any kind
        proc.wait(10)
    release.set()
    assert {r.text: r.state for r in rows(engine)}["m3-held"] == SENDING

    async with running_sender(fake_bot_api, engine):
        await until(fake_bot_api, lambda: {r.state for r in rows(engine)} == {SENT})
    sent = fake_bot_api.texts_to(A)
    assert [t for t in sent if t != "m3-held"] == ["m1", "m2", "m4", "m5"]  # each exactly once
    assert 1 <= sent.count("m3-held") <= 2  # only the in-flight one may be doubled
