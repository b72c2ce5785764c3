"""HTML to plain text for feed titles and summaries (stored as text; escaped again on output)."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_BLOCK = frozenset(
    {
        "p",
        "br",
        "div",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "section",
        "article",
        "ul",
        "ol",
        "table",
    }
)
_SKIP = frozenset({"script", "style", "noscript", "template", "head"})
# Runs of two or more, or any single non-space: a lone " " needs no rewriting.
_WS = re.compile(r"[ \t\r\f\v\u00a0\u200b]{2,}|[\t\r\f\v\u00a0\u200b]")
_NL = re.compile(r"\s*\n\s*")
# C0 controls other than tab/newline/CR, DEL, and lone surrogates: PostgreSQL rejects NUL in
# text, SQLite's driver cannot encode a surrogate, and none of them is meaningful in news.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def clean_text(value: str) -> str:
    """Drop characters no database or reader can take (NUL, other controls, surrogates)."""
    return _CONTROL.sub("", value) if _CONTROL.search(value) else value


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_to_text(value: str | None, limit: int = 10_000) -> str:
    """Strip tags, decode entities, fold white space; cut long bodies at a word boundary."""
    if not value:
        return ""
    if "<" in value or "&" in value:
        parser = _Text()
        try:
            parser.feed(value)
            parser.close()
            value = "".join(parser.parts)
        except Exception:
            value = html.unescape(re.sub(r"<[^>]*>", " ", value))
    return clip(collapse(clean_text(value)), limit)


def collapse(value: str) -> str:
    """Fold runs of spaces to one and blank-padded line breaks to one newline.

    Same result as `_NL.sub("\n", _WS.sub(" ", value)).strip()`, done with split/strip
    (and only multi-space runs rewritten): the regex form was a tenth of parsing a feed.
    """
    value = _WS.sub(" ", value)
    if "\n" not in value:
        return value.strip()
    return "\n".join(line for line in (part.strip() for part in value.split("\n")) if line)


def one_line(value: str) -> str:
    return " ".join(value.split())


def clip(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    cut = value[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"
