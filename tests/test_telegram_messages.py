"""Rendering: hostile feed text stays text, our HTML passes Telegram's rules, digests split
on item boundaries. The fake server's HTML checker is Telegram's stand-in here."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.telegram.html import escape, safe_url
from bot.telegram.messages import Entry, render_alert, render_digest
from storage.delivery import Subscriber
from storage.models import Item
from tests.fake_telegram import ParseError, parse_telegram_html, utf16_len

HOSTILE_TITLES = [
    "<script>alert('x')</script>",
    "Tom & Jerry <b>unclosed",
    "a < b && c > d",
    "&amp;lt; &bogus; &#xZZ; &#99999999;",
    "</b></i></a>",
    '<a href="javascript:alert(1)">click</a>',
    "Lone surrogate \ud800 and NUL \x00 and BEL \x07",
    "محكمة العدل الدولية <تقرير> & «سوريا»",
    "x" * 5000,
]


def item(title: str, **kw: object) -> Item:
    values: dict[str, object] = {
        "feed_id": 1,
        "identity": title[:60],
        "content_hash": "h",
        "title": title,
        "link": "https://news.example.org/a?x=1&y=2",
        "topics": ["icj_case"],
        "first_seen_at": datetime(2025, 1, 31, 12, 0, tzinfo=UTC),
        "score": 1.0,
    }
    values.update(kw)
    return Item(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_hostile_titles_render_as_valid_telegram_html(title: str) -> None:
    sub = Subscriber(chat_id=1, timezone="Europe/Berlin")
    text = render_alert(Entry(item(title, summary=title), "Feed <&>"), sub)
    plain = parse_telegram_html(text)  # raises like Telegram's "can't parse entities"
    visible = title.replace("\x00", "").replace("\x07", "").replace("\ud800", "")
    assert visible.split(" ")[0][:50] in plain
    assert utf16_len(plain) <= 4096


def test_alert_shows_source_local_time_tags_and_evidence() -> None:
    sub = Subscriber(chat_id=1, timezone="Asia/Damascus")
    it = item(
        "Court hears case",
        topics=["icj_case", "detainees"],
        published_at=datetime(2025, 1, 31, 12, 0, tzinfo=UTC),
        matches=[
            {"term": "ICJ", "topic": "icj_case", "field": "title"},
            {"term": "<detainees>", "topic": "detainees", "field": "summary"},
        ],
    )
    plain = parse_telegram_html(render_alert(Entry(it, "Syria Justice"), sub))
    assert "Syria Justice" in plain
    assert "2025-01-31 15:00" in plain  # 12:00 UTC in Damascus (UTC+3)
    assert "#icj_case" in plain and "#detainees" in plain
    assert "“ICJ” (title)" in plain and "“<detainees>” (summary)" in plain


def test_unsafe_links_are_not_linked() -> None:
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("data:text/html,x") is None
    assert safe_url('https://x.org/"><b>') == "https://x.org/%22%3E%3Cb%3E"
    text = render_alert(Entry(item("t", link="javascript:alert(1)"), "s"), Subscriber(chat_id=1))
    assert "href" not in text


def test_fake_server_is_as_strict_as_telegram() -> None:
    for bad in ["<foo>x</foo>", "<b>x", "a & b", "a < b", "</b>", "<a>x</a>"]:
        with pytest.raises(ParseError):
            parse_telegram_html(bad)
    assert parse_telegram_html(f"<b>{escape('a < b & c')}</b>") == "a < b & c"


def test_digest_splits_at_4096_on_item_boundaries() -> None:
    sub = Subscriber(chat_id=1)
    topics = ["icj_case", "universal_jurisdiction", "detainees"]
    entries = [
        Entry(
            item(
                f"Item {n:03d} " + "long title words " * 14,
                link=f"https://news.example.org/{n}",
                topics=[topics[n % 3]],
                score=float(n % 17),
            ),
            f"Source {n % 5}",
        )
        for n in range(120)
    ]
    labels = {"icj_case": "ICJ case", "universal_jurisdiction": "Universal jurisdiction"}
    parts = render_digest(entries, sub, labels, "2025-01-31")
    assert len(parts) > 1
    seen: list[str] = []
    for part in parts:
        assert utf16_len(part) <= 4096
        plain = parse_telegram_html(part)
        seen += [line.split(" ")[2] for line in plain.splitlines() if line.startswith("• Item")]
    assert sorted(seen) == [f"{n:03d}" for n in range(120)]  # each item once, never cut
    assert "Daily digest" in parts[0] and "120 items" in parts[0]
    assert all("digest continued" in p for p in parts[1:])
    first = parse_telegram_html(parts[0])
    assert "Detainees" in first or "ICJ case" in first  # grouped under topic headings


def test_digest_ranks_by_score_within_topic() -> None:
    sub = Subscriber(chat_id=1)
    entries = [
        Entry(item(f"Score {s}", score=float(s), link=f"https://e.org/{s}"), "S") for s in (2, 9, 5)
    ]
    (text,) = render_digest(entries, sub, {}, "2025-01-31")
    plain = parse_telegram_html(text)
    assert plain.index("Score 9") < plain.index("Score 5") < plain.index("Score 2")


def test_empty_digest_renders_nothing() -> None:
    assert render_digest([], Subscriber(chat_id=1), {}, "2025-01-31") == []
