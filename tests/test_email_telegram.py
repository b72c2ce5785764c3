"""`/email` as a Telegram subscriber meets it: PTB polling the fake Bot API, confirmation
mails through a real SMTP server, the code from the mail typed back into the chat."""

from __future__ import annotations

import re

from bot.email.service import EmailService
from storage.email import ACTIVE, PENDING
from tests.fake_telegram import USER_ID, FakeBotAPI, fake_bot_api, make_db
from tests.smtp_server import FAST, TOPICS, SmtpServer, outbox_rows, smtp_server, subscription
from tests.test_telegram_bot import command, running_bot

__all__ = ["fake_bot_api", "smtp_server"]
GROUP = -100555


def smtp_overrides(server: SmtpServer) -> dict[str, object]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "smtp_security": "none",
        "smtp_from": "watchbot <watchbot@example.org>",
    }


async def test_email_command_opt_in_by_code(
    fake_bot_api: FakeBotAPI, smtp_server: SmtpServer, database_url: str
) -> None:
    engine = make_db(database_url)
    async with running_bot(fake_bot_api, engine, **smtp_overrides(smtp_server)) as bot:
        assert "not subscribed" in (await command(fake_bot_api, "/email"))["plain"]
        await command(fake_bot_api, "/start")
        assert "No e-mail address" in (await command(fake_bot_api, "/email"))["plain"]
        bad = await command(fake_bot_api, "/email not-an-address")
        assert "does not look right" in bad["plain"]
        group = await command(
            fake_bot_api, "/email x@example.org", chat_id=GROUP, chat_type="group"
        )
        assert "private chat" in group["plain"]

        queued = await command(fake_bot_api, "/email Ana@Example.org")
        assert "confirmation e-mail is on its way to ana@example.org" in queued["plain"]
        mails = await fake_bot_api.await_for(lambda: smtp_server.to("ana@example.org"))
        assert "Confirm" in str(mails[0]["Subject"])
        again = await command(fake_bot_api, "/email ana@example.org")
        assert "a few minutes ago" in again["plain"]  # no second mail to the same inbox
        other_inbox = await command(fake_bot_api, "/email bob@example.org")
        assert "Try again in a few minutes" in other_inbox["plain"]  # nor a spray of inboxes
        assert len(outbox_rows(engine)) == 1

        body = mails[0].get_body(("plain",))
        assert body is not None
        found = re.search(r"/email (\d{6})", body.get_content())
        assert found is not None
        wrong = "000000" if found.group(1) != "000000" else "111111"
        assert "not right" in (await command(fake_bot_api, f"/email {wrong}"))["plain"]
        assert subscription(engine, outbox_rows(engine)[0].subscription_id).status == PENDING
        ok = await command(fake_bot_api, f"/email {found.group(1)}")
        assert "Confirmed" in ok["plain"]
        sub = subscription(engine, outbox_rows(engine)[0].subscription_id)
        assert sub.status == ACTIVE and sub.subscriber_id is not None
        assert "also goes to ana@example.org" in (await command(fake_bot_api, "/email"))["plain"]

        menu = {c["command"] for c in fake_bot_api.commands["default::"]}
        assert "email" in menu

        await command(fake_bot_api, "/start", user_id=USER_ID + 1)
        other = await command(fake_bot_api, "/email ana@example.org", user_id=USER_ID + 1)
        assert "subscribed already" in other["plain"]  # someone else cannot take it over

        removed = await command(fake_bot_api, "/email off")
        assert "forgotten" in removed["plain"]
        assert outbox_rows(engine) == []
        assert (await EmailService(bot.settings, engine, TOPICS, FAST).drain()).sent == 0
    engine.dispose()


async def test_email_command_without_smtp(fake_bot_api: FakeBotAPI, database_url: str) -> None:
    engine = make_db(database_url)
    async with running_bot(fake_bot_api, engine):
        await command(fake_bot_api, "/start")
        reply = await command(fake_bot_api, "/email ana@example.org")
        assert "not set up" in reply["plain"]
        menu = {c["command"] for c in fake_bot_api.commands["default::"]}
        assert "email" not in menu
    engine.dispose()


async def test_delete_me_also_erases_the_email_address(
    fake_bot_api: FakeBotAPI, smtp_server: SmtpServer, database_url: str
) -> None:
    engine = make_db(database_url)
    async with running_bot(fake_bot_api, engine, **smtp_overrides(smtp_server)):
        await command(fake_bot_api, "/start")
        queued = await command(fake_bot_api, "/email erase.me@example.org")
        assert "on its way" in queued["plain"]
        assert len(outbox_rows(engine)) == 1
        reply = await command(fake_bot_api, "/delete_me")
    assert "erased" in reply["plain"]
    assert outbox_rows(engine) == []
    from sqlmodel import Session, select

    from storage.email import EmailSubscription

    with Session(engine) as session:
        assert session.exec(select(EmailSubscription)).all() == []
    engine.dispose()
