"""Precision, recall and F1 of the classifier on a labelled JSON-lines set.

Breakdowns per language and per `kind` show where the rules are weak; the
false positives and negatives come with their evidence so rules can be fixed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bot.classify.engine import Classifier
from bot.classify.jsonlines import text_field
from bot.classify.result import Classification


@dataclass
class Counts:
    """Confusion counts for one slice of the data."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, label: bool, predicted: bool) -> None:
        if label and predicted:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif label:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None
        return 2 * p * r / (p + r)

    def to_dict(self) -> dict[str, Any]:
        def rnd(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        return {
            "n": self.n,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": rnd(self.precision),
            "recall": rnd(self.recall),
            "f1": rnd(self.f1),
        }


@dataclass(frozen=True)
class Outcome:
    """One labelled item and what the classifier said about it."""

    id: str
    lang: str
    kind: str
    label: bool
    title: str
    result: Classification

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "lang": self.lang,
            "kind": self.kind,
            "label": int(self.label),
            "title": self.title,
            **self.result.to_dict(),
            "why": self.result.explain(),
        }


@dataclass
class Report:
    """Metrics overall and per slice, plus the errors."""

    overall: Counts = field(default_factory=Counts)
    by_lang: dict[str, Counts] = field(default_factory=dict)
    by_kind: dict[str, Counts] = field(default_factory=dict)
    tiers: Counter[str] = field(default_factory=Counter)
    false_positives: list[Outcome] = field(default_factory=list)
    false_negatives: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        predicted = outcome.result.relevant
        for counts in (
            self.overall,
            self.by_lang.setdefault(outcome.lang, Counts()),
            self.by_kind.setdefault(outcome.kind, Counts()),
        ):
            counts.add(outcome.label, predicted)
        self.tiers[f"{outcome.kind}:{outcome.result.tier}"] += 1
        if predicted and not outcome.label:
            self.false_positives.append(outcome)
        elif outcome.label and not predicted:
            self.false_negatives.append(outcome)

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.to_dict(),
            "by_lang": {k: v.to_dict() for k, v in sorted(self.by_lang.items())},
            "by_kind": {k: v.to_dict() for k, v in sorted(self.by_kind.items())},
            "tiers": dict(sorted(self.tiers.items())),
            "false_positives": [o.to_dict() for o in self.false_positives],
            "false_negatives": [o.to_dict() for o in self.false_negatives],
        }


def outcome(clf: Classifier, item: dict[str, Any]) -> Outcome:
    """Classify one labelled item (label 1/0, optional lang and kind)."""
    lang = text_field(item, "lang") or None
    title = text_field(item, "title")
    return Outcome(
        id=str(item.get("id", "")),
        lang=lang or "?",
        kind=text_field(item, "kind") or "?",
        label=bool(item.get("label")),
        title=title,
        result=clf.classify(title, text_field(item, "text"), lang),
    )


def _fmt(x: float | None) -> str:
    return "   -" if x is None else f"{x:.3f}"


def _table(title: str, rows: dict[str, Counts]) -> list[str]:
    lines = [
        f"{title:<14} {'n':>4} {'tp':>4} {'fp':>4} {'fn':>4} {'tn':>4}  prec   rec    f1",
    ]
    for name, c in rows.items():
        lines.append(
            f"{name:<14} {c.n:>4} {c.tp:>4} {c.fp:>4} {c.fn:>4} {c.tn:>4}  "
            f"{_fmt(c.precision)} {_fmt(c.recall)} {_fmt(c.f1)}"
        )
    return lines


def render(report: Report) -> str:
    """Plain-text report for a terminal."""
    lines = _table("slice", {"overall": report.overall})
    lines += ["", *_table("language", dict(sorted(report.by_lang.items())))]
    lines += ["", *_table("kind", dict(sorted(report.by_kind.items())))]
    lines += ["", "tiers: " + ", ".join(f"{k}={v}" for k, v in sorted(report.tiers.items()))]
    for name, items in (
        ("false positives", report.false_positives),
        ("false negatives", report.false_negatives),
    ):
        lines += ["", f"{name} ({len(items)}):"]
        for o in items:
            lines.append(f"  {o.id} [{o.lang}/{o.kind}] {o.result.score:.2f} {o.title[:90]}")
            lines.append(f"      why: {o.result.explain()}")
    return "\n".join(lines)
