"""Logging set-up: one readable line per event (or one JSON object for log shippers), noisy
libraries quietened, and the bot token masked before any handler sees a record."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from bot.config import Settings
from bot.telegram.redact import install_token_redaction

PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(settings: Settings) -> None:
    level = settings.log_level_number
    if settings.telegram_token is not None:
        # Before the first record: httpx and PTB put the token in request URLs and errors.
        install_token_redaction(settings.telegram_token.get_secret_value())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter
    if settings.log_format == "json":
        formatter = JsonFormatter(
            JSON_FIELDS,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    else:
        formatter = logging.Formatter(PLAIN_FORMAT)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO; Bot API URLs contain the token.
    noisy_loggers = ("httpx", "httpcore", "apscheduler", "telegram.ext.Updater", "aiohttp.access")
    for noisy in (*noisy_loggers, "alembic"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
