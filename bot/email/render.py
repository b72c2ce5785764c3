"""Render a digest (and the confirmation mail) from Jinja2 templates, as plain text and HTML.

Feed text is untrusted: it is reduced to one line of plain text here and escaped by the HTML
template (autoescape is on for everything but `.txt` templates); links are http(s) only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bot.telegram.html import clean_text, safe_url, shorten, strip_markup
from storage.models import Item

TITLE_CHARS = 300
SNIPPET_CHARS = 280
SNIPPET_LEAD = 80  # characters kept before the first matched term when the snippet is cut
MAX_TERMS = 12


@dataclass(frozen=True)
class Piece:
    """A run of snippet text; `hit` when it is a matched term (shown highlighted)."""

    text: str
    hit: bool = False


@dataclass(frozen=True)
class DigestItem:
    title: str
    url: str | None
    source: str
    date: str
    snippet: tuple[Piece, ...]
    score: float


@dataclass(frozen=True)
class Section:
    label: str
    items: tuple[DigestItem, ...]


@dataclass(frozen=True)
class Digest:
    """Everything the digest templates show."""

    date: str
    sections: tuple[Section, ...]
    unsubscribe_url: str
    count: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "count", sum(len(s.items) for s in self.sections))

    @property
    def subject(self) -> str:
        noun = "item" if self.count == 1 else "items"
        return f"watchbot daily digest, {self.date}: {self.count} {noun}"


_ENV = Environment(
    loader=PackageLoader("bot.email", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), disabled_extensions=("txt",)),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def render(name: str, **context: object) -> str:
    return _ENV.get_template(name).render(**context)


def one_line(text: str | None) -> str:
    """Feed text as a single line: no control characters, no line breaks."""
    return " ".join(clean_text(text).split())


def topic_label(topic: str, labels: Mapping[str, str]) -> str:
    return labels.get(topic) or topic.replace("_", " ").capitalize()


def matched_terms(item: Item) -> list[str]:
    terms: list[str] = []
    for match in item.matches or []:
        term = one_line(str(match.get("term", "")))
        if term and term.casefold() not in (t.casefold() for t in terms):
            terms.append(term)
    return terms[:MAX_TERMS]


def highlight(text: str, terms: Sequence[str]) -> tuple[Piece, ...]:
    """Split `text` into plain and matched pieces (case-insensitive, longest term first)."""
    if not text:
        return ()
    ordered = sorted({t for t in terms if t}, key=len, reverse=True)
    if not ordered:
        return (Piece(text),)
    pattern = re.compile("|".join(re.escape(t) for t in ordered), re.IGNORECASE)
    pieces: list[Piece] = []
    at = 0
    for m in pattern.finditer(text):
        if m.start() > at:
            pieces.append(Piece(text[at : m.start()]))
        pieces.append(Piece(m.group(0), hit=True))
        at = m.end()
    if at < len(text):
        pieces.append(Piece(text[at:]))
    return tuple(pieces)


def snippet(item: Item, terms: Sequence[str]) -> tuple[Piece, ...]:
    """A short excerpt of the summary, cut so the first matched term is in it."""
    text = one_line(strip_markup(item.summary))
    lowered = text.casefold()
    first = min((p for p in (lowered.find(t.casefold()) for t in terms) if p >= 0), default=-1)
    if first > SNIPPET_CHARS - SNIPPET_LEAD:
        start = text.rfind(" ", 0, first - SNIPPET_LEAD) + 1
        text = "…" + text[start:]
    return highlight(shorten(text, SNIPPET_CHARS), terms)


def digest_item(item: Item, source: str, when: str) -> DigestItem:
    terms = matched_terms(item)
    return DigestItem(
        title=shorten(one_line(item.title) or "(untitled)", TITLE_CHARS),
        url=safe_url(item.link),
        source=shorten(one_line(source) or "?", 100),
        date=when,
        snippet=snippet(item, terms),
        score=item.score,
    )


def render_digest(digest: Digest) -> tuple[str, str]:
    """(plain text, HTML) of one digest."""
    return render("digest.txt", d=digest), render("digest.html", d=digest)


def render_confirmation(address: str, confirm_url: str, code: str) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of the double opt-in mail."""
    subject = "Confirm your watchbot digest subscription"
    context = {"address": address, "url": confirm_url, "code": code}
    return subject, render("confirm.txt", **context), render("confirm.html", **context)
