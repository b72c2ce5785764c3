"""What two items are compared on: the words of their headline and lead, normalised.

The classifier's normaliser is reused, so Arabic letter variants, diacritics, accents and
typographic punctuation do not make two copies of one report look different.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from bot.classify.normalize import normalise, strip_html

LEAD_WORDS = 60  # the lead carries the event; long bodies only add noise and cost
# "Headline - Outlet", "Headline | Outlet": aggregators append the outlet's name.
_SOURCE_SUFFIX = re.compile(r"\s+[-–—|]\s+([^-–—|]{1,60})$")
_MAX_SUFFIX_WORDS = 5
_MIN_HEAD_WORDS = 3


def strip_source_suffix(title: str) -> str:
    """Drop trailing " - Outlet" parts (up to two: an aggregator may add its own name to
    an outlet's), so every copy is compared on the outlet's headline."""
    for _ in range(2):
        match = _SOURCE_SUFFIX.search(title)
        if match is None or len(match.group(1).split()) > _MAX_SUFFIX_WORDS:
            break
        head = title[: match.start()]
        if len(head.split()) < _MIN_HEAD_WORDS:
            break
        title = head
    return title


@dataclass(frozen=True)
class Fingerprint:
    """Normalised words (headline first, then the lead) and the numbers in the headline."""

    words: tuple[str, ...]
    numbers: frozenset[str]
    shingles: frozenset[str]

    def prefix_shingles(self, length: int) -> frozenset[str]:
        """Shingles of the first `length` words (what a shorter copy can be compared with)."""
        if length >= len(self.words):
            return self.shingles
        return shingle(self.words[:length])


def shingle(words: tuple[str, ...]) -> frozenset[str]:
    """Word bigrams; a one-word text is its own shingle."""
    if len(words) < 2:
        return frozenset(words)
    return frozenset(f"{a} {b}" for a, b in pairwise(words))


def fingerprint(title: str, summary: str) -> Fingerprint:
    head = normalise(strip_html(strip_source_suffix(title or ""))).split()
    lead = normalise(strip_html((summary or "")[:2000])).split()[:LEAD_WORDS]
    words = tuple(head + lead)
    numbers = frozenset(w for w in head if w.isdigit())
    return Fingerprint(words=words, numbers=numbers, shingles=shingle(words))
