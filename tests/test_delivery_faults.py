"""Fault suite, delivery side: the Bot API misbehaving while an alert fans out to many chats.

tests/test_telegram_outbox.py covers single faults (one chat's 5xx, 403, 429, dead letters,
restarts); here the faults hit a fan-out: a burst of 5xx answers for every chat, and a 403
for one chat among many. Either way every other chat gets each message exactly once, in order,
and only the blocked chat is dropped. Nothing here asserts a duration.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from storage.delivery import DROPPED, SENT
from tests.fake_telegram import FakeBotAPI, fake_bot_api, make_db
from tests.test_telegram_outbox import FAST, queue, rows, running_sender, subscribe, subscriber
from tests.test_telegram_outbox import until as wait_until

__all__ = ["fake_bot_api"]

CHATS = list(range(2001, 2041))  # 40 private chats


def accepted(api: FakeBotAPI) -> Counter[tuple[int, str]]:
    with api._cond:
        return Counter((m["chat_id"], m["text"]) for m in api.sent)


async def test_5xx_burst_for_every_chat_delivers_each_message_once(
    fake_bot_api: FakeBotAPI, database_url: str
) -> None:
    engine = make_db(database_url)
    for chat in CHATS:
        subscribe(engine, chat)
        queue(engine, chat, f"alert-1 for {chat}", f"alert-2 for {chat}")
    # The next 60 sendMessage calls fail, whatever the chat: 502, 500 and 503 alike.
    fake_bot_api.fail("sendMessage", 502, "Bad Gateway", times=20)
    fake_bot_api.fail("sendMessage", 500, "Internal Server Error", times=20)
    fake_bot_api.fail("sendMessage", 503, "Service Unavailable", times=20)
    # Enough attempts that no message can become a dead letter however the 60 failures fall.
    pacing = replace(FAST, max_attempts=100)
    async with running_sender(fake_bot_api, engine, pacing):
        await wait_until(fake_bot_api, lambda: all(r.state == SENT for r in rows(engine)) or None)
    got = accepted(fake_bot_api)
    assert set(got.values()) == {1}, "a message was delivered twice"
    assert len(got) == 2 * len(CHATS)
    for chat in CHATS:
        assert fake_bot_api.texts_to(chat) == [f"alert-1 for {chat}", f"alert-2 for {chat}"]
    failed = [c for c in fake_bot_api.calls_of("sendMessage") if c.status >= 500]
    assert len(failed) == 60


async def test_403_for_one_chat_among_many_drops_only_that_chat(
    fake_bot_api: FakeBotAPI, database_url: str
) -> None:
    engine = make_db(database_url)
    blocked = CHATS[17]
    for chat in CHATS:
        subscribe(engine, chat)
        queue(engine, chat, f"alert-1 for {chat}", f"alert-2 for {chat}")
    fake_bot_api.fail(
        "sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=blocked, times=5
    )
    async with running_sender(fake_bot_api, engine):
        await wait_until(
            fake_bot_api,
            lambda: all(r.state in (SENT, DROPPED) for r in rows(engine)) or None,
        )
    assert {r.state for r in rows(engine, blocked)} == {DROPPED}
    assert not subscriber(engine, blocked).active
    calls_to_blocked = [
        c for c in fake_bot_api.calls_of("sendMessage") if c.params["chat_id"] == blocked
    ]
    assert len(calls_to_blocked) == 1  # its second message was dropped, not tried
    got = accepted(fake_bot_api)
    assert set(got.values()) == {1}
    for chat in CHATS:
        if chat == blocked:
            continue
        assert subscriber(engine, chat).active
        assert fake_bot_api.texts_to(chat) == [f"alert-1 for {chat}", f"alert-2 for {chat}"]
