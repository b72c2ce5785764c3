"""Run changed topic rules over the stored archive and say what would change; write nothing.

The stored tier of each item is what the rules in force when it arrived said; the candidate
rules classify the same title and summary again. Backfill items never alert, so they are
left out of the alert comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from bot.classify import Classifier
from storage.models import Item

CHUNK = 1000


@dataclass(frozen=True)
class Change:
    item_id: int
    title: str
    old_tier: str
    new_tier: str
    old_score: float
    new_score: float


@dataclass
class Backtest:
    since: datetime
    examined: int = 0
    newly: dict[str, list[Change]] = field(default_factory=dict)  # by the new top topic
    stopped: dict[str, list[Change]] = field(default_factory=dict)  # by the old top topic
    digest_in: int = 0
    digest_out: int = 0

    @property
    def changed(self) -> int:
        return sum(map(len, self.newly.values())) + sum(map(len, self.stopped.values()))


def backtest(session: Session, classifier: Classifier, since: datetime) -> Backtest:
    """Compare stored tiers with the candidate rules' for items first seen since `since`."""
    result = Backtest(since)
    last = 0
    while True:
        rows = session.exec(
            select(Item)
            .where(col(Item.first_seen_at) >= since, col(Item.id) > last, ~col(Item.backfill))
            .order_by(col(Item.id))
            .limit(CHUNK)
        ).all()
        if not rows:
            return result
        for item in rows:
            assert item.id is not None
            last = item.id
            result.examined += 1
            new = classifier.classify(item.title, item.summary, item.language)
            change = Change(item.id, item.title, item.tier, new.tier, item.score, new.score)
            if new.tier == "alert" and item.tier != "alert":
                topic = new.topics[0] if new.topics else "-"
                result.newly.setdefault(topic, []).append(change)
            elif item.tier == "alert" and new.tier != "alert":
                topic = item.topics[0] if item.topics else "-"
                result.stopped.setdefault(topic, []).append(change)
            elif new.tier == "digest" and item.tier == "ignore":
                result.digest_in += 1
            elif item.tier == "digest" and new.tier == "ignore":
                result.digest_out += 1
        session.expunge_all()  # nothing is changed; keep memory flat on a big archive


def render_text(result: Backtest, limit: int = 20) -> str:
    """What would change, per topic, with titles (at most `limit` per list)."""
    lines = [
        f"Items since {result.since:%Y-%m-%d %H:%M} UTC: {result.examined}; "
        f"would newly alert: {sum(map(len, result.newly.values()))}; "
        f"would stop alerting: {sum(map(len, result.stopped.values()))}; "
        f"digest: +{result.digest_in} / -{result.digest_out}. Nothing was written.",
    ]
    for heading, groups in (
        ("Would newly alert", result.newly),
        ("Would stop alerting", result.stopped),
    ):
        for topic in sorted(groups):
            changes = groups[topic]
            lines += ["", f"{heading} — {topic} ({len(changes)}):"]
            for c in changes[:limit]:
                lines.append(
                    f"  #{c.item_id} {c.old_tier}→{c.new_tier} "
                    f"{c.old_score:.2f}→{c.new_score:.2f}  {c.title[:100]}"
                )
            if len(changes) > limit:
                lines.append(f"  … and {len(changes) - limit} more")
    if not result.changed:
        lines += ["", "No item would start or stop alerting."]
    return "\n".join(lines)
