"""The e-mail digest as a reader meets it: double opt-in through the confirmation link, the
digest's MIME parts and headers, one-click unsubscribe, hostile feed text, empty digests.

Real peers on 127.0.0.1: an aiosmtpd server, watchbot's e-mail routes on aiohttp, httpx.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import httpx

from bot.email.service import EmailService
from storage.email import ACTIVE, PENDING, UNSUBSCRIBED
from storage.timeutil import utcnow
from tests.fake_telegram import add_item, make_db
from tests.smtp_server import (
    FAST,
    SENDER,
    TOPICS,
    SmtpServer,
    active_address,
    add_address,
    email_settings,
    email_web,
    outbox_rows,
    smtp_server,
    subscription,
    tomorrow,
)

__all__ = ["smtp_server"]
ADDRESS = "ana@example.org"


def parts(msg: EmailMessage) -> tuple[str, str]:
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def unsubscribe_url(msg: EmailMessage) -> str:
    found = re.findall(r"<(https?://[^>]+)>", str(msg["List-Unsubscribe"]))
    assert len(found) == 1
    return found[0]


async def test_nothing_but_the_confirmation_before_confirming(
    smtp_server: SmtpServer, database_url: str
) -> None:
    engine = make_db(database_url)
    add_item(engine, "ICJ hears Canada and the Netherlands v. Syria")
    async with email_web(engine, email_settings(smtp_server)) as settings:
        service = EmailService(settings, engine, TOPICS, FAST)
        sub_id = add_address(engine, settings, "Ana@Example.ORG")
        assert subscription(engine, sub_id).address == ADDRESS

        assert service.enqueue_due(tomorrow()) == 0  # pending: no digest
        await service.tick()  # the scheduler's job: queue what is due, then send
        await service.tick()
        assert len(smtp_server.received) == 1
        mail = smtp_server.to(ADDRESS)[0]
        assert mail["Subject"] == "Confirm your watchbot digest subscription"
        assert "List-Unsubscribe" not in mail
        text, html = parts(mail)
        code = subscription(engine, sub_id).confirm_code
        assert code is not None and f"/email {code}" in text
        link = re.search(r"https?://\S+/email/confirm/\S+", text)
        assert link is not None and link.group(0) in html

        async with httpx.AsyncClient() as http:
            page = await http.get(link.group(0))  # what a link scanner does
            assert page.status_code == 200 and '<form method="post">' in page.text
            assert subscription(engine, sub_id).status == PENDING
            done = await http.post(link.group(0))
            assert done.status_code == 200 and "Subscribed" in done.text
            assert subscription(engine, sub_id).status == ACTIVE
            again = await http.get(link.group(0))
            assert "is confirmed" in again.text
            bad = await http.post(link.group(0)[:-3] + "xyz")
            assert bad.status_code == 404

        add_item(engine, "Koblenz court hears new witness", link="https://news.example.org/k")
        assert service.enqueue_due(tomorrow()) == 1
        await service.drain()
        digests = smtp_server.to(ADDRESS)[1:]
        assert len(digests) == 1 and "digest" in str(digests[0]["Subject"])
    engine.dispose()


async def test_digest_parts_and_headers(smtp_server: SmtpServer, database_url: str) -> None:
    engine = make_db(database_url)
    async with email_web(engine, email_settings(smtp_server)) as settings:
        service = EmailService(settings, engine, TOPICS, FAST)
        await active_address(engine, settings, ADDRESS, service)
        add_item(
            engine,
            "Families of the detained testify",
            topics=["detainees"],
            score=3.0,
            link="https://news.example.org/d",
            summary="<p>Relatives of <b>detainees</b> spoke about Saydnaya prison.</p>",
            matches=[{"term": "Saydnaya", "topic": "detainees", "field": "text"}],
        )
        add_item(engine, "ICJ sets hearing dates", score=9.0, link="https://news.example.org/a")
        add_item(engine, "Minor ICJ note", score=4.0, link="https://news.example.org/b")
        add_item(engine, "Ignored", tier="ignore", link="https://news.example.org/c")
        add_item(engine, "Old backlog", backfill=True, link="https://news.example.org/e")

        now = tomorrow()
        assert service.enqueue_due(now) == 1
        assert service.enqueue_due(now) == 0  # one digest per period
        await service.drain()

    mail = smtp_server.to(ADDRESS)[-1]
    date = f"{now:%Y-%m-%d}"
    assert mail["Subject"] == f"watchbot daily digest, {date}: 3 items"
    assert mail["From"].addresses[0].addr_spec == SENDER
    assert str(mail["To"]) == ADDRESS
    assert abs((parsedate_to_datetime(str(mail["Date"])) - now).total_seconds()) < 5
    assert re.fullmatch(r"<[^<>@\s]+@example\.org>", str(mail["Message-ID"]))
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(mail["List-Unsubscribe"]).startswith(f"<mailto:{SENDER}?subject=unsubscribe%20")
    assert unsubscribe_url(mail).startswith("http://127.0.0.1:")

    text, html = parts(mail)
    # Grouped by topic, the best topic first; ranked by score within it.
    assert text.index("== ICJ case ==") < text.index("== Detainees and the missing ==")
    assert text.index("ICJ sets hearing dates") < text.index("Minor ICJ note")
    assert "Ignored" not in text and "Old backlog" not in text
    assert "https://news.example.org/a" in text and "Example News · " in text
    assert "spoke about *Saydnaya* prison" in text
    assert '<a href="https://news.example.org/a"' in html
    assert ">Saydnaya</strong>" in html and "<b>detainees</b>" not in html
    assert "<script" not in html and "<img" not in html
    assert unsubscribe_url(mail) in html and unsubscribe_url(mail) in text


async def test_one_click_unsubscribe(smtp_server: SmtpServer, database_url: str) -> None:
    engine = make_db(database_url)
    async with email_web(engine, email_settings(smtp_server)) as settings:
        service = EmailService(settings, engine, TOPICS, FAST)
        sub_id = await active_address(engine, settings, ADDRESS, service)
        add_item(engine)
        service.enqueue_due(tomorrow())
        await service.drain()
        url = unsubscribe_url(smtp_server.to(ADDRESS)[-1])

        async with httpx.AsyncClient() as http:
            page = await http.get(url)
            assert page.status_code == 200
            assert '<form method="post">' in page.text and "Unsubscribe</button>" in page.text
            assert page.headers["Referrer-Policy"] == "no-referrer"
            assert subscription(engine, sub_id).status == ACTIVE  # a GET changes nothing

            forged = await http.post(url[:-4] + "AAAA", content=b"List-Unsubscribe=One-Click")
            assert forged.status_code == 404
            assert subscription(engine, sub_id).status == ACTIVE

            done = await http.post(
                url,
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert done.status_code == 200
            assert subscription(engine, sub_id).status == UNSUBSCRIBED
            assert (await http.post(url)).status_code == 200  # a second click is fine

        sent = len(smtp_server.received)
        add_item(engine, "Another ruling", link="https://news.example.org/x")
        assert service.enqueue_due(tomorrow() + (tomorrow() - utcnow())) == 0
        await service.drain()
        assert len(smtp_server.received) == sent
    engine.dispose()


async def test_hostile_feed_text_is_escaped_and_cannot_add_headers(
    smtp_server: SmtpServer, database_url: str
) -> None:
    engine = make_db(database_url)
    settings = email_settings(smtp_server)
    service = EmailService(settings, engine, TOPICS, FAST)
    await active_address(engine, settings, ADDRESS, service)
    add_item(
        engine,
        "<script>alert(1)</script> Tom & Jerry\r\nBcc: victim@example.net\r\n\r\nbody",
        link="javascript:alert(1)",
        summary='<img src="https://tracker.example/x.gif" onerror="alert(2)">Hello & <b>bye',
        feed="Evil\r\nX-Injected: yes",
    )
    service.enqueue_due(tomorrow())
    await service.drain()

    received = smtp_server.received[-1]
    assert received.rcpt_tos == [ADDRESS]
    mail = received.message
    assert "Bcc" not in mail and "X-Injected" not in mail
    assert b"\r\nBcc:" not in received.data and b"\r\nX-Injected:" not in received.data
    assert "script" not in str(mail["Subject"])
    text, html = parts(mail)
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; Tom &amp; Jerry" in html
    assert "javascript:" not in html and "<img" not in html and "tracker.example" not in html
    assert "Hello &amp; bye" in html
    assert "<script>alert(1)</script> Tom & Jerry Bcc: victim@example.net body" in text
    assert "Evil X-Injected: yes" in text
    engine.dispose()


async def test_an_empty_digest_is_not_sent(smtp_server: SmtpServer, database_url: str) -> None:
    engine = make_db(database_url)
    settings = email_settings(smtp_server)
    service = EmailService(settings, engine, TOPICS, FAST)
    sub_id = await active_address(engine, settings, ADDRESS, service, topics=["detainees"])
    add_item(engine, "Not relevant", tier="ignore")
    add_item(engine, "Another topic", topics=["icj_case"], link="https://news.example.org/z")
    before = len(smtp_server.received)

    assert service.enqueue_due(tomorrow()) == 0
    await service.drain()
    assert len(smtp_server.received) == before
    assert [r.kind for r in outbox_rows(engine)] == ["confirm"]
    assert subscription(engine, sub_id).last_digest_at is not None
    engine.dispose()


async def test_digest_lists_a_story_once_with_its_outlets(
    smtp_server: SmtpServer, database_url: str
) -> None:
    from sqlmodel import Session

    from storage.stories import StoryLink

    engine = make_db(database_url)
    async with email_web(engine, email_settings(smtp_server)) as settings:
        service = EmailService(settings, engine, TOPICS, FAST)
        await active_address(engine, settings, ADDRESS, service)
        first = add_item(engine, "ICJ hears Syria torture case", score=9.0, feed="Wire One")
        copy = add_item(engine, "ICJ hears Syria torture case", score=8.0, feed="Aggregator Two")
        with Session(engine) as session:
            assert first.id is not None and copy.id is not None
            session.add(StoryLink(item_id=copy.id, story_id=first.id, similarity=1.0))
            session.commit()
        assert service.enqueue_due(tomorrow()) == 1
        await service.drain()

    mail = smtp_server.to(ADDRESS)[-1]
    assert str(mail["Subject"]).endswith(": 1 item")
    text, _ = parts(mail)
    assert text.count("ICJ hears Syria torture case") == 1
    assert "Wire One, Aggregator Two" in text
    engine.dispose()
