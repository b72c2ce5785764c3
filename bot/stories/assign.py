"""Give each newly classified relevant item its story, inside the dispatch transaction.

Only relevant items that are not backfill are grouped: they are the ones alerted and listed
in digests, and they are few, so the candidate pool (such items of the last 72 hours) stays
small. A new feed's backlog would otherwise flood the pool with items nobody is shown.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from bot.stories.fingerprint import fingerprint
from bot.stories.index import StoryIndex
from storage.models import Item
from storage.stories import StoryLink, story_ids
from storage.timeutil import as_utc


def language_key(language: str | None) -> str:
    """ "en-GB" and "en" compare as one language; unknown languages form their own group."""
    return (language or "").strip().lower().replace("_", "-").split("-")[0]


def _pool(session: Session, batch: Sequence[Item], index: StoryIndex) -> None:
    """Load the recent relevant items already dispatched, with their stories."""
    since = min(as_utc(i.first_seen_at) for i in batch) - index.window
    languages = sorted({i.language for i in batch if i.language})
    query = select(Item).where(
        col(Item.tier) != "ignore",
        ~col(Item.backfill),
        col(Item.first_seen_at) >= since,
        col(Item.dispatched_at).is_not(None),
    )
    if all(i.language for i in batch):
        query = query.where(col(Item.language).in_(languages))
    rows = session.exec(query.order_by(col(Item.id))).all()
    stories = story_ids(session, (r.id for r in rows if r.id is not None))
    for row in rows:
        assert row.id is not None
        fp = fingerprint(row.title, row.summary)
        index.add(
            row.id, stories[row.id], language_key(row.language), as_utc(row.first_seen_at), fp
        )


def assign_stories(session: Session, items: Sequence[Item]) -> dict[int, int]:
    """Link each relevant item to the story it repeats (or none: it starts one).

    Returns item id → story id for the relevant items given. Items are taken oldest first,
    so a story's id is always its earliest item.
    """
    batch = sorted(
        (i for i in items if i.tier != "ignore" and not i.backfill), key=lambda i: i.id or 0
    )
    if not batch:
        return {}
    if any(i.id is None for i in batch):
        session.flush()
    index = StoryIndex()
    _pool(session, batch, index)
    known = story_ids(session, (i.id for i in batch if i.id is not None))
    result: dict[int, int] = {}
    for item in batch:
        assert item.id is not None
        language = language_key(item.language)
        fp = fingerprint(item.title, item.summary)
        story = known[item.id]
        if story == item.id and item.id not in index.members:
            found = index.find(language, as_utc(item.first_seen_at), fp)
            if found is not None:
                story, score = found
                session.add(StoryLink(item_id=item.id, story_id=story, similarity=round(score, 4)))
        result[item.id] = story
        index.add(item.id, story, language, as_utc(item.first_seen_at), fp)
    return result
