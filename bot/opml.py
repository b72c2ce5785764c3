"""OPML import and export, the format every feed reader speaks."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from bot.feeds_file import FeedSpec


class OpmlError(Exception):
    pass


@dataclass(frozen=True)
class OpmlFeed:
    name: str
    url: str
    language: str | None
    tags: tuple[str, ...]


def read_opml(data: bytes) -> list[OpmlFeed]:
    """Every outline with an xmlUrl; enclosing outlines become tags."""
    if b"<!ENTITY" in data.upper():
        raise OpmlError("the OPML file declares XML entities; refused")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise OpmlError(f"the OPML file is not well-formed XML ({exc})") from None
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise OpmlError("the file is not OPML (no <opml><body>)")
    out: list[OpmlFeed] = []

    def walk(node: ET.Element, tags: tuple[str, ...]) -> None:
        for child in node.findall("outline"):
            url = child.get("xmlUrl") or child.get("xmlurl")
            title = child.get("title") or child.get("text") or url or ""
            if url:
                lang = child.get("language")
                out.append(OpmlFeed(title.strip() or url, url.strip(), lang, tags))
            else:
                walk(child, (*tags, title.strip()) if title.strip() else tags)

    walk(body, ())
    return out


def write_opml(feeds: list[FeedSpec], title: str = "watchbot feeds") -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{_esc(title)}</title></head>",
        "  <body>",
    ]
    for f in feeds:
        name = quoteattr(f.name)
        attrs = f'type="rss" text={name} title={name} xmlUrl={quoteattr(f.url)}'
        if f.language:
            attrs += f" language={quoteattr(f.language)}"
        if f.tags:
            attrs += f" category={quoteattr(','.join(f.tags))}"
        lines.append(f"    <outline {attrs}/>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def yaml_entries(feeds: list[OpmlFeed]) -> str:
    """YAML text for new `feeds:` entries, appended as text so the admin's comments survive."""
    import json

    parts: list[str] = []
    for f in feeds:
        parts.append(f"  - name: {json.dumps(f.name, ensure_ascii=False)}")
        parts.append(f"    url: {json.dumps(f.url)}")
        if f.language:
            parts.append(f"    language: {json.dumps(f.language)}")
        if f.tags:
            parts.append(f"    tags: {json.dumps(list(f.tags), ensure_ascii=False)}")
    return "\n".join(parts) + "\n"


def insert_feed_entries(text: str, entries_yaml: str) -> str:
    """Put new entries at the end of the `feeds:` section (before `topics:` if it follows)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.startswith("feeds:")), None)
    if start is None:
        return f"feeds:\n{entries_yaml}" + text
    if lines[start].strip() in ("feeds: []", "feeds:[]"):
        lines[start] = "feeds:\n"
    end = len(lines)
    for i in range(start + 1, len(lines)):
        ln = lines[i]
        if ln.strip() and not ln[0].isspace() and not ln.startswith(("#", "-")):
            end = i
            break
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    if end > 0 and not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    return "".join(lines[:end]) + entries_yaml + "".join(lines[end:])
