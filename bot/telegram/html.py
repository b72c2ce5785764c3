"""Turn untrusted feed text into safe Telegram HTML.

Feed text is never passed through as markup: it is cleaned to plain text and escaped, and
only our own templates add tags (b, i, a). So a title like `<script>&` or `<b>unclosed`
is delivered as text instead of being rejected with "can't parse entities".
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urlsplit

_TAG = re.compile(r"<[^>]{0,2000}>")
_SPACE = re.compile(r"[ \t\r\f\v]+")
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufeff]")


def clean_text(text: str | None) -> str:
    """Plain text from feed text: drop control chars and lone surrogates, squeeze spaces."""
    if not text:
        return ""
    text = _BAD_CHARS.sub("", text)
    return _SPACE.sub(" ", text).strip()


def strip_markup(text: str | None) -> str:
    """Plain text from an HTML snippet (feed summaries): tags removed, entities decoded."""
    if not text:
        return ""
    return clean_text(html.unescape(_TAG.sub(" ", text)))


def escape(text: str | None) -> str:
    """Escape plain text for Telegram HTML (the only entities it needs are &amp; &lt; &gt;)."""
    text = clean_text(text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shorten(text: str, limit: int) -> str:
    """Cut plain text to `limit` characters at a word boundary; escape after, never before."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for href="…", or None (javascript:, data: and junk are not linked)."""
    url = clean_text(url)
    if not url or len(url) > 2048:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    # Percent-encode spaces, quotes and angle brackets; keep everything URL-legal as is.
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")


def link(text: str, url: str | None) -> str:
    """`text` (already escaped) as a link when the URL is usable, else the text alone."""
    href = safe_url(url)
    if href is None:
        return text
    return f'<a href="{href.replace("&", "&amp;")}">{text}</a>'


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units); an emoji counts two."""
    return len(text.encode("utf-16-le")) // 2
