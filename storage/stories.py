"""Stories: near-duplicate items (one event, several outlets) grouped under one id.

A story's id is the id of its first item, so no separate table is needed and an item
that starts a story needs no extra row to be found: items without a link are stories
of their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Field, Session, SQLModel, col, select

from storage.timeutil import utcnow


class StoryLink(SQLModel, table=True):
    """One item's place in a story, and how similar it was to the item it joined."""

    item_id: int = Field(foreign_key="item.id", primary_key=True)
    story_id: int = Field(index=True)
    similarity: float = 1.0  # 1.0 for the item that started the story
    created_at: datetime = Field(default_factory=utcnow)


def story_ids(session: Session, item_ids: Iterable[int]) -> dict[int, int]:
    """item id → story id; items never linked are their own story."""
    ids = sorted(set(item_ids))
    found: dict[int, int] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.exec(
            select(StoryLink.item_id, StoryLink.story_id).where(col(StoryLink.item_id).in_(chunk))
        ).all()
        found.update(dict(rows))
    return {i: found.get(i, i) for i in ids}


def members(session: Session, stories: Iterable[int]) -> dict[int, list[int]]:
    """story id → its item ids (oldest first), the story's first item included."""
    ids = sorted(set(stories))
    result: dict[int, list[int]] = {s: [s] for s in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.exec(
            select(StoryLink.story_id, StoryLink.item_id).where(col(StoryLink.story_id).in_(chunk))
        ).all()
        for story, item in rows:
            if item not in result[story]:
                result[story].append(item)
    for items in result.values():
        items.sort()
    return result
