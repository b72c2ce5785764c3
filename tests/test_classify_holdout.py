"""Quality gate: the shipped rules on our own held-out set of authored news items.

tests/data/classify_holdout.jsonl holds items written for this project (not copied
from any source) in en/ar/fr/nl/de: positives from every part of the subject and
near misses per the labelling rubric. The gate fails when precision or recall
drops below the project's targets, overall or (with a looser floor) per language.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bot.classify import Classifier
from bot.classify.evaluate import Report, outcome

ROOT = Path(__file__).resolve().parent.parent
HOLDOUT = ROOT / "tests" / "data" / "classify_holdout.jsonl"
MIN_PRECISION = 0.95
MIN_RECALL = 0.90
LANG_FLOOR = 0.85  # per language: fewer items, so one error weighs more


@pytest.fixture(scope="module")
def report() -> Report:
    data = yaml.safe_load((ROOT / "feeds.yaml").read_text(encoding="utf-8"))
    clf = Classifier.from_topics(data["topics"])
    result = Report()
    with HOLDOUT.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                result.add(outcome(clf, json.loads(line)))
    return result


def _errors(report: Report) -> str:
    wrong = [("FP", o) for o in report.false_positives]
    wrong += [("FN", o) for o in report.false_negatives]
    return "\n".join(f"{k} [{o.lang}] {o.title[:80]} -- {o.result.explain()}" for k, o in wrong)


def test_holdout_is_a_real_test_set() -> None:
    items = [json.loads(line) for line in HOLDOUT.read_text(encoding="utf-8").splitlines()]
    assert len(items) >= 120
    assert len({item["id"] for item in items}) == len(items)
    for lang in ("ar", "fr", "nl", "de"):
        in_lang = [item for item in items if item["lang"] == lang]
        assert len(in_lang) >= 15, lang
        assert {item["label"] for item in in_lang} == {0, 1}, lang
    kinds = {item["kind"] for item in items}
    assert {"positive", "hard_negative", "easy_negative"} <= kinds


def test_holdout_precision_and_recall(report: Report) -> None:
    overall = report.overall
    assert overall.precision is not None and overall.recall is not None
    assert overall.precision >= MIN_PRECISION, _errors(report)
    assert overall.recall >= MIN_RECALL, _errors(report)


@pytest.mark.parametrize("lang", ["en", "ar", "fr", "nl", "de"])
def test_holdout_per_language(report: Report, lang: str) -> None:
    counts = report.by_lang[lang]
    assert counts.precision is not None and counts.recall is not None
    assert counts.precision >= LANG_FLOOR, _errors(report)
    assert counts.recall >= LANG_FLOOR, _errors(report)
