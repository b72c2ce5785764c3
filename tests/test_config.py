"""Settings: defaults work, a bad value is one sentence naming the variable."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHBOT_DATABASE_URL", raising=False)
    s = load_settings(_env_file=None)
    assert s.database_url.startswith("sqlite:///") and s.telegram_token is None


@pytest.mark.parametrize(
    ("var", "value", "expect"),
    [
        ("WATCHBOT_HTTP_PORT", "eighty", "WATCHBOT_HTTP_PORT"),
        ("WATCHBOT_HTTP_PORT", "70000", "port number"),
        ("WATCHBOT_ADMIN_IDS", "12,bob", "Telegram user ids"),
        ("WATCHBOT_DATABASE_URL", "mysql://x", "postgresql"),
        ("WATCHBOT_TELEGRAM_API_URL", "api.telegram.org", "http"),
        ("WATCHBOT_LOG_LEVEL", "chatty", "WATCHBOT_LOG_LEVEL"),
    ],
)
def test_bad_values(monkeypatch: pytest.MonkeyPatch, var: str, value: str, expect: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None)
    msg = str(err.value)
    assert var in msg and expect in msg and msg.endswith(".") and "\n" not in msg


def test_admin_ids_list_and_token_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHBOT_ADMIN_IDS", "11, 22")
    monkeypatch.setenv("WATCHBOT_TELEGRAM_TOKEN", "123456:SECRET-token")
    s = load_settings(_env_file=None)
    assert s.admin_ids == [11, 22]
    assert "SECRET" not in repr(s)
