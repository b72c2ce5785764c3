"""When two items are the same story: exact Jaccard over word-bigram shingles.

Why bigrams: news copies are short (a headline and a lead of some 20–80 words); single words
make unrelated reports on one subject look alike, three-word shingles make a copy with a
few edited words look different. Why compare equal-length prefixes: feeds cut their summaries
at different lengths, and an aggregator may carry the headline alone, so the longer text is
cut to the shorter's length first (headline to headline, headline+lead to headline+lead).

Why length-dependent thresholds: in a 10-word headline one changed word (Germany/Sweden)
still leaves ~80 % of the bigrams shared, so short texts must be nearly identical; in a
60-word lead two outlets' edits of one wire report share far fewer, yet different events
almost never share half. A merge of two different events is worse than a missed merge,
so the thresholds lean strict, and differing headline numbers veto ("3 killed"/"5 killed",
"October 17"/"October 18": a daily series repeats all its other words).
"""

from __future__ import annotations

from bot.stories.fingerprint import Fingerprint

# (at most this many words compared, Jaccard needed)
THRESHOLDS: tuple[tuple[int, float], ...] = ((15, 0.85), (40, 0.7))
LONG_THRESHOLD = 0.6
MIN_WORDS = 4  # "Breaking news" alone proves nothing


def threshold(words: int) -> float:
    """The Jaccard two texts of `words` words must reach."""
    for limit, needed in THRESHOLDS:
        if words <= limit:
            return needed
    return LONG_THRESHOLD


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """Jaccard of the two texts cut to the shorter one's length (0 when too short)."""
    length = min(len(a.words), len(b.words))
    if length < MIN_WORDS:
        return 0.0
    return jaccard(a.prefix_shingles(length), b.prefix_shingles(length))


def same_story(a: Fingerprint, b: Fingerprint) -> float | None:
    """The similarity when `a` and `b` report the same story, else None."""
    if a.numbers and b.numbers and a.numbers != b.numbers:  # "October 17" vs "October 18"
        return None
    score = similarity(a, b)
    length = min(len(a.words), len(b.words))
    return score if length >= MIN_WORDS and score >= threshold(length) else None
