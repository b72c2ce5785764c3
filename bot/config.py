"""One typed settings table: every knob has a default, a validator and an env var."""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

DEFAULT_DATABASE_URL = "sqlite:///data/watchbot.db"
DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org/bot"


class ConfigError(Exception):
    """A setting has a bad value; the message is one sentence for the admin."""


class Settings(BaseSettings):
    """watchbot's settings, read from WATCHBOT_* environment variables and an optional .env."""

    model_config = SettingsConfigDict(
        env_prefix="WATCHBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,  # `WATCHBOT_TELEGRAM_TOKEN=` in .env means "not set"
    )

    database_url: str = Field(DEFAULT_DATABASE_URL, description="SQLAlchemy URL of the database.")
    feeds_file: Path = Field(Path("feeds.yaml"), description="The feed list and topic rules.")
    telegram_token: SecretStr | None = Field(None, description="Bot token from @BotFather.")
    telegram_api_url: str = Field(
        DEFAULT_TELEGRAM_API_URL, description="Bot API base URL; the token is appended."
    )
    webhook_url: str | None = Field(None, description="Public HTTPS URL for webhook mode.")
    admin_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="Telegram user ids of admins."
    )
    smtp_host: str | None = Field(None, description="SMTP server for digest e-mails.")
    smtp_port: int = Field(587, description="SMTP port.")
    smtp_username: str | None = Field(None, description="SMTP login.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls, tls (implicit) or none."
    )
    smtp_from: str = Field("watchbot <watchbot@localhost>", description="From header of e-mails.")
    secret_key: SecretStr | None = Field(
        None, description="Signs e-mail links; unset = a generated key kept in the database."
    )
    public_url: str = Field(
        "http://localhost:8080", description="Public base URL of the HTTP server."
    )
    http_port: int = Field(
        8080, description="Port of the HTTP server (health, metrics, unsubscribe); 0 turns it off."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level."
    )
    log_format: Literal["plain", "json"] = Field(
        "plain", description="Log lines as plain text or one JSON object per line."
    )
    auto_migrate: bool = Field(
        False, description="Upgrade an out-of-date database schema at start instead of refusing."
    )
    webhook_port: int = Field(8443, description="Local port the webhook listener binds to.")
    poll_tick_seconds: int = Field(30, description="How often the scheduler looks for due feeds.")
    poll_concurrency: int = Field(20, description="Feeds fetched at once.")
    per_host_concurrency: int = Field(3, description="Feeds fetched at once from one host.")
    max_body_bytes: int = Field(15 * 1024 * 1024, description="Largest feed body accepted.")
    fetch_timeout_seconds: float = Field(
        90.0, description="Overall deadline for one feed fetch, redirects and body included."
    )
    fetch_connect_timeout_seconds: float = Field(
        5.0, description="Deadline for connecting to a feed server."
    )
    fetch_read_timeout_seconds: float = Field(
        30.0, description="Longest silence accepted while reading a feed's answer."
    )
    parse_workers: int = Field(
        default_factory=lambda: 1 if (os.cpu_count() or 1) >= 2 else 0,
        description="Processes that parse and classify big feed bodies; 0 = in-process.",
    )
    user_agent: str = Field(
        "watchbot/0.1 (+https://github.com/watchbot/watchbot; news monitor)",
        description="User-Agent sent to feed servers.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.lower() if isinstance(v, str) else v

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, v: object) -> object:
        if isinstance(v, int):
            return [v]
        if isinstance(v, str):
            parts = [p for p in v.replace(";", ",").replace(" ", ",").split(",") if p]
            try:
                return [int(p) for p in parts]
            except ValueError:
                raise ValueError("must be Telegram user ids separated by commas") from None
        return v

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, v: str) -> str:
        if not v.startswith(("sqlite:", "postgresql")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
        return v

    @field_validator("telegram_api_url", "public_url", "webhook_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v

    @field_validator("smtp_port", "http_port", "webhook_port")
    @classmethod
    def _port(cls, v: int) -> int:
        if not 0 <= v <= 65535:
            raise ValueError("must be a port number from 0 to 65535")
        return v

    @field_validator(
        "poll_tick_seconds", "poll_concurrency", "per_host_concurrency", "max_body_bytes"
    )
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be a positive number")
        return v

    @field_validator(
        "fetch_timeout_seconds", "fetch_connect_timeout_seconds", "fetch_read_timeout_seconds"
    )
    @classmethod
    def _positive_seconds(cls, v: float) -> float:
        if not v > 0:
            raise ValueError("must be a positive number of seconds")
        return v

    @field_validator("parse_workers")
    @classmethod
    def _workers(cls, v: int) -> int:
        if not 0 <= v <= 64:
            raise ValueError("must be a number of processes from 0 to 64")
        return v

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]


def describe_error(err: ValidationError) -> str:
    """Turn pydantic's report into one sentence naming the variable."""
    first = err.errors()[0]
    name = "WATCHBOT_" + "_".join(str(p) for p in first["loc"][:1]).upper()
    msg = first["msg"].removeprefix("Value error, ")
    value = first.get("input")
    shown = (
        ""
        if value is None or "password" in name or "token" in name.lower()
        else f" (got {value!r})"
    )
    return f"{name} {msg[0].lower()}{msg[1:]}{shown}."


def load_settings(**overrides: object) -> Settings:
    """Read settings, or raise ConfigError with one sentence naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        raise ConfigError(describe_error(err)) from None
    except SettingsError as err:
        raise ConfigError(f"A WATCHBOT_ setting could not be read: {err}.") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
