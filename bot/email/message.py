"""Compose e-mails with the standard library, so header encoding and MIME structure are right
and nothing from a feed can add a header: every header value passes through `header_safe`."""

from __future__ import annotations

import re
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr
from urllib.parse import quote

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def header_safe(value: str) -> str:
    """One line: CR, LF and other control characters become spaces."""
    return " ".join(_CONTROL.sub(" ", value).split())


def sender_address(smtp_from: str) -> str:
    """The bare address of WATCHBOT_SMTP_FROM (`name <a@b>` → `a@b`), for the envelope."""
    return parseaddr(header_safe(smtp_from))[1] or "watchbot@localhost"


def domain_of(smtp_from: str) -> str:
    return sender_address(smtp_from).rpartition("@")[2] or "localhost"


def compose(
    *,
    smtp_from: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    date: datetime,
    unsubscribe: tuple[str, str] | None = None,
) -> EmailMessage:
    """multipart/alternative (text, then HTML). `unsubscribe` is (https URL, token): it adds
    List-Unsubscribe with mailto and https, and RFC 8058 one-click."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = header_safe(smtp_from)
    msg["To"] = Address(addr_spec=header_safe(to))
    msg["Subject"] = header_safe(subject)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = make_msgid(domain=domain_of(smtp_from))
    msg["Auto-Submitted"] = "auto-generated"
    if unsubscribe is not None:
        url, token = (header_safe(part) for part in unsubscribe)
        mailto = f"mailto:{sender_address(smtp_from)}?subject={quote('unsubscribe ' + token)}"
        msg["List-Unsubscribe"] = f"<{mailto}>, <{url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def serialize(msg: EmailMessage) -> str:
    """The message as stored in the outbox: RFC 5322 text with CRLF line ends, ASCII only."""
    return msg.as_string(policy=SMTP)
