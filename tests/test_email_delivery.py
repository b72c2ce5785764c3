"""Delivery through a real SMTP server: retries on 4xx, bounces on 5xx (and the Telegram
notice), a server that is down, a restart with a digest still queued, two senders at once."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.email.service import EmailService
from storage.db import make_engine, session_scope
from storage.delivery import OutboxMessage, Subscriber
from storage.email import ACTIVE, BOUNCED, DEAD, QUEUED, SENDING, SENT, EmailOutbox
from storage.timeutil import utcnow
from tests.fake_telegram import add_item, make_db
from tests.smtp_server import (
    FAST,
    TOPICS,
    SmtpServer,
    active_address,
    email_settings,
    outbox_rows,
    smtp_server,
    subscription,
    tomorrow,
)

__all__ = ["smtp_server"]
# aiosmtpd warns that AUTH without TLS is unsafe; on 127.0.0.1 it is what we want.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
ADDRESS = "ana@example.org"


def digest_rows(engine: object) -> list[EmailOutbox]:
    return [r for r in outbox_rows(engine) if r.kind == "digest"]  # type: ignore[arg-type]


async def test_a_4xx_is_retried_and_delivered_once(
    smtp_server: SmtpServer, database_url: str
) -> None:
    engine = make_db(database_url)
    settings = email_settings(smtp_server)
    service = EmailService(settings, engine, TOPICS, FAST)
    await active_address(engine, settings, ADDRESS, service)
    add_item(engine)
    service.enqueue_due(tomorrow())
    smtp_server.answer(ADDRESS, "451 4.3.0 Mailbox busy, try again later")

    first = await service.drain()
    assert (first.sent, first.retried) == (0, 1)
    [row] = digest_rows(engine)
    assert (row.state, row.attempts) == (QUEUED, 1) and "451" in (row.last_error or "")
    second = await service.drain()
    assert second.sent == 1
    await service.drain()
    assert len(smtp_server.to(ADDRESS)) == 2  # confirmation + the digest, once
    assert digest_rows(engine)[0].state == SENT
    engine.dispose()


async def test_5xx_bounces_after_three_attempts_and_tells_telegram(
    smtp_server: SmtpServer, database_url: str
) -> None:
    engine = make_db(database_url)
    with session_scope(engine) as session:
        owner = Subscriber(chat_id=4242, language="en", digest_time="07:00", timezone="UTC")
        session.add(owner)
        session.flush()
        owner_id = owner.id
    settings = email_settings(smtp_server)
    service = EmailService(settings, engine, TOPICS, FAST)
    sub_id = await active_address(engine, settings, ADDRESS, service, subscriber_id=owner_id)
    add_item(engine)
    service.enqueue_due(tomorrow())
    smtp_server.answer(ADDRESS, *["550 5.1.1 No such user"] * 5)

    for _ in range(3):
        await service.drain()
    await service.drain()  # nothing left to try
    assert len(smtp_server.refused) == 3
    sub = subscription(engine, sub_id)
    assert sub.status == BOUNCED and "550 5.1.1" in (sub.last_error or "")
    assert [r.state for r in digest_rows(engine)] == [DEAD]
    with Session(engine) as session:
        notices = session.exec(select(OutboxMessage)).all()
    assert len(notices) == 1
    assert notices[0].chat_id == 4242 and ADDRESS in notices[0].text

    service.enqueue_due(tomorrow() + timedelta(days=1))  # bounced: no more digests
    await service.drain()
    assert len(smtp_server.refused) == 3 and len(smtp_server.to(ADDRESS)) == 1
    engine.dispose()


async def test_a_server_that_is_down_delays_and_loses_nothing(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = SmtpServer(login=("watchbot", "s3cret-pass"))
    server.start()
    engine = make_db(database_url)
    settings = email_settings(server, smtp_username="watchbot", smtp_password="s3cret-pass")
    service = EmailService(settings, engine, TOPICS, FAST)
    await active_address(engine, settings, ADDRESS, service)
    add_item(engine)
    service.enqueue_due(tomorrow())
    server.stop()
    try:
        with caplog.at_level(logging.INFO, logger="bot.email"):
            for _ in range(3):
                summary = await service.drain()
                assert summary.unavailable is not None and summary.sent == 0
        [row] = digest_rows(engine)
        assert (row.state, row.attempts) == (QUEUED, 0)  # waiting costs no attempts
        ours = [r for r in caplog.records if r.name == "bot.email.service"]
        warnings = [r for r in ours if r.levelno >= logging.WARNING]
        assert len(warnings) == 1  # said once, not at every try
        said = warnings[0].getMessage()
        assert f"cannot reach the SMTP server 127.0.0.1:{server.port} (connect call failed" in said
        assert "s3cret-pass" not in caplog.text

        server.start()
        assert (await service.drain()).sent == 1
        await service.drain()
        assert len(server.to(ADDRESS)) == 2  # confirmation + digest, once
    finally:
        server.stop()
    engine.dispose()


async def test_a_wrong_password_is_one_sentence_without_the_password(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = SmtpServer(login=("watchbot", "right"))
    server.start()
    try:
        engine = make_db(database_url)
        settings = email_settings(server, smtp_username="watchbot", smtp_password="wrong-pw")
        service = EmailService(settings, engine, TOPICS, FAST)
        with session_scope(engine) as session:
            from bot.email.subscriptions import add

            add(session, ADDRESS, settings)
        with caplog.at_level(logging.WARNING, logger="bot.email"):
            summary = await service.drain()
        assert summary.unavailable is not None and "refused the login" in summary.unavailable
        assert "wrong-pw" not in caplog.text and "WATCHBOT_SMTP_USERNAME" in caplog.text
        assert [r.state for r in outbox_rows(engine)] == [QUEUED]
        engine.dispose()
    finally:
        server.stop()


async def test_a_restart_sends_a_queued_digest_once(
    smtp_server: SmtpServer, database_url: str
) -> None:
    engine = make_db(database_url)
    settings = email_settings(smtp_server)
    first = EmailService(settings, engine, TOPICS, FAST)
    await active_address(engine, settings, ADDRESS, first)
    add_item(engine)
    assert first.enqueue_due(tomorrow()) == 1
    engine.dispose()  # "crash" before draining

    engine = make_engine(database_url)
    second = EmailService(settings, engine, TOPICS, FAST)
    assert second.enqueue_due(tomorrow()) == 0  # already queued for this period
    await second.drain()
    await second.drain()
    assert len(smtp_server.to(ADDRESS)) == 2
    assert digest_rows(engine)[0].state == SENT
    engine.dispose()


async def test_a_row_left_sending_by_a_dead_process_is_sent_once(
    smtp_server: SmtpServer, database_url: str
) -> None:
    engine = make_db(database_url)
    settings = email_settings(smtp_server)
    service = EmailService(settings, engine, TOPICS, FAST)
    await active_address(engine, settings, ADDRESS, service)
    add_item(engine)
    service.enqueue_due(tomorrow())
    with session_scope(engine) as session:
        session.exec(
            update(EmailOutbox)
            .where(col(EmailOutbox.kind) == "digest")
            .values(state=SENDING, claimed_at=utcnow())
        )
    await service.drain()  # claimed moments ago: another sender may be on it
    assert len(smtp_server.to(ADDRESS)) == 1
    with session_scope(engine) as session:
        session.exec(
            update(EmailOutbox)
            .where(col(EmailOutbox.kind) == "digest")
            .values(claimed_at=utcnow() - timedelta(minutes=11))
        )
    await service.drain()
    await service.drain()
    assert len(smtp_server.to(ADDRESS)) == 2
    engine.dispose()


async def test_two_senders_never_send_the_same_row(
    smtp_server: SmtpServer, database_url: str
) -> None:
    engine = make_db(database_url)
    settings = email_settings(smtp_server)
    service = EmailService(settings, engine, TOPICS, FAST)
    for n in range(5):
        await active_address(engine, settings, f"reader{n}@example.org", service)
    add_item(engine)
    assert service.enqueue_due(tomorrow()) == 5
    other = EmailService(settings, make_engine(database_url), TOPICS, FAST)
    results = await asyncio.gather(service.drain(), other.drain(), service.drain())
    assert sum(r.sent for r in results) == 5
    digests = [r for r in smtp_server.received if "daily digest" in str(r.message["Subject"])]
    assert sorted(r.rcpt_tos[0] for r in digests) == [f"reader{n}@example.org" for n in range(5)]
    assert {subscription(engine, i + 1).status for i in range(5)} == {ACTIVE}
    other.engine.dispose()
    engine.dispose()
