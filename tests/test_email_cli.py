"""`watchbot email add|list|remove` and `watchbot digest --preview` as an admin uses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from storage.db import make_engine
from tests.conftest import write_feeds
from tests.fake_telegram import add_item
from tests.smtp_server import SmtpServer, confirm, smtp_server

__all__ = ["smtp_server"]


@pytest.fixture
def mail_env(workdir: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_feeds(workdir, [])
    monkeypatch.setenv("WATCHBOT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("WATCHBOT_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("WATCHBOT_SMTP_SECURITY", "none")
    monkeypatch.setenv("WATCHBOT_SMTP_FROM", "watchbot <watchbot@example.org>")
    monkeypatch.setenv("WATCHBOT_PUBLIC_URL", "https://watch.example.org")
    return workdir


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_add_list_remove(mail_env: Path, smtp_server: SmtpServer, database_url: str) -> None:
    code, out = run(
        "email", "add", "Desk@Example.org", "--topics", "icc_referral", "--timezone", "Asia/Beirut"
    )
    assert code == 0, out
    assert "Confirmation e-mail sent." in out
    [mail] = smtp_server.to("desk@example.org")
    body = mail.get_body(("plain",))
    assert body is not None and "https://watch.example.org/email/confirm/" in body.get_content()

    assert run("email", "add", "desk@example.org")[1].startswith("A confirmation e-mail went")
    code, out = run("email", "add", "nobody@@example.org")
    assert code == 2 and "invalid" in out.lower()
    code, out = run("email", "add", "x@example.org", "--topics", "no_such_topic")
    assert code == 2 and "unknown topic" in out
    code, out = run("email", "add", "x@example.org", "--timezone", "Mars/Olympus")
    assert code == 2 and "unknown time zone" in out

    engine = make_engine(database_url)
    confirm(engine, 1)
    engine.dispose()
    code, out = run("email", "add", "desk@example.org")
    assert code == 1 and "subscribed already" in out

    code, out = run("email", "list", "--json")
    [row] = json.loads(out)
    assert row["address"] == "desk@example.org" and row["status"] == "active"
    assert row["topics"] == ["icc_referral"] and row["digest"] == "08:00 Asia/Beirut"
    listed = run("email", "list")[1]
    assert "active       desk@example.org  08:00 Asia/Beirut  icc_referral" in listed

    assert run("email", "remove", "DESK@example.org") == (0, "Removed desk@example.org.\n")
    assert run("email", "remove", "desk@example.org")[0] == 1
    assert "No addresses" in run("email", "list")[1]


def test_digest_preview(mail_env: Path, smtp_server: SmtpServer, database_url: str) -> None:
    code, out = run("digest", "--preview")
    assert code == 0 and "empty" in out

    engine = make_engine(database_url)
    add_item(
        engine,
        "ICC referral debated <again> & again",
        topics=["icc_referral"],
        summary="The Security Council discussed an ICC referral.",
        matches=[{"term": "ICC referral", "topic": "icc_referral", "field": "text"}],
    )
    engine.dispose()
    code, out = run("digest", "--preview")
    assert code == 0, out
    assert "Subject: watchbot daily digest, " in out and ": 1 item" in out
    assert "ICC referral debated <again> & again" in out
    assert "discussed an *ICC referral*." in out

    page = mail_env / "digest.html"
    code, out = run("digest", "--preview", "--html", str(page))
    assert code == 0 and str(page) in out
    html = page.read_text(encoding="utf-8")
    assert "ICC referral debated &lt;again&gt; &amp; again" in html

    assert run("email", "add", "desk@example.org", "--topics", "un_investigations")[0] == 0
    code, out = run("digest", "--preview", "--email", "desk@example.org")
    assert code == 0 and "empty" in out  # only its topics count
    assert len(smtp_server.received) == 1  # the confirmation; previews send nothing
    assert run("digest", "--preview", "--email", "other@example.org")[0] == 1
    assert run("digest")[0] == 2
