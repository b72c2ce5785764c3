"""A fast path for plain RSS 2.0: expat callbacks instead of feedparser's SAX machinery.

feedparser costs ~0.5 ms per entry, most of a cold poll. For the common, simple case (an
RSS 2.0 document in UTF-8, no DOCTYPE, items holding only title/link/guid/description/pubDate
and ignorable children) this reads the same fields feedparser would, applying the same
text steps (feedparser 6.0.14 `_FeedParserMixin.pop`), and returns feedparser-shaped dicts
for bot.parse to normalise. Anything else returns None and feedparser reads the document:
a wrong guess here costs speed, never correctness. bench/real_feeds.py checks that both
paths give identical entries on every document the fast path accepts.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any
from xml.parsers import expat

from feedparser.datetimes import _parse_date
from feedparser.encodings import parse_content_type
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin

_TEXT = frozenset({"title", "link", "guid", "description", "pubDate"})
_IGNORED = frozenset({"category", "comments", "enclosure", "source"})
_CHANNEL_TEXT = frozenset({"title", "language", "ttl"})
# RSS 2.0's channel elements; an unknown one may mean something to feedparser (`entry`,
# `id`, `summary`... start entries or set fields), so it sends the document there.
_CHANNEL = frozenset(
    {
        "title", "link", "description", "language", "copyright", "managingEditor",
        "webMaster", "pubDate", "lastBuildDate", "category", "generator", "docs", "cloud",
        "ttl", "image", "rating", "textInput", "skipHours", "skipDays", "item",
    }
)  # fmt: skip
_CHANNEL_PARTS = frozenset(
    {"url", "title", "link", "width", "height", "description", "name", "hour", "day"}
)
_ATOM = "http://www.w3.org/2005/Atom"
_LINK_ENTITY = re.compile("&([A-Za-z0-9_]+);")
_XML_ENCODING = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_UTF8 = ("utf-8", "utf8")
# feedparser.encodings.convert_to_utf8's lists (local variables there).
_APPLICATION_XML = (
    "application/xml",
    "application/xml-dtd",
    "application/xml-external-parsed-entity",
)
_TEXT_XML = ("text/xml", "text/xml-external-parsed-entity")
_looks_like_html = _FeedParserMixin.looks_like_html


class _Bail(Exception):
    """Not a document this path is sure about: let feedparser read it."""


def _encoding(body: bytes, headers: dict[str, str]) -> str | None:
    """ "utf-8" or "us-ascii" when feedparser would decode the body so without any bozo
    warning (feedparser's encodings.convert_to_utf8), else None."""
    if (
        not body.startswith((b"<?xml", b"<rss", b"<!--"))
        or b"<!DOCTYPE" in body
        or b"<!doctype" in body
    ):
        return None
    if "content-location" in headers or "content-language" in headers:
        return None  # feedparser takes a base URI / default language from these
    m = _XML_ENCODING.match(body)
    if m and m.group(1).decode("ascii").lower() not in _UTF8:
        return None
    if not headers:
        return "utf-8"
    ctype = headers.get("content-type")
    if ctype is None:
        return None
    mime, charset = parse_content_type(ctype)  # feedparser compares the type as sent
    charset = charset.lower() or None
    if charset is not None and charset not in _UTF8:
        return None
    if mime in _APPLICATION_XML or (mime.startswith("application/") and mime.endswith("+xml")):
        return "utf-8"
    if mime in _TEXT_XML or (mime.startswith("text/") and mime.endswith("+xml")):
        if charset is not None:
            return "utf-8"
        return "us-ascii" if body.isascii() else None  # RFC 3023's default for text/*
    return None


def _finish(pieces: list[str], uri: bool, utf8: bool) -> str:
    """feedparser's pop() for a strict document without xml:base."""
    out = "".join(pieces).strip()
    if uri and out:
        out = _urljoin("", out)
    if utf8:  # feedparser's repair of UTF-8 read as Latin-1, done for UTF-8 documents only
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            out = out.encode("iso-8859-1").decode("utf-8")
    return out.translate(_cp1252)


class _Reader:
    def __init__(self, utf8: bool) -> None:
        self.utf8 = utf8
        self.stack: list[str] = []
        self.feed: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.item: dict[str, Any] | None = None
        self.seen: set[str] = set()
        self.text: list[str] | None = None
        self.guid_is_link = True
        self.atom_prefix: str | None = None

    def start(self, name: str, attrs: dict[str, str]) -> None:
        depth = len(self.stack)
        if self.text is not None:
            raise _Bail  # markup inside a text element: feedparser re-serialises it
        for key in attrs:
            if key.startswith("xml:") or key == "xmlns":
                raise _Bail
        if depth == 0:
            if name != "rss" or not attrs.get("version", "").startswith("2."):
                raise _Bail
            for key, value in attrs.items():
                if key.startswith("xmlns:") and value == _ATOM:
                    self.atom_prefix = key[6:]
        elif ":" in name:
            if not (
                depth == 2
                and self.item is None
                and name == f"{self.atom_prefix}:link"
                and attrs.get("href")
            ):
                raise _Bail
        elif depth == 1:
            if name != "channel" or attrs:
                raise _Bail
        elif depth == 2:
            if name not in _CHANNEL:
                raise _Bail
            if name == "item":
                if attrs:  # CDF-style href/lastmod attributes set entry fields
                    raise _Bail
                self.item, self.seen, self.guid_is_link = {}, set(), True
            elif name in _CHANNEL_TEXT:
                if name in self.feed:
                    raise _Bail
                self.text = []
        elif self.item is not None:
            if depth != 3 or name not in _TEXT | _IGNORED:
                raise _Bail
            if name in _TEXT:
                if name in self.seen:
                    raise _Bail
                self.seen.add(name)
                self.text = []
                if name == "guid":
                    self.guid_is_link = attrs.get("isPermaLink", "true") == "true"
        elif name not in _CHANNEL_PARTS:
            raise _Bail
        self.stack.append(name)

    def data(self, text: str) -> None:
        if self.text is not None:
            self.text.append(text)

    def end(self, name: str) -> None:
        self.stack.pop()
        depth = len(self.stack)
        if name == "item" and depth == 2 and self.item is not None:
            self._close_item(self.item)
            self.entries.append(self.item)
            self.item = None
            return
        if self.text is None:
            return
        pieces, self.text = self.text, None
        if self.item is None:
            self.feed[name] = _finish(pieces, False, self.utf8)
            return
        if name == "guid":
            self.item["id"] = _finish(pieces, self.guid_is_link, self.utf8)
            self.item["_guid_is_link"] = self.guid_is_link
        elif name == "link":
            out = _finish(pieces, True, self.utf8).replace("&amp;", "&")
            self.item["link"] = _LINK_ENTITY.sub(r"&\g<1>", out)
        elif name == "title":
            self.item["title"] = _finish(pieces, False, self.utf8)
        elif name == "description":
            self.item["summary"] = _finish(pieces, False, self.utf8)
        else:  # pubDate
            self.item["published_parsed"] = _parse_date(_finish(pieces, False, self.utf8))

    def _close_item(self, item: dict[str, Any]) -> None:
        if item.pop("_guid_is_link", False) and "link" not in item:
            item["link"] = item["id"]
        if "title" in item:
            plain = not _looks_like_html(item["title"])
            item["title_detail"] = {"type": "text/plain" if plain else "text/html"}


def parse_rss(body: bytes, headers: dict[str, str]) -> dict[str, Any] | None:
    """feedparser-shaped {"feed", "entries", "version"} for a simple RSS 2.0 document, else
    None (feedparser must read it)."""
    encoding = _encoding(body, headers)
    if encoding is None:
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    reader = _Reader(encoding == "utf-8")
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.data
    try:
        parser.Parse(body, True)
    except (_Bail, expat.ExpatError, ValueError, RecursionError):
        return None
    if not reader.entries:
        return None
    return {"feed": reader.feed, "entries": reader.entries, "version": "rss20"}
