"""Stories as readers see them: one entry per story, its best item, and every source.

`collapse` is pure, so any channel (Telegram digest, e-mail digest) can list stories
instead of copies; `stories_for` does the database look-ups for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from storage.models import Feed, Item
from storage.stories import story_ids


@dataclass(frozen=True)
class StoryView:
    """A story: its items (best first) and the outlets that reported it (first reporter first)."""

    story_id: int
    items: tuple[Item, ...]
    sources: tuple[str, ...]

    @property
    def lead(self) -> Item:
        """The item shown for the story: the best-scored one."""
        return self.items[0]

    @property
    def score(self) -> float:
        """A story is as relevant as its most relevant report."""
        return self.lead.score

    @property
    def source(self) -> str:
        """The lead item's outlet."""
        return self.sources[0] if self.sources else "?"

    @property
    def also(self) -> tuple[str, ...]:
        """The other outlets, for "also reported by …"."""
        return self.sources[1:]


def collapse(
    items: Sequence[Item], story_of: Mapping[int, int], names: Mapping[int, str]
) -> list[StoryView]:
    """Group `items` by story; order stories by score (best first), like the items were.

    `story_of` maps item id → story id (missing: its own story); `names` feed id → name.
    """
    groups: dict[int, list[Item]] = {}
    for item in items:
        key = story_of.get(item.id or 0, item.id or 0)
        groups.setdefault(key, []).append(item)
    views: list[StoryView] = []
    for story, members in groups.items():
        ranked = sorted(members, key=lambda i: (-i.score, i.first_seen_at, i.id or 0))
        lead = ranked[0]
        sources = [names.get(lead.feed_id, "?")]
        for item in sorted(members, key=lambda i: (i.first_seen_at, i.id or 0)):
            name = names.get(item.feed_id, "?")
            if name not in sources:
                sources.append(name)
        views.append(StoryView(story, tuple(ranked), tuple(sources)))
    views.sort(key=lambda v: (-v.score, v.lead.first_seen_at, v.story_id))
    return views


def digest_items(session: Session, since: datetime, until: datetime) -> list[Item]:
    """Relevant, non-backfill items first seen in (since, until], best first: what any digest
    (Telegram or e-mail) chooses from before its reader's topics and story grouping."""
    return list(
        session.exec(
            select(Item)
            .where(
                col(Item.tier) != "ignore",
                ~col(Item.backfill),
                col(Item.first_seen_at) > since,
                col(Item.first_seen_at) <= until,
            )
            .order_by(col(Item.score).desc(), col(Item.id))
        ).all()
    )


def stories_for(session: Session, items: Sequence[Item]) -> list[StoryView]:
    """`collapse` with the stories and feed names looked up in the database."""
    story_of = story_ids(session, (i.id for i in items if i.id is not None))
    feed_ids = sorted({i.feed_id for i in items})
    names = {
        fid: name
        for fid, name in session.exec(
            select(Feed.id, Feed.name).where(col(Feed.id).in_(feed_ids))
        ).all()
        if fid is not None
    }
    return collapse(items, story_of, names)
