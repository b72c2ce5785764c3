"""What makes two entries one item."""

from __future__ import annotations

from bot.identity import entry_identity, normalize_url
from bot.ingest import to_new_entries
from bot.parse import ParsedEntry


def test_normalize_url_strips_tracking_and_case() -> None:
    a = normalize_url("HTTPS://WWW.News.Example/World/Story/?utm_source=x&id=5&fbclid=abc#top")
    b = normalize_url("http://news.example/World/Story?id=5&gclid=zz")
    assert a == b == "https://news.example/World/Story?id=5"


def test_normalize_url_keeps_meaningful_query_and_odd_input() -> None:
    assert normalize_url("https://x.example/a?b=2&a=1") == "https://x.example/a?a=1&b=2"
    assert normalize_url("not a url") == "not a url"
    assert normalize_url("") is None


def test_identity_ladder() -> None:
    by_guid = entry_identity("g1", "http://a/1", "t", "s")
    assert by_guid == entry_identity("g1", "http://a/2", "other", "text")
    assert entry_identity("g1", "http://a/1", "t", "s", guid_repeats=True) != entry_identity(
        "g1", "http://a/2", "t", "s", guid_repeats=True
    )
    assert entry_identity(None, "http://a/1", "t", "s") == entry_identity(
        None, "http://a/1", "x", "y"
    )
    assert entry_identity(None, None, "t", "s") != entry_identity(None, None, "t", "s2")


def test_repeated_guid_in_one_document_keeps_both_stories() -> None:
    entries = [
        ParsedEntry("same", "http://a/1", "One", "", None),
        ParsedEntry("same", "http://a/2", "Two", "", None),
        ParsedEntry(None, "/rel", "Three", "", None),
    ]
    out = to_new_entries(entries, "http://a/feed.xml", "en")
    assert len({e.identity for e in out}) == 3
    assert out[2].link == "http://a/rel"
    assert out[0].language == "en"
