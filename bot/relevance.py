"""The classifier in force, swapped atomically when feeds.yaml changes."""

from __future__ import annotations

from typing import Any

from bot.classify import Classifier
from storage.items import Verdict


class RulesHolder:
    """Holds the last good compiled rules; the poller asks it for verdicts."""

    def __init__(self, topics: Any) -> None:
        self.classifier = Classifier.from_topics(topics)

    def replace(self, topics: Any) -> None:
        self.classifier = Classifier.from_topics(topics)

    def verdict(self, title: str, text: str, lang: str | None) -> Verdict:
        res = self.classifier.classify(title, text, lang)
        return Verdict(
            score=round(res.score, 4),
            tier=res.tier,
            topics=list(res.topics),
            matches=[m.to_dict() for m in res.matches],
            explanation=res.explain(),
        )
