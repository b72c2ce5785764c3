"""Labelled items as JSON lines in the evaluation-set format (`watchbot eval` reads it).

Fields match the shared development set: id, title, text, lang, published, url, label, kind,
why and the source fields (here: the feed's URL and the item's link).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from sqlmodel import Session, col, select

from bot.rules.verdicts import votes
from bot.telegram import html
from storage.models import Feed, Item

TEXT_CHARS = 1500


def _text(summary: str) -> str:
    """Plain text, cut at a word boundary and marked `…` like the shared set."""
    text = html.strip_markup(summary)
    return html.shorten(text, TEXT_CHARS) if len(text) > TEXT_CHARS else text


def _why(label: int, by: str) -> str:
    what = "relevant" if label else "not relevant"
    if by == "telegram":
        return f"An admin's 👍/👎 on the alert in Telegram marked it {what}."
    return f"Labelled {what} by an admin ({by})."


def labelled_rows(session: Session, admin_ids: Collection[int]) -> Iterator[dict[str, Any]]:
    """One object per labelled item, oldest first."""
    labelled = {i: v for i, v in votes(session, admin_ids).items() if v.label is not None}
    ids = sorted(labelled)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.exec(
            select(Item, Feed.url)
            .join(Feed, col(Feed.id) == col(Item.feed_id))
            .where(col(Item.id).in_(chunk))
            .order_by(col(Item.id))
        ).all()
        for item, feed_url in rows:
            assert item.id is not None
            v = labelled[item.id]
            assert v.label is not None
            when = item.published_at or item.first_seen_at
            if v.label:
                kind = "positive"
            else:  # the rules picked it, so it is a near miss worth keeping
                kind = "hard_negative" if item.tier != "ignore" else "easy_negative"
            yield {
                "id": f"wb-{item.id}",
                "title": html.clean_text(item.title),
                "text": _text(item.summary),
                "lang": (item.language or "").split("-")[0].lower(),
                "published": f"{when:%Y-%m-%d}",
                "url": item.link or "",
                "label": v.label,
                "kind": kind,
                "why": _why(v.label, v.label_by),
                "source_repo": "",
                "source_path": feed_url,
                "source_commit": "",
                "source_key": item.link or f"item:{item.id}",
            }
