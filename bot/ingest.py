"""Parsed entries to storable entries: absolute links, identity keys, content hashes."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urljoin

from bot.identity import content_hash, entry_identity, normalize_url
from bot.parse import ParsedEntry
from storage.items import NewEntry

MAX_URL_KEY = 2048  # Item.url_key is VARCHAR(2048): PostgreSQL would refuse the whole batch


def _url_key(link: str) -> str | None:
    key = normalize_url(link)
    return key if key and len(key) <= MAX_URL_KEY else None


def to_new_entries(
    entries: list[ParsedEntry], base_url: str | None, default_language: str | None
) -> list[NewEntry]:
    """Give each entry its identity, knowing which guids and links repeat inside the document."""
    links = [urljoin(base_url, e.link) if base_url and e.link else e.link for e in entries]
    guid_counts = Counter(e.guid for e in entries if e.guid)
    link_counts = Counter(link for link in links if link)
    out: list[NewEntry] = []
    for e, link in zip(entries, links, strict=True):
        if not (e.title or e.summary or link):
            continue
        ident = entry_identity(
            e.guid,
            link,
            e.title,
            e.summary,
            guid_repeats=bool(e.guid and guid_counts[e.guid] > 1),
            link_repeats=bool(link and link_counts[link] > 1),
        )
        out.append(
            NewEntry(
                identity=ident,
                # A link shared by several entries of one document is not an article's address.
                url_key=_url_key(link) if link and link_counts[link] == 1 else None,
                content_hash=content_hash(e.title, e.summary, link),
                guid=e.guid,
                link=link,
                title=e.title,
                summary=e.summary,
                published_at=e.published,
                language=e.language or default_language,
                author=e.author,
            )
        )
    return out
