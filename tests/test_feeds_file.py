"""feeds.yaml validation: every error names the line, the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.feeds_file import FeedsFileError, load_feeds_file, parse_feeds_text
from tests.conftest import ROOT, topics_section


def check(feeds_part: str) -> str:
    with pytest.raises(FeedsFileError) as err:
        parse_feeds_text(feeds_part + "\n" + topics_section(), Path("feeds.yaml"))
    return str(err.value)


def test_shipped_feeds_file_is_valid() -> None:
    config = load_feeds_file(ROOT / "feeds.yaml")
    assert len(config.feeds) >= 20
    langs = {f.language for f in config.feeds}
    assert {"en", "ar", "fr", "nl", "de"} <= langs
    assert any(f.tier == "primary" and f.interval_minutes == 15 for f in config.feeds)


def test_bad_url_names_line_and_field() -> None:
    msg = check(
        "feeds:\n  - name: A\n    url: https://ok.example/a\n  - name: B\n    url: ftp://x\n"
    )
    assert "line 5" in msg and "feeds[1].url" in msg and "http" in msg and "fix:" in msg


def test_unknown_field_suggests_the_known_ones() -> None:
    msg = check("feeds:\n  - name: A\n    url: https://ok.example/a\n    intervall: 10\n")
    assert "line 4" in msg and "intervall" in msg and "interval" in msg


def test_missing_url_and_too_short_interval() -> None:
    assert "add a `url:` line" in check("feeds:\n  - name: A\n")
    msg = check("feeds:\n  - name: A\n    url: https://ok.example/a\n    interval: 1m\n")
    assert "line 4" in msg and "at least 5 minutes" in msg


def test_duplicate_url_and_bad_tier() -> None:
    msg = check(
        "feeds:\n  - name: A\n    url: https://ok.example/a\n  - name: B\n    url: https://ok.example/a\n"
    )
    assert "line 5" in msg and "already listed" in msg
    assert "primary" in check("feeds:\n  - name: A\n    url: https://ok.example/a\n    tier: vip\n")


def test_yaml_syntax_error_has_a_line() -> None:
    msg = check("feeds:\n  - name: A\n   url: [broken\n")
    assert "not valid YAML" in msg and "line" in msg


def test_intervals_accept_durations() -> None:
    config = parse_feeds_text(
        "feeds:\n  - name: A\n    url: https://ok.example/a\n    interval: 2h\n"
        "  - name: B\n    url: https://ok.example/b\n    interval: 30\n\n" + topics_section(),
        Path("feeds.yaml"),
    )
    assert [f.interval_minutes for f in config.feeds] == [120, 30]


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(FeedsFileError, match="WATCHBOT_FEEDS_FILE"):
        load_feeds_file(tmp_path / "nope.yaml")
