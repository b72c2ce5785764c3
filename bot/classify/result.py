"""What the classifier returns, and its human-readable evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Tier = Literal["alert", "digest", "ignore"]
Field = Literal["title", "text"]


@dataclass(frozen=True)
class Match:
    """One piece of evidence: a rule term found in the title or the text."""

    term: str
    topic: str
    field: Field

    def to_dict(self) -> dict[str, str]:
        return {"term": self.term, "topic": self.topic, "field": self.field}


@dataclass(frozen=True)
class RuleHit:
    """A rule that fired, with the matches behind each of its groups."""

    topic: str
    label: str
    rule: str
    strength: float
    groups: tuple[tuple[Match, ...], ...]

    @property
    def matches(self) -> tuple[Match, ...]:
        return tuple(m for group in self.groups for m in group)

    def describe(self) -> str:
        """ "'ICJ' + 'Syria' in title" or "'ICJ' (title) + 'Syria' (text)"."""
        firsts = [group[0] for group in self.groups if group]
        fields = {m.field for m in firsts}
        if len(fields) == 1:
            terms = " + ".join(f"'{m.term}'" for m in firsts)
            return f"{terms} in {fields.pop()}"
        return " + ".join(f"'{m.term}' ({m.field})" for m in firsts)


@dataclass(frozen=True)
class Classification:
    """Score, tier, topics and evidence for one item."""

    score: float
    tier: Tier
    topics: list[str]
    matches: list[Match]
    hits: list[RuleHit] = field(default_factory=list)

    @property
    def relevant(self) -> bool:
        return self.tier != "ignore"

    def to_dict(self) -> dict[str, Any]:
        """JSON form written by `watchbot classify` (the caller adds the id)."""
        return {
            "score": round(self.score, 3),
            "relevant": self.relevant,
            "tier": self.tier,
            "topics": list(self.topics),
            "matches": [m.to_dict() for m in self.matches],
        }

    def explain(self) -> str:
        """One line answering "why am I seeing this", strongest topic first."""
        if not self.hits:
            return "no topic rule matched"
        parts: list[str] = []
        seen: set[str] = set()
        for hit in sorted(self.hits, key=lambda h: -h.strength):
            if hit.topic in seen:
                continue
            seen.add(hit.topic)
            parts.append(f"{hit.label}: {hit.describe()}")
        return "; ".join(parts)
