"""Signed unsubscribe links: an HMAC over the address row, so a link works for exactly one
address, needs no stored state, and survives restarts.

The key is WATCHBOT_SECRET_KEY, or else one generated on first use and kept in the database
(every instance and every restart must sign and check with the same key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from bot.config import Settings
from storage.email import EmailKey, EmailSubscription

KEY_NAME = "link-signing"


def signing_key(session: Session, settings: Settings) -> bytes:
    """The configured key, or the stored one (created by whichever instance asks first)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    row = session.get(EmailKey, KEY_NAME)
    if row is None:
        values = {"name": KEY_NAME, "value": secrets.token_hex(32)}
        dialect = session.get_bind().dialect.name
        stmt: Any = (pg_insert if dialect == "postgresql" else sqlite_insert)(EmailKey)
        session.exec(stmt.values(**values).on_conflict_do_nothing(index_elements=["name"]))
        row = session.get(EmailKey, KEY_NAME, populate_existing=True)
        assert row is not None
    return row.value.encode()


def _mac(key: bytes, purpose: str, row_id: int, address: str) -> str:
    digest = hmac.new(key, f"{purpose}:{row_id}:{address}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_token(key: bytes, purpose: str, sub: EmailSubscription) -> str:
    """`<id>.<mac>`; the address is in the MAC, so a reused row id does not reuse a link."""
    assert sub.id is not None
    return f"{sub.id}.{_mac(key, purpose, sub.id, sub.address)}"


def check_token(session: Session, key: bytes, purpose: str, token: str) -> EmailSubscription | None:
    """The address a token was made for, or None when it is malformed or forged."""
    head, _, mac = token.partition(".")
    if not head.isdigit() or not mac or len(token) > 200:
        return None
    sub = session.get(EmailSubscription, int(head))
    if sub is None or sub.id is None:
        return None
    if not hmac.compare_digest(mac, _mac(key, purpose, sub.id, sub.address)):
        return None
    return sub
