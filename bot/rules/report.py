"""Per topic rule: how many alerts it caused, what people said, and its precision.

Stored items record the terms that matched, not the rule, so the alerted items are run
through the rules in force again: the report is about the rules an admin would edit now.
An item no rule fires on any more is counted under its topics as "(no rule fires now)".
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, or_, select

from bot.classify import Classifier
from bot.rules.verdicts import Votes, votes
from storage.delivery import Feedback
from storage.labels import ItemLabel
from storage.models import Item

NO_RULE = "(no rule fires now)"
MAX_HURT = 5  # items listed under a flagged rule


@dataclass
class RuleStats:
    topic: str
    rule: str
    alerts: int = 0
    up: int = 0
    down: int = 0
    right: int = 0
    wrong: int = 0
    hurt: list[tuple[int, str, int]] = field(default_factory=list)  # (item id, title, 👎)
    flagged: bool = False

    @property
    def precision(self) -> float | None:
        """Right among the alerts someone judged; None before anyone did."""
        rated = self.right + self.wrong
        return self.right / rated if rated else None

    def add(self, item: Item, v: Votes | None) -> None:
        self.alerts += 1
        if v is None:
            return
        self.up += v.up
        self.down += v.down
        if v.verdict is True:
            self.right += 1
        elif v.verdict is False:
            self.wrong += 1
            assert item.id is not None
            self.hurt.append((item.id, item.title, v.down))


@dataclass
class Report:
    since: datetime
    items: int
    rules: list[RuleStats]
    min_precision: float
    min_rated: int

    @property
    def flagged(self) -> list[RuleStats]:
        return [r for r in self.rules if r.flagged]


def _alerted(session: Session, since: datetime) -> list[Item]:
    """Alerted items since `since`, plus any item somebody rated or labelled."""
    rated = select(Feedback.item_id)
    labelled = select(ItemLabel.item_id)
    query = select(Item).where(
        col(Item.first_seen_at) >= since,
        or_(
            (col(Item.tier) == "alert") & ~col(Item.backfill),
            col(Item.id).in_(rated),
            col(Item.id).in_(labelled),
        ),
    )
    return list(session.exec(query.order_by(col(Item.id))).all())


def build_report(
    session: Session,
    classifier: Classifier,
    since: datetime,
    admin_ids: Collection[int],
    *,
    min_precision: float = 0.5,
    min_rated: int = 2,
) -> Report:
    """Count alerts and verdicts per (topic, rule); flag rules below `min_precision` once at
    least `min_rated` of their alerts were judged."""
    items = _alerted(session, since)
    said = votes(session, admin_ids, (i.id for i in items if i.id is not None))
    stats: dict[tuple[str, str], RuleStats] = {}
    for item in items:
        assert item.id is not None
        result = classifier.classify(item.title, item.summary, item.language)
        fired = list(dict.fromkeys((h.topic, h.rule) for h in result.hits))
        if not fired:
            fired = [(topic, NO_RULE) for topic in item.topics or ["-"]]
        for key in fired:
            stats.setdefault(key, RuleStats(*key)).add(item, said.get(item.id))
    order = list(classifier.topic_labels)
    rows = sorted(
        stats.values(),
        key=lambda r: (order.index(r.topic) if r.topic in order else len(order), r.rule),
    )
    for row in rows:
        precision = row.precision
        row.flagged = (
            precision is not None
            and row.right + row.wrong >= min_rated
            and precision < min_precision
        )
        row.hurt.sort(key=lambda h: (-h[2], h[0]))
        del row.hurt[MAX_HURT:]
    return Report(since, len(items), rows, min_precision, min_rated)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def render_text(report: Report) -> str:
    """The report for a terminal."""
    lines = [
        f"Alerted or rated items since {report.since:%Y-%m-%d %H:%M} UTC: {report.items}",
        "",
        f"{'topic':<22} {'rule':<34} {'alerts':>6} {'👍':>4} {'👎':>4} {'precision':>9}",
    ]
    for r in report.rules:
        flag = "  ⚠ poor precision" if r.flagged else ""
        lines.append(
            f"{r.topic[:22]:<22} {r.rule[:34]:<34} {r.alerts:>6} {r.up:>4} {r.down:>4} "
            f"{_pct(r.precision):>9}{flag}"
        )
    flagged = report.flagged
    lines.append("")
    if not flagged:
        lines.append(
            f"No rule below {report.min_precision:.0%} precision "
            f"(with at least {report.min_rated} judged alerts)."
        )
    for r in flagged:
        lines.append(f"⚠ {r.topic} / {r.rule}: {_pct(r.precision)} — items that hurt it:")
        for item_id, title, down in r.hurt:
            lines.append(f"    #{item_id} ({down} 👎) {title[:100]}")
    return "\n".join(lines)
