"""Digests: due in the subscriber's own zone, items since the last digest, split at 4096 on
item boundaries when delivered, nothing sent when empty, never twice for one period."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select
from telegram import Bot

from bot.telegram import outbox
from bot.telegram.digest import enqueue_due_digests, last_slot
from bot.telegram.sender import Sender
from storage.db import session_scope
from storage.delivery import MODE_WEEKLY, SENT, OutboxMessage, Subscriber
from tests.fake_telegram import TOKEN, FakeBotAPI, add_item, fake_bot_api, make_db
from tests.test_telegram_outbox import FAST

__all__ = ["fake_bot_api"]

LABELS = {"icj_case": "ICJ case", "detainees": "Detainees and the missing"}
A = 2001
LAST = datetime(2025, 3, 9, 5, 0, tzinfo=UTC)  # the previous digest, 08:00 in Damascus (UTC+3)


def add_subscriber(engine: object, **prefs: object) -> None:
    values: dict[str, object] = {
        "chat_id": A,
        "timezone": "Asia/Damascus",
        "last_digest_at": LAST,
        "mode": "daily",
    }
    values.update(prefs)
    with session_scope(engine) as session:  # type: ignore[arg-type]
        session.add(Subscriber(**values))  # type: ignore[arg-type]


def run_digests(engine: object, now: datetime) -> int:
    with session_scope(engine) as session:  # type: ignore[arg-type]
        return enqueue_due_digests(session, now, LABELS)


def test_due_at_local_digest_time(database_url: str) -> None:
    engine = make_db(database_url)
    add_subscriber(engine)
    add_item(engine, "Koblenz verdict", first_seen_at=LAST + timedelta(hours=3))
    assert run_digests(engine, datetime(2025, 3, 10, 4, 59, tzinfo=UTC)) == 0  # 07:59 in Damascus
    assert run_digests(engine, datetime(2025, 3, 10, 5, 1, tzinfo=UTC)) == 1  # 08:01 in Damascus
    assert run_digests(engine, datetime(2025, 3, 10, 5, 2, tzinfo=UTC)) == 0  # once per period
    with Session(engine) as session:
        (row,) = session.exec(select(OutboxMessage)).all()
        sub = session.exec(select(Subscriber)).one()
    assert row.key == f"digest:{A}:2025-03-10:1" and "Koblenz verdict" in row.text
    assert sub.last_digest_at == datetime(2025, 3, 10, 5, 1, tzinfo=UTC)


def test_weekly_slot_is_the_last_monday() -> None:
    sub = Subscriber(chat_id=A, mode=MODE_WEEKLY, timezone="Europe/Berlin", digest_time="09:00")
    slot, period = last_slot(sub, datetime(2025, 3, 12, 12, 0, tzinfo=UTC))  # a Wednesday
    assert slot == datetime(2025, 3, 10, 8, 0, tzinfo=UTC) and period == "2025-W11"


def test_only_relevant_new_items_since_the_last_digest(database_url: str) -> None:
    engine = make_db(database_url)
    add_subscriber(engine, topics_off=["detainees"])
    add_item(engine, "Old news", first_seen_at=LAST - timedelta(hours=1))
    add_item(engine, "Ignored", tier="ignore", first_seen_at=LAST + timedelta(hours=1))
    add_item(engine, "Backfill", backfill=True, first_seen_at=LAST + timedelta(hours=1))
    add_item(engine, "Topic off", topics=["detainees"], first_seen_at=LAST + timedelta(hours=1))
    add_item(engine, "Fresh digest item", tier="digest", first_seen_at=LAST + timedelta(hours=1))
    assert run_digests(engine, LAST + timedelta(days=1, minutes=1)) == 1
    with Session(engine) as session:
        (row,) = session.exec(select(OutboxMessage)).all()
    assert "Fresh digest item" in row.text
    for absent in ("Old news", "Ignored", "Backfill", "Topic off"):
        assert absent not in row.text


async def test_empty_digest_is_not_sent(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    add_subscriber(engine)
    add_item(engine, "Ignored", tier="ignore", first_seen_at=LAST + timedelta(hours=1))
    now = LAST + timedelta(days=1, minutes=1)
    assert run_digests(engine, now) == 0
    with Session(engine) as session:
        assert session.exec(select(OutboxMessage)).all() == []
        assert session.exec(select(Subscriber)).one().last_digest_at == now
    assert fake_bot_api.calls_of("sendMessage") == []


async def test_long_digest_is_delivered_in_parts(
    fake_bot_api: FakeBotAPI, database_url: str
) -> None:
    engine = make_db(database_url)
    add_subscriber(engine)
    for n in range(90):
        add_item(
            engine,
            f"Item{n:03d} <trial> & hearing " + "words " * 40,
            topics=["icj_case" if n % 2 else "detainees"],
            link=f"https://news.example.org/{n}",
            score=float(n % 11),
            first_seen_at=LAST + timedelta(minutes=n + 1),
        )
    parts = run_digests(engine, LAST + timedelta(days=1, minutes=1))
    assert parts > 1

    stop = asyncio.Event()
    async with Bot(TOKEN, base_url=fake_bot_api.url) as bot:
        task = asyncio.create_task(Sender(bot, engine, FAST).run(stop))
        await fake_bot_api.await_for(lambda: len(fake_bot_api.texts_to(A)) == parts)
        stop.set()
        await asyncio.wait_for(task, 10)

    assert all(c.status == 200 for c in fake_bot_api.calls_of("sendMessage"))  # none too long
    plain = [m["plain"] for m in fake_bot_api.messages_to(A)]
    assert "Daily digest" in plain[0] and "90 items" in plain[0]
    found = [
        word[4:7]
        for p in plain
        for line in p.splitlines()
        for word in line.split()
        if word.startswith("Item")
    ]
    assert sorted(found) == [f"{n:03d}" for n in range(90)]  # every item once, none cut
    assert all(
        "<trial> & hearing" in line for p in plain for line in p.splitlines() if "Item" in line
    )
    with session_scope(engine) as session:
        assert outbox.counts(session) == {SENT: parts}
