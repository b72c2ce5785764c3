"""Parsing fetched bytes into entries with feedparser, defended against hostile documents.

feedparser expands internal XML entities it calls "safe" (one 10 KB entity referenced 100,000
times is gigabytes) and 6.0.14 can raise instead of setting bozo: both are handled here, so one
bad feed is that feed's error, never the pass's. Entity declarations are bounded inside
feedparser's own DOCTYPE step, i.e. after it decoded the document, so no encoding (UTF-16,
EBCDIC...) and no prologue padding can hide them.
"""

from __future__ import annotations

import calendar
import gzip
import re
import threading
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser
import feedparser.api

from bot.fastrss import parse_rss
from bot.textutil import clean_text, html_to_text, one_line

_DOCTYPE_SUBSET = re.compile(rb"<!DOCTYPE[^\[>]*\[.*?\]\s*>", re.DOTALL | re.IGNORECASE)
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
MAX_SUMMARY_CHARS = 8_000
MAX_TITLE_CHARS = 1_000
MAX_AUTHOR_CHARS = 300
MAX_LINK_CHARS = 4_096
MAX_ENTRIES = 2_000
# bot.fastrss reads plain RSS 2.0 without feedparser (same result, ~10x faster); a switch so
# bench/real_feeds.py can compare both paths on every document.
FAST_PATH = True

# Entity policy: keep small text entities (`<!ENTITY nbsp "&#160;">`, a publisher's name)
# within a total expansion budget; drop everything else.
MAX_ENTITY_CHARS = 64
MAX_ENTITIES = 64
ENTITY_EXPANSION_BUDGET = 1024 * 1024


class FeedParseError(Exception):
    """The document yields no entries; str() is one sentence for the admin."""


@dataclass
class ParsedEntry:
    guid: str | None
    link: str | None
    title: str
    summary: str
    published: datetime | None
    author: str | None = None
    language: str | None = None


@dataclass
class ParsedFeed:
    title: str
    entries: list[ParsedEntry]
    warning: str | None = None  # bozo reason of a feed that still parsed
    ttl_minutes: int | None = None
    language: str | None = None
    stats: dict[str, int] = field(default_factory=dict)


_ENTITY_PATTERN = re.compile(rb"^\s*<!ENTITY([^>]*?)>", re.MULTILINE)
_DOCTYPE_PATTERN = re.compile(rb"^\s*<!DOCTYPE([^>]*?)>", re.MULTILINE)
_SAFE_ENTITY_PATTERN = re.compile(rb'\s+(\w+)\s+"(&#\w+;|[^&"]*)"')
_ENTITY_REF = re.compile(rb"&(\w+);")
_local = threading.local()
_SPACE = re.compile(r"\s")  # what str.isspace() calls white space
# Numeric character references feedparser 6.0.14 crashes on (surrogates: UnicodeEncodeError,
# above U+10FFFF: ValueError, huge numbers: OverflowError); only long ones are looked at.
_SUSPECT_CHAR_REF = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]{4,})|0*([0-9]{5,}));")


def _fix_char_ref(m: re.Match[bytes]) -> bytes:
    hex_digits, dec_digits = m.group(1), m.group(2)
    if len(hex_digits or dec_digits) > 8:
        return b"&#xFFFD;"
    value = int(hex_digits, 16) if hex_digits else int(dec_digits)
    if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
        return b"&#xFFFD;"
    return m.group(0)


def _bounded_replace_doctype(data: bytes) -> tuple[str | None, bytes, dict[str, str]]:
    """feedparser's `replace_doctype` (sanitizer.py, 6.0.14) with a bound on what entities
    may expand to. Called by feedparser on the document already converted to UTF-8."""
    m = re.search(rb"<\w", data)
    start = m.start() if m else -1
    head, rest = data[: start + 1], data[start + 1 :]
    entity_results = _ENTITY_PATTERN.findall(head)
    head = _ENTITY_PATTERN.sub(b"", head)
    doctype_results = _DOCTYPE_PATTERN.findall(head)
    doctype = doctype_results[0] if doctype_results else b""
    version = "rss091n" if b"netscape" in doctype.lower() else None
    if b"<!entity" in head.lower():
        # A declaration the line-anchored pattern missed (e.g. on the DOCTYPE's line):
        # feedparser would cut the DOCTYPE at its first ">", we drop the whole subset.
        head = _DOCTYPE_SUBSET.sub(b"", head)
        _local.dropped = True
    kept: dict[bytes, bytes] = {}
    if len(doctype_results) == 1 and entity_results:
        refs = Counter(_ENTITY_REF.findall(rest))
        budget = ENTITY_EXPANSION_BUDGET
        for decl in entity_results[:MAX_ENTITIES]:
            sm = _SAFE_ENTITY_PATTERN.match(decl)
            if not sm or len(sm.group(2)) > MAX_ENTITY_CHARS:
                continue
            cost = len(sm.group(2)) * refs[sm.group(1)]
            if cost > budget:
                continue
            budget -= cost
            kept[sm.group(1)] = sm.group(2)
    if len(kept) < len(entity_results):
        _local.dropped = True
    replacement = b""
    if kept:
        replacement = (
            b"<!DOCTYPE feed [\n"
            + b"\n".join(b'<!ENTITY %s "%s">' % (k, v) for k, v in kept.items())
            + b"\n]>"
        )
    if _SUSPECT_CHAR_REF.search(rest):
        rest = _SUSPECT_CHAR_REF.sub(_fix_char_ref, rest)
    data = _DOCTYPE_PATTERN.sub(lambda _m: replacement, head) + rest
    return version, data, {k.decode("utf-8"): v.decode("utf-8") for k, v in kept.items()}


feedparser.api.replace_doctype = _bounded_replace_doctype


def defuse(body: bytes) -> tuple[bytes, bool]:
    """Apply the entity policy to raw bytes (an ASCII-compatible document); True if any
    declaration was dropped. parse_feed does this inside feedparser, after decoding."""
    _local.dropped = False
    _version, data, _entities = _bounded_replace_doctype(body)
    return data, bool(_local.dropped)


def _maybe_gunzip(body: bytes, max_bytes: int) -> bytes:
    """Some servers send gzip bytes without Content-Encoding; inflate them within the cap."""
    if body[:2] != b"\x1f\x8b":
        return body
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(body, max_bytes + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise FeedParseError(f"the body looks gzip-compressed but is corrupt ({exc})") from None
    if len(out) > max_bytes:
        raise FeedParseError("the decompressed body is larger than the size limit")
    return out


_XML_DECL = re.compile(
    rb"^(\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']"
)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
_UTF8_NAMES = frozenset({"utf-8", "utf8"})
# Single-byte charsets: text in them is practically never valid UTF-8 with multi-byte
# sequences, so a body that is must have been mislabelled.
_SINGLE_BYTE = re.compile(
    r"^(us-?ascii|ascii|latin-?[0-9]+|l[0-9]|iso[-_]?8859[-_]?[0-9]+|iso[-_]?ir[-_]?[0-9]+"
    r"|(windows|cp|win)-?125[0-8]|koi8[-_]?[a-z]+|mac[-_]?[a-z]*)$"
)


def _declared(body: bytes, headers: dict[str, str]) -> tuple[str | None, str | None]:
    """The charset of the Content-Type header and of the XML declaration, lower-cased."""
    http = _CHARSET.search(headers.get("content-type", ""))
    xml = _XML_DECL.match(body[:512])
    return (
        http.group(1).lower() if http else None,
        xml.group(2).decode("ascii").lower() if xml else None,
    )


def fix_encoding(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str], str | None]:
    """Repair the two mislabellings feedparser decodes into mojibake.

    * A UTF-8 document with a few invalid bytes: feedparser re-reads the whole document as
      windows-1252, garbling every Arabic or accented character; we replace the bad bytes.
    * A UTF-8 document declared as a single-byte charset (ISO-8859-1, windows-1252...): we
      relabel it UTF-8.
    Returns the body, the headers for feedparser, and a warning (or None).
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            # A byte order mark beats any label (HTTP says utf-8, the file is UTF-16...).
            text = body[len(bom) :].decode(codec, "replace")
            return _relabel_utf8(text.encode("utf-8")), _utf8_headers(headers), None
    if b"\x00" in body[:4]:
        return body, headers, None  # UTF-16/32 without BOM: feedparser's sniffing handles it
    http, xml = _declared(body, headers)
    declared = [d for d in (http, xml) if d]
    if body.isascii():
        return body, headers, None
    try:
        body.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    if valid:
        wrong = [d for d in declared if d not in _UTF8_NAMES and _SINGLE_BYTE.match(d)]
        if not wrong:
            return body, headers, None
        return (
            _relabel_utf8(body),
            _utf8_headers(headers),
            f"declared as {wrong[0]} but the bytes are UTF-8; read as UTF-8",
        )
    if any(d not in _UTF8_NAMES for d in declared):
        return body, headers, None  # declared something else: feedparser decodes that
    text = body.decode("utf-8", "replace")
    bad = text.count("\ufffd") - body.count("\ufffd".encode())
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    good = non_ascii - bad - body.count("\ufffd".encode())
    if good < 4 * bad:
        return body, headers, None  # mostly not UTF-8 (e.g. Latin-1): feedparser falls back
    return (
        text.encode("utf-8"),
        _utf8_headers(headers),
        f"{bad} invalid UTF-8 byte sequence(s) replaced",
    )


def _relabel_utf8(body: bytes) -> bytes:
    m = _XML_DECL.match(body[:512])
    if not m:
        return body
    return body[: m.start(2)] + b"utf-8" + body[m.end(2) :]


def _utf8_headers(headers: dict[str, str]) -> dict[str, str]:
    ct = headers.get("content-type", "")
    if not ct:
        return headers
    ct = _CHARSET.sub("charset=utf-8", ct) if _CHARSET.search(ct) else f"{ct}; charset=utf-8"
    return {**headers, "content-type": ct}


def parse_feed(
    body: bytes,
    headers: dict[str, str] | None = None,
    url: str | None = None,
    max_bytes: int = 15 * 1024 * 1024,
) -> ParsedFeed:
    """Parse one document; raise FeedParseError when it yields nothing usable."""
    if not body or not body.strip():
        raise FeedParseError("the server sent an empty body")
    body = _maybe_gunzip(body, max_bytes)
    if not body.strip():
        raise FeedParseError("the server sent an empty (compressed) body")
    if body[:1].isspace():
        # White space before `<?xml` makes the strict parser give up on the whole document.
        body = body.lstrip()
    response_headers = {k.lower(): v for k, v in (headers or {}).items()}
    # The body is already decoded; the parser must not see (or act on) the transfer coding.
    response_headers.pop("content-encoding", None)
    # `url` is deliberately not given to feedparser as the base URI: it would resolve relative
    # Atom ids against it ("42" -> "https://host/feed/42"), so a feed that moves would change
    # every item's identity. Links are made absolute by bot.ingest against the final URL.
    del url
    body, response_headers, encoding_note = fix_encoding(body, response_headers)
    _local.dropped = False
    fast = parse_rss(body, response_headers) if FAST_PATH else None
    try:
        # No HTML sanitising or URI rewriting inside content: we reduce it to plain text
        # anyway, and those passes re-parse every summary (a third of the parse time).
        parsed: Any = fast or feedparser.parse(
            body,
            response_headers=response_headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:
        raise FeedParseError(
            "the feed parser crashed on this document "
            f"({type(exc).__name__}: {str(exc)[:200]}); it cannot be read until it changes"
        ) from None
    dropped = bool(_local.dropped)
    entries_raw = parsed.get("entries") or []
    bozo = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not entries_raw and not parsed.get("version"):
        head = body[:2048].lower()
        if b"<html" in head or b"<!doctype html" in head:
            raise FeedParseError("the server sent an HTML page, not a feed")
        reason = f" ({type(bozo).__name__}: {str(bozo)[:200]})" if bozo else ""
        raise FeedParseError(f"the document is not an RSS, Atom or RDF feed{reason}")
    feed_meta = parsed.get("feed") or {}
    language = _lang(feed_meta.get("language"))
    entries = [_entry(e, language) for e in entries_raw[:MAX_ENTRIES]]
    notes: list[str] = []
    if dropped:
        notes.append("XML entity declarations were removed (possible entity-expansion attack)")
    if encoding_note:
        notes.append(encoding_note)
    if bozo:
        notes.append(f"{type(bozo).__name__}: {str(bozo)[:300]}")
    return ParsedFeed(
        title=one_line(html_to_text(feed_meta.get("title"), MAX_TITLE_CHARS)),
        entries=entries,
        warning="; ".join(notes) or None,
        ttl_minutes=_int(feed_meta.get("ttl")),
        language=language,
    )


def _entry(e: Any, feed_language: str | None) -> ParsedEntry:
    title_detail = e.get("title_detail") or {}
    raw_title = e.get("title") or ""
    if "html" in (title_detail.get("type") or ""):
        title = html_to_text(raw_title, MAX_TITLE_CHARS)
    else:
        title = clean_text(raw_title[:MAX_TITLE_CHARS])
    summary_html = e.get("summary") or ""
    if not summary_html and e.get("content"):
        summary_html = e["content"][0].get("value") or ""
    link = clean_text(e.get("link") or "").strip() or None
    if link and (len(link) > MAX_LINK_CHARS or _SPACE.search(link)):
        link = _tidy_link(link)
    guid = clean_text(e.get("id") or "").strip() or None
    author = one_line(clean_text(e.get("author") or ""))[:MAX_AUTHOR_CHARS] or None
    return ParsedEntry(
        guid=guid,
        link=link,
        title=one_line(title),
        summary=html_to_text(summary_html, MAX_SUMMARY_CHARS),
        published=_date(e),
        author=author,
        language=_lang(title_detail.get("language")) or feed_language,
    )


def _tidy_link(link: str) -> str | None:
    """Pretty-printed feeds put newlines and indentation inside <link>; a link is one token."""
    link = "".join(link.split())
    return link if link and len(link) <= MAX_LINK_CHARS else None


def _date(e: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = e.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _lang(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    code = value.strip().lower().replace("_", "-").split("-")[0]
    return code if 2 <= len(code) <= 3 and code.isalpha() else None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
