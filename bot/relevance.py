"""The classifier in force, swapped atomically when feeds.yaml changes."""

from __future__ import annotations

import itertools
import pickle
from typing import Any

from bot.classify import Classifier
from storage.items import Verdict

_last: tuple[Any, Classifier] | None = None
_versions = itertools.count(1)


def compile_rules(topics: Any) -> Classifier:
    """Compile `topics`, or return what was compiled for this very object last time: loading
    the feeds file compiles the rules to check them, and the holder needs the same result."""
    global _last
    if _last is not None and _last[0] is topics:
        return _last[1]
    classifier = Classifier.from_topics(topics)
    _last = (topics, classifier)
    return classifier


class RulesHolder:
    """Holds the last good compiled rules; the poller asks it for verdicts."""

    def __init__(self, topics: Any) -> None:
        self.replace(topics)

    def replace(self, topics: Any) -> None:
        classifier = compile_rules(topics)
        # What parse workers (bot.parse_pool) need to compile their own copy, once per
        # version: one attribute, so a reader never pairs a version with other rules.
        self.for_workers: tuple[int, bytes] = (
            next(_versions),
            pickle.dumps(topics, protocol=pickle.HIGHEST_PROTOCOL),
        )
        self.classifier = classifier

    def verdict(self, title: str, text: str, lang: str | None) -> Verdict:
        res = self.classifier.classify(title, text, lang)
        return Verdict(
            score=round(res.score, 4),
            tier=res.tier,
            topics=list(res.topics),
            matches=[m.to_dict() for m in res.matches],
            explanation=res.explain(),
        )
