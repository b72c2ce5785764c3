"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the e-mail tests.

It records what it accepts, can be scripted to answer a recipient with 4xx or 5xx a number of
times, and can be stopped and started again on the same port to play "server down".
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot.config import Settings, load_settings
from bot.email import subscriptions
from bot.email.delivery import Policy
from bot.email.service import EmailService
from bot.email.web import add_email_routes
from storage.db import session_scope
from storage.email import EmailOutbox, EmailSubscription
from storage.timeutil import utcnow
from tests.conftest import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Recorder:
    """The aiosmtpd handler: scripted RCPT answers, then accept and record."""

    received: list[Received] = field(default_factory=list)
    scripts: dict[str, list[str]] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        with self.lock:
            script = self.scripts.get(address.lower())
            if script:
                reply = script.pop(0)
                self.refused.append((address, reply))
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 Message accepted for delivery"


class SmtpServer:
    """With `login`, AUTH PLAIN/LOGIN is offered (without TLS: this is 127.0.0.1) and required."""

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.port = free_port()
        self.handler = Recorder()
        self.login = login
        self._controller: Controller | None = None

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and self.login == (
            auth_data.login.decode(),
            auth_data.password.decode(),
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.login is not None:
            kwargs = {
                "authenticator": self._authenticate,
                "auth_require_tls": False,
                "auth_required": True,
            }
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def answer(self, address: str, *replies: str) -> None:
        """Answer RCPT TO:<address> with these replies, one per attempt, then accept."""
        with self.handler.lock:
            self.handler.scripts.setdefault(address.lower(), []).extend(replies)

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.received if address in r.rcpt_tos]

    @property
    def refused(self) -> list[tuple[str, str]]:
        with self.handler.lock:
            return list(self.handler.refused)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- watchbot side: settings, the HTTP routes, addresses ----------------------------------

FAST = Policy(backoff_base=0.0, backoff_max=0.0, down_retry=0.0, bounce_after=3, max_attempts=4)
TOPICS = {"icj_case": "ICJ case", "detainees": "Detainees and the missing"}
SENDER = "watchbot@example.org"


def email_settings(server: SmtpServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "smtp_security": "none",
        "smtp_from": f"watchbot <{SENDER}>",
        "public_url": "http://127.0.0.1:9",
    }
    values.update(overrides)
    return load_settings(_env_file=None, **values)


@asynccontextmanager
async def email_web(engine: Engine, settings: Settings) -> AsyncIterator[Settings]:
    """Serve the e-mail routes on a free port; yields the settings with that public URL."""
    app = web.Application()
    add_email_routes(app, engine, settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    finally:
        await runner.cleanup()


def add_address(engine: Engine, settings: Settings, address: str, **kw: Any) -> int:
    with session_scope(engine) as session:
        sub, _ = subscriptions.add(session, address, settings, **kw)
        assert sub.id is not None
        return sub.id


def confirm(engine: Engine, sub_id: int) -> None:
    with session_scope(engine) as session:
        sub = session.get(EmailSubscription, sub_id)
        assert sub is not None and sub.confirm_token is not None
        assert subscriptions.confirm_token(session, sub.confirm_token) is not None


def subscription(engine: Engine, sub_id: int) -> EmailSubscription:
    with session_scope(engine) as session:
        sub = session.get(EmailSubscription, sub_id)
        assert sub is not None
        return sub


def outbox_rows(engine: Engine) -> list[EmailOutbox]:
    with session_scope(engine) as session:
        return list(session.exec(select(EmailOutbox).order_by(col(EmailOutbox.id))).all())


async def active_address(
    engine: Engine, settings: Settings, address: str, service: EmailService, **kw: Any
) -> int:
    """An address through the whole opt-in (its confirmation mail is sent and dropped)."""
    sub_id = add_address(engine, settings, address, **kw)
    await service.drain()
    confirm(engine, sub_id)
    return sub_id


def tomorrow() -> datetime:
    """A moment after the next digest time of any address (digest times are whole hours)."""
    return utcnow() + timedelta(days=1, minutes=1)
