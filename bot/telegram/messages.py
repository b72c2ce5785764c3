"""Render alerts, digests and item lists as Telegram HTML, and split long text on item boundaries.

Everything from a feed goes through `html.escape`/`html.link`; our own tags are balanced by
construction. Lengths are measured in UTF-16 units on the HTML source, which is never shorter
than the parsed text Telegram counts, so a part we accept is never "message is too long".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram import html
from bot.telegram.i18n import t
from storage.delivery import Subscriber
from storage.models import Item
from storage.timeutil import as_utc

MAX_MESSAGE = 4096
TITLE_CHARS = 300
SUMMARY_CHARS = 300
MAX_EVIDENCE = 6
_HASHTAG_JUNK = re.compile(r"[^\w]+")


MAX_ALSO = 8  # outlets named after "also reported by"; the rest are counted
# Our own words for stories; kept here beside the one template that uses them.
_ALSO = {"en": "also reported by", "ar": "ونشرته أيضاً"}
_MORE = {"en": "{n} more", "ar": "{n} غيرها"}


@dataclass(frozen=True)
class Entry:
    """An item with the name of the feed it came from, ready to render.

    `also`: the other outlets that reported the same story (see bot.stories).
    """

    item: Item
    source: str
    also: tuple[str, ...] = ()


def also_reported(also: Sequence[str], lang: str) -> str:
    """ "also reported by A, B, 3 more" as escaped HTML; "" when nobody else did."""
    if not also:
        return ""
    names = [html.escape(html.shorten(name, 60)) for name in also[:MAX_ALSO]]
    if len(also) > MAX_ALSO:
        names.append(_MORE.get(lang, _MORE["en"]).format(n=len(also) - MAX_ALSO))
    return f"{_ALSO.get(lang, _ALSO['en'])} {', '.join(names)}"


def zone(name: str) -> ZoneInfo:
    """The subscriber's zone, or UTC if the stored name is unknown on this machine."""
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def local_time(value: datetime, tz: str) -> str:
    """A stored UTC time as the subscriber reads it, e.g. `2025-01-31 15:05 CET`."""
    local = as_utc(value).astimezone(zone(tz))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or tz}"


def topic_label(topic: str, labels: Mapping[str, str]) -> str:
    return labels.get(topic) or topic.replace("_", " ").capitalize()


def hashtag(topic: str) -> str:
    return "#" + (_HASHTAG_JUNK.sub("_", topic).strip("_") or "topic")


def feedback_markup(item_id: int) -> dict[str, Any]:
    """👍/👎 buttons, stored as JSON in the outbox row."""
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("👍", callback_data=f"fb:{item_id}:up"),
                InlineKeyboardButton("👎", callback_data=f"fb:{item_id}:down"),
            ]
        ]
    )
    return keyboard.to_dict()


def _title(item: Item) -> str:
    title = html.shorten(html.clean_text(item.title) or "(untitled)", TITLE_CHARS)
    return html.link(html.escape(title), item.link)


def _evidence(item: Item) -> str:
    seen: list[str] = []
    for match in item.matches or []:
        term = html.clean_text(str(match.get("term", "")))
        if not term:
            continue
        field = html.clean_text(str(match.get("field", "")))
        shown = f"“{html.escape(html.shorten(term, 60))}”"
        if field:
            shown += f" ({html.escape(field)})"
        if shown not in seen:
            seen.append(shown)
    return ", ".join(seen[:MAX_EVIDENCE])


def render_alert(entry: Entry, sub: Subscriber) -> str:
    """The instant alert: linked title, snippet, source, local time, tags and the evidence."""
    item, lang = entry.item, sub.language
    lines = [f"🔔 <b>{_title(item)}</b>"]
    summary = html.shorten(html.strip_markup(item.summary), SUMMARY_CHARS)
    if summary:
        lines.append(f"<i>{html.escape(summary)}</i>")
    when = local_time(item.published_at or item.first_seen_at, sub.timezone)
    source = f"📰 {t(lang, 'source')}: {html.escape(html.shorten(entry.source, 100))}"
    also = also_reported(entry.also, lang)
    if also:
        source += f" · {also}"
    lines.append(f"{source}\n🕒 {t(lang, 'published')}: {html.escape(when)}")
    if item.topics:
        lines.append("🏷 " + " ".join(html.escape(hashtag(tp)) for tp in item.topics))
    evidence = _evidence(item)
    if evidence:
        lines.append(f"🔎 {t(lang, 'matched')}: {evidence}")
    text = "\n".join(lines)
    if html.utf16_len(text) > MAX_MESSAGE:  # only with absurd topic lists; keep the essentials
        text = "\n".join(lines[:3])
    return text


def render_line(entry: Entry, tz: str | None = None, lang: str = "en") -> str:
    """One item (or story) in a digest or list: linked title, source and the other outlets
    that reported it, and the date when `tz` is given."""
    meta = html.escape(html.shorten(entry.source, 80))
    also = also_reported(entry.also, lang)
    if also:
        meta += f" · {also}"
    if tz is not None:
        item = entry.item
        meta += " · " + html.escape(local_time(item.published_at or item.first_seen_at, tz))
    return f"• {_title(entry.item)} — <i>{meta}</i>"


def pack(header: str, blocks: Sequence[tuple[str, str]], limit: int = MAX_MESSAGE) -> list[str]:
    """Split (section heading, item line) pairs into messages of at most `limit` units.

    Never cuts inside an item; a section that runs over repeats its heading in the next part.
    """
    parts: list[str] = []
    current = header
    current_section: str | None = None
    for section, line in blocks:
        opens_section = bool(section) and section != current_section
        addition = f"\n{section}\n{line}" if opens_section else line
        candidate = f"{current}\n{addition}" if current else addition
        if html.utf16_len(candidate) > limit and current != header:
            parts.append(current)
            current = f"{section}\n{line}" if section else line
        else:
            current = candidate
        current_section = section
    if current and current != header:
        parts.append(current)
    return parts


def render_list(title: str, entries: Sequence[Entry], tz: str) -> list[str]:
    """/latest and /search results, split like digests."""
    return pack(title, [("", render_line(e, tz)) for e in entries])


def group_by_topic(
    entries: Sequence[Entry], sub: Subscriber, labels: Mapping[str, str]
) -> list[tuple[str, list[Entry]]]:
    """Each item under its first wanted topic; sections and items ranked by score."""
    sections: dict[str, list[Entry]] = {}
    for entry in entries:
        wanted = [tp for tp in entry.item.topics if tp not in sub.topics_off]
        key = wanted[0] if wanted else ""
        sections.setdefault(key, []).append(entry)
    for items in sections.values():
        items.sort(key=lambda e: (-e.item.score, -e.item.first_seen_at.timestamp()))
    order = sorted(sections, key=lambda k: (k == "", -sections[k][0].item.score, k))
    return [
        (topic_label(k, labels) if k else t(sub.language, "other_topics"), sections[k])
        for k in order
    ]


def render_digest(
    entries: Sequence[Entry],
    sub: Subscriber,
    labels: Mapping[str, str],
    period_label: str,
    weekly: bool = False,
) -> list[str]:
    """The digest as one or more messages; [] when there is nothing to send."""
    if not entries:
        return []
    lang = sub.language
    key = "digest_weekly" if weekly else "digest_daily"
    header = t(lang, key, date=html.escape(period_label), count=len(entries))
    blocks = [
        (f"<b>{html.escape(label)}</b>", render_line(entry, lang=lang))
        for label, group in group_by_topic(entries, sub, labels)
        for entry in group
    ]
    reserve = html.utf16_len(t(lang, "digest_more", part=999, parts=999)) + 2
    parts = pack(header, blocks, MAX_MESSAGE - reserve)
    if len(parts) > 1:
        parts = [parts[0]] + [
            t(lang, "digest_more", part=i + 1, parts=len(parts)) + "\n" + body
            for i, body in enumerate(parts[1:], start=1)
        ]
    return parts
