"""Keep the bot token out of logs and stored errors.

httpx logs every request URL at INFO ("HTTP Request: POST https://…/bot<TOKEN>/sendMessage"),
and PTB's exceptions can carry it too. Whoever holds the token controls the bot, and through
it learns who the subscribers are.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

MASK = "[REDACTED]"
_secrets: set[str] = set()
_installed = False


def _forms(secret: str) -> set[str]:
    # The token's ':' is percent-encoded in some URLs.
    return {secret, quote(secret, safe=""), quote(secret)}


def redact(text: str) -> str:
    """`text` with every registered secret replaced by [REDACTED]."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A filter for handlers (e.g. a file handler set up elsewhere) that masks the secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub(record)
        return True


def _scrub(record: logging.LogRecord) -> None:
    if not _secrets:
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: leave it to logging's own error report
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install_token_redaction(*secrets: str) -> None:
    """Mask `secrets` in every log record, whatever handler later writes it.

    A record factory covers all loggers and handlers, including ones configured after this
    call and records from child loggers, which logger-level filters would miss.
    """
    global _installed
    for secret in secrets:
        if secret:
            _secrets.update(_forms(secret))
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _scrub(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
