"""Finding the story a new item belongs to among recent items, without comparing it to all.

Candidates are the recent items (a window of days) of the same language. An inverted index
from shingle to items narrows them to those sharing enough shingles to possibly reach the
threshold, and only those get the exact Jaccard: no approximation error (MinHash would add
some and, via datasketch, numpy and scipy), and the work stays proportional to real overlap.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.stories.fingerprint import Fingerprint
from bot.stories.similarity import MIN_WORDS, same_story, similarity, threshold

WINDOW = timedelta(hours=72)
ROOT_FACTOR = 0.5  # a joining item must also resemble the story's first item this much


@dataclass
class Member:
    key: int
    story: int
    language: str
    seen: datetime
    fp: Fingerprint


@dataclass
class StoryIndex:
    """Recent items and their stories, searchable by shingle."""

    window: timedelta = WINDOW
    members: dict[int, Member] = field(default_factory=dict)
    _postings: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def add(self, key: int, story: int, language: str, seen: datetime, fp: Fingerprint) -> None:
        self.members[key] = Member(key, story, language, seen, fp)
        for sh in fp.shingles:
            self._postings.setdefault((language, sh), []).append(key)

    def find(self, language: str, seen: datetime, fp: Fingerprint) -> tuple[int, float] | None:
        """(story id, similarity) of the best match within the window, or None."""
        if len(fp.words) < MIN_WORDS:
            return None
        counts: Counter[int] = Counter()
        for sh in fp.shingles:
            counts.update(self._postings.get((language, sh), ()))
        best: tuple[float, int] | None = None
        for key, shared in counts.items():
            other = self.members[key]
            shorter = fp if len(fp.words) <= len(other.fp.words) else other.fp
            # The shorter text is compared whole, and Jaccard >= t needs at least
            # t * |its shingles| shared ones: a bound that never drops a true match.
            needed = threshold(len(shorter.words)) * len(shorter.shingles)
            if shared < needed or abs(other.seen - seen) > self.window:
                continue
            score = same_story(fp, other.fp)
            if score is not None and (best is None or (score, -key) > (best[0], -best[1])):
                best = (score, key)
        if best is None:
            return None
        story = self.members[best[1]].story
        root = self.members.get(story)
        if root is not None and root.key != best[1]:
            length = min(len(fp.words), len(root.fp.words))
            if similarity(fp, root.fp) < ROOT_FACTOR * threshold(length):
                return None
        return story, best[0]
