"""Stories: the same news from several outlets is alerted once, and the alert is edited to name
the later outlets; different events stay apart; digests list stories with all their sources."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.config import load_settings
from bot.dispatch import dispatch_pending
from bot.stories import fingerprint, same_story
from bot.telegram.digest import enqueue_due_digests
from bot.telegram.notifier import TelegramNotifier
from storage.db import session_scope
from storage.delivery import SENT, OutboxMessage, Subscriber
from storage.stories import StoryLink
from storage.timeutil import utcnow
from tests.fake_telegram import FakeBotAPI, add_item, fake_bot_api, make_db
from tests.test_telegram_outbox import running_sender

__all__ = ["fake_bot_api"]

CHAT = 5151

# Our own fixture texts (invented), in the shape outlets publish them.
TRIAL_TITLE = (
    "Court in Koblenz convicts former Syrian intelligence officer of crimes against humanity"
)
TRIAL_LEAD = (
    "A German court on Thursday sentenced a former colonel of Syria's general intelligence "
    "directorate to life in prison for overseeing the torture of detainees at a Damascus "
    "prison, in the first verdict of its kind anywhere in the world."
)
TRIAL_LEAD_CUT = " ".join(TRIAL_LEAD.split()[:22]) + " …"
OTHER_TRIAL_TITLE = "Court in Stockholm opens trial of former Syrian army officer over war crimes"
OTHER_TRIAL_LEAD = (
    "Swedish prosecutors on Monday began presenting their case against a former brigadier "
    "accused of taking part in attacks on civilians near Homs in 2012, relying on witness "
    "testimony gathered over several years."
)


def test_copies_of_one_report_are_one_story() -> None:
    original = fingerprint(TRIAL_TITLE, f"<p>{TRIAL_LEAD}</p>")
    # An aggregator: headline with " - Outlet" appended, no summary.
    aggregator = fingerprint(f"{TRIAL_TITLE} - Example Wire", "")
    # Another outlet: the same wire copy, summary cut shorter, typographic quotes.
    cut = fingerprint(TRIAL_TITLE.replace("Syrian", "“Syrian”"), TRIAL_LEAD_CUT)
    assert same_story(original, aggregator) == 1.0
    assert same_story(original, cut) is not None


def test_arabic_spelling_variants_are_one_story() -> None:
    plain = "محكمة ألمانية تدين ضابطا سابقا في المخابرات السورية بجرائم ضد الإنسانية"
    voweled = "مَحكمة المانية تُدين ضابطاً سابقاً في المخابرات السورية بجرائم ضد الانسانية"
    assert same_story(fingerprint(plain, ""), fingerprint(voweled, "")) is not None


def test_similar_wording_about_different_events_stays_apart() -> None:
    a = fingerprint(TRIAL_TITLE, TRIAL_LEAD)
    b = fingerprint(OTHER_TRIAL_TITLE, OTHER_TRIAL_LEAD)
    assert same_story(a, b) is None
    # One word apart in a short headline: too little to tell, so not merged.
    germany = fingerprint("Syrian doctor goes on trial in Germany", "")
    sweden = fingerprint("Syrian doctor goes on trial in Sweden", "")
    assert same_story(germany, sweden) is None
    # Different numbers in otherwise identical headlines are different reports.
    three = fingerprint("UN investigators document 3 new mass graves near Damascus outskirts", "")
    five = fingerprint("UN investigators document 5 new mass graves near Damascus outskirts", "")
    assert same_story(three, five) is None


def _subscribe(engine: Engine, **prefs: object) -> None:
    with session_scope(engine) as session:
        session.add(Subscriber(chat_id=CHAT, **prefs))  # type: ignore[arg-type]


def _rows(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())  # type: ignore[arg-type]


def _dispatch(engine: Engine) -> None:
    dispatch_pending(engine, [TelegramNotifier(load_settings(_env_file=None))])


async def test_two_outlets_one_alert_then_an_edit(
    fake_bot_api: FakeBotAPI, database_url: str
) -> None:
    engine = make_db(database_url)
    _subscribe(engine)
    first = add_item(
        engine, TRIAL_TITLE, summary=TRIAL_LEAD, feed="Outlet One", link="https://one.example/a"
    )
    _dispatch(engine)
    async with running_sender(fake_bot_api, engine):
        await fake_bot_api.await_for(lambda: len(fake_bot_api.sent) == 1)
        second = add_item(
            engine,
            f"{TRIAL_TITLE} - Outlet Two",
            summary=TRIAL_LEAD_CUT,
            feed="Outlet Two",
            link="https://two.example/b",
            score=9.0,
        )
        _dispatch(engine)
        _dispatch(engine)  # a second run adds nothing
        await fake_bot_api.await_for(lambda: len(fake_bot_api.edits) == 1)
        await fake_bot_api.await_for(lambda: all(r.state == SENT for r in _rows(engine)))

    assert len(fake_bot_api.sent) == 1  # no second sendMessage: no second notification
    alert, edit = fake_bot_api.sent[0], fake_bot_api.edits[0]
    assert "Outlet One" in alert["plain"] and "Outlet Two" not in alert["plain"]
    assert edit["message_id"] == alert["message_id"] and edit["chat_id"] == CHAT
    assert "Source: Outlet One · also reported by Outlet Two" in edit["plain"]
    assert edit["reply_markup"] == alert["reply_markup"]  # 👍/👎 stay under the alert
    kinds = [(r.kind, r.key) for r in _rows(engine)]
    assert kinds == [
        ("alert", f"alert:{CHAT}:{first.id}"),
        ("edit", f"edit:{CHAT}:{first.id}:2"),
    ]
    with Session(engine) as session:
        link = session.get(StoryLink, second.id)
        assert link is not None and link.story_id == first.id


async def test_edit_waits_for_an_unsent_alert(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    _subscribe(engine)
    add_item(engine, TRIAL_TITLE, summary=TRIAL_LEAD, feed="Outlet One", link="https://one.ex/a")
    _dispatch(engine)
    add_item(engine, TRIAL_TITLE, summary=TRIAL_LEAD, feed="Outlet Two", link="https://two.ex/b")
    add_item(engine, TRIAL_TITLE, summary="", feed="Outlet Three", link="https://three.ex/c")
    _dispatch(engine)
    async with running_sender(fake_bot_api, engine):
        await fake_bot_api.await_for(lambda: len(fake_bot_api.edits) == 1)
        await fake_bot_api.await_for(lambda: all(r.state == SENT for r in _rows(engine)))
    assert len(fake_bot_api.sent) == 1
    assert "also reported by Outlet Two, Outlet Three" in fake_bot_api.edits[0]["plain"]


async def test_two_events_with_similar_wording_are_two_alerts(
    fake_bot_api: FakeBotAPI, database_url: str
) -> None:
    engine = make_db(database_url)
    _subscribe(engine)
    add_item(engine, TRIAL_TITLE, summary=TRIAL_LEAD, feed="Outlet One", link="https://one.ex/a")
    add_item(
        engine,
        OTHER_TRIAL_TITLE,
        summary=OTHER_TRIAL_LEAD,
        feed="Outlet Two",
        link="https://two.ex/b",
    )
    _dispatch(engine)
    async with running_sender(fake_bot_api, engine):
        await fake_bot_api.await_for(lambda: len(fake_bot_api.sent) == 2)
        await asyncio.sleep(0)
    assert not fake_bot_api.edits
    assert all("also reported" not in m["plain"] for m in fake_bot_api.sent)


def test_same_story_in_one_batch_is_one_alert_naming_both(database_url: str) -> None:
    engine = make_db(database_url)
    _subscribe(engine)
    add_item(engine, TRIAL_TITLE, summary=TRIAL_LEAD, feed="Outlet One", link="https://one.ex/a")
    add_item(engine, TRIAL_TITLE, summary=TRIAL_LEAD_CUT, feed="Outlet Two", score=8.0)
    _dispatch(engine)
    (row,) = _rows(engine)
    assert row.kind == "alert"
    assert "Outlet Two" in row.text and "also reported by Outlet One" in row.text


def test_digest_lists_one_story_with_both_sources(database_url: str) -> None:
    engine = make_db(database_url)
    with session_scope(engine) as session:
        session.add(
            Subscriber(chat_id=CHAT, mode="daily", last_digest_at=utcnow() - timedelta(days=1))
        )
    add_item(engine, TRIAL_TITLE, summary=TRIAL_LEAD, feed="Outlet One", link="https://one.ex/a")
    add_item(engine, TRIAL_TITLE, summary=TRIAL_LEAD_CUT, feed="Outlet Two", link="https://t.ex/b")
    add_item(engine, OTHER_TRIAL_TITLE, summary=OTHER_TRIAL_LEAD, feed="Outlet Two", score=2.0)
    _dispatch(engine)
    with session_scope(engine) as session:
        assert enqueue_due_digests(session, utcnow() + timedelta(days=1), {}) == 1
    (digest,) = [r for r in _rows(engine) if r.kind == "digest"]
    assert "2 items" in digest.text
    assert digest.text.count("Koblenz") == 1
    assert "Outlet One · also reported by Outlet Two" in digest.text
    assert "Stockholm" in digest.text
