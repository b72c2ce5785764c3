"""bot/fastrss.py: plain RSS 2.0 read without feedparser must give exactly feedparser's result,
and anything it is not sure about must go to feedparser (bench/real_feeds.py checks the same
over ~2,300 real and corpus documents)."""

from __future__ import annotations

import pytest

import bot.parse
from bot.fastrss import parse_rss
from bot.parse import ParsedFeed, parse_feed

XML = {"content-type": "application/rss+xml; charset=utf-8"}


def both(body: bytes, headers: dict[str, str]) -> tuple[ParsedFeed, ParsedFeed]:
    fast = parse_feed(body, headers)
    bot.parse.FAST_PATH = False
    try:
        slow = parse_feed(body, headers)
    finally:
        bot.parse.FAST_PATH = True
    return fast, slow


def doc(items: str, channel: str = "<title>T</title><language>en-GB</language>") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>{channel}'
        f"{items}</channel></rss>"
    ).encode()


SIMPLE = [
    "<item><title>Plain &amp; simple</title><link>http://e.example/a?x=1&amp;y=2</link>"
    "<guid>g1</guid><description>&lt;p&gt;Body &lt;b&gt;bold&lt;/b&gt;&lt;/p&gt;</description>"
    "<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate></item>",
    "<item><title>&lt;b&gt;HTML&lt;/b&gt; title</title><guid>http://e.example/permalink</guid>"
    "<category>x</category><category>y</category></item>",
    '<item><title>No link</title><guid isPermaLink="false">opaque-1</guid>'
    "<description><![CDATA[<p>CDATA body</p>]]></description></item>",
    "<item><title>  Spaces \n around </title><link>\n  /relative/path \n</link>"
    "<enclosure url='http://e.example/a.mp3' length='1' type='audio/mpeg'/></item>",
    "<item><title>Ünïcödé – “quotes”</title><link>http://e.example/ü</link></item>",
]


@pytest.mark.parametrize("item", SIMPLE)
def test_fast_path_matches_feedparser(item: str) -> None:
    body = doc(item)
    assert parse_rss(body, XML) is not None, "this document should take the fast path"
    fast, slow = both(body, XML)
    assert fast == slow


def test_ascii_text_xml_and_no_headers_take_the_fast_path() -> None:
    body = doc(SIMPLE[0])
    for headers in ({"content-type": "text/xml"}, {}):
        assert parse_rss(body, headers) is not None
        fast, slow = both(body, headers)
        assert fast == slow


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (doc("<item><title>a</title><dc:creator>x</dc:creator></item>"), XML),  # namespaced
        (doc("<item><title>a</title><author>x@e.example</author></item>"), XML),
        (doc("<item><title>a</title><description><p>raw</p></description></item>"), XML),
        (doc("<item><title>a</title><title>b</title></item>"), XML),  # repeated field
        (doc('<item xml:lang="fr"><title>a</title></item>'), XML),
        (doc("<item><title>a</title></item>"), {"content-type": "text/html"}),  # bozo
        (doc("<item><title>é</title></item>"), {"content-type": "text/xml"}),  # us-ascii
        (doc("<item><title>a</title></item>").replace(b"utf-8", b"iso-8859-1"), XML),
        (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "b">]><rss version="2.0"/>', XML),
        (b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>a</title></entry></feed>', XML),
        (doc("<item><title>a &nbsp; b</title></item>"), XML),  # undefined entity: not XML
        (doc("<item><title>a</title></item>", "<entry><title>x</title></entry>"), XML),
    ],
)
def test_anything_unusual_goes_to_feedparser(body: bytes, headers: dict[str, str]) -> None:
    assert parse_rss(body, headers) is None
    try:
        fast, slow = both(body, headers)
    except bot.parse.FeedParseError:
        return
    assert fast == slow
