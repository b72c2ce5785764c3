"""Score items against compiled topic rules.

A rule fires when each of its groups matched (within `near` words where set).
Its strength is its weight times the weight of the weakest place one of its
groups was found: title > lead (first words of the text) > rest of the text.
Within a topic the strongest rule counts fully and each further rule less
(1/2, 1/3, ...); topics, being independent evidence, combine by noisy-OR into
the item score; thresholds turn scores into tiers.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from typing import Any

from bot.classify.compiler import MASK, Compiled, CompiledRule, compile_config
from bot.classify.matcher import Matcher
from bot.classify.normalize import has_arabic, normalise, strip_html
from bot.classify.result import Classification, Field, Match, RuleHit, Tier
from bot.classify.rules import LANGS, Settings, parse

TITLE_CAP = 1000
MAX_TERMS_PER_GROUP = 4
_FIELDS: tuple[Field, Field] = ("title", "text")
Evidence = list[tuple[int, int, str]]  # (field 0=title/1=text, char offset, term label)


class _Tables:
    """Pattern/group lookups for one set of languages, built on first use."""

    def __init__(self, compiled: Compiled, allowed: frozenset[str]) -> None:
        self.groups_of: list[tuple[int, ...]] = []
        self.label: dict[tuple[int, int], str] = {}
        terms: dict[int, list[tuple[int, str]]] = {}
        for pid, slots in enumerate(compiled.slots):
            usable = [s for s in slots if s.group != MASK and s.lang in allowed]
            self.groups_of.append(tuple(dict.fromkeys(s.group for s in usable)))
            for slot in usable:
                if (pid, slot.group) not in self.label:
                    self.label[(pid, slot.group)] = slot.label
                    terms.setdefault(slot.group, []).append((pid, slot.label))
        # Rules reuse lexicon entries ("@syria" in a dozen rules): groups with the
        # same terms share one canonical id, so their evidence is built once per item.
        first: dict[tuple[tuple[int, str], ...], int] = {}
        self.canon = {gid: first.setdefault(tuple(t), gid) for gid, t in terms.items()}


class Found:
    """Which groups matched in one item; per-group evidence is built on demand.

    Evidence of a group: sorted (field 0=title/1=text, char offset, term label).
    """

    def __init__(self, tables: _Tables, hits: dict[int, list[tuple[int, int]]], text: str) -> None:
        self._label = tables.label
        self._canon = tables.canon
        self._hits = hits
        # Only the patterns found in this item, indexed by the groups they serve:
        # cheaper than walking every pattern of a (lexicon-sized) group.
        pids_of: dict[int, list[int]] = {}
        for pid in hits:
            for gid in tables.groups_of[pid]:
                if gid in pids_of:
                    pids_of[gid].append(pid)
                else:
                    pids_of[gid] = [pid]
        self._pids_of = pids_of
        self.present = pids_of.keys()
        self._memo: dict[int, Evidence] = {}
        self._parts: dict[int, tuple[list[str], int, list[str]]] = {}
        self._text = text
        self._words: dict[int, int] | None = None
        self._positions: dict[int, tuple[list[tuple[int, int, str]], list[int]]] = {}

    def __contains__(self, gid: object) -> bool:
        return gid in self._pids_of

    def __getitem__(self, gid: int) -> Evidence:
        gid = self._canon.get(gid, gid)
        evidence = self._memo.get(gid)
        if evidence is None:
            label, hits = self._label, self._hits
            evidence = sorted(
                (field, start, label[(pid, gid)])
                for pid in self._pids_of.get(gid, ())
                for field, start in hits[pid]
            )
            self._memo[gid] = evidence
        return evidence

    def parts(self, gid: int) -> tuple[list[str], int, list[str]]:
        """A present group's title labels, first text offset (-1: none), text labels.

        Labels are distinct, in order of appearance.
        """
        gid = self._canon.get(gid, gid)
        part = self._parts.get(gid)
        if part is None:
            title: dict[str, None] = {}
            body: dict[str, None] = {}
            first = -1
            for field, start, label in self[gid]:
                if field == 0:
                    title[label] = None
                else:
                    if first < 0:
                        first = start
                    body[label] = None
            part = self._parts[gid] = (list(title), first, list(body))
        return part

    def positions(self, gid: int) -> tuple[list[tuple[int, int, str]], list[int]]:
        """A group's text evidence as (word number, offset, label), and the word numbers.

        Both ascend (offsets do); memoised, as rules of a topic share groups' words.
        """
        gid = self._canon.get(gid, gid)
        entry = self._positions.get(gid)
        if entry is None:
            words = self._words
            if words is None:  # word numbers of all text hits, counted in one pass
                offsets = sorted({s for hits in self._hits.values() for f, s in hits if f == 1})
                words = self._words = {}
                count = prev = 0
                for offset in offsets:
                    count += self._text.count(" ", prev, offset)
                    words[offset] = count
                    prev = offset
            found = [(words[start], start, label) for f, start, label in self[gid] if f == 1]
            entry = self._positions[gid] = (found, [pos for pos, _, _ in found])
        return entry


def _noisy_or(values: list[float]) -> float:
    rest = 1.0
    for value in values:
        rest *= 1.0 - value
    return 1.0 - rest


def _diminishing(values: list[float]) -> float:
    """Noisy-OR where the k-th strongest rule of a topic counts 1/k: rules of one
    topic often see the same words, so extra rules confirm rather than add up."""
    ordered = sorted(values, reverse=True)
    return _noisy_or([value / rank for rank, value in enumerate(ordered, start=1)])


class Classifier:
    """Compiled relevance rules; build once, classify many items."""

    def __init__(self, compiled: Compiled, settings: Settings) -> None:
        self._compiled = compiled
        self._settings = settings
        masks = {
            pid for pid, slots in enumerate(compiled.slots) if any(s.group == MASK for s in slots)
        }
        mask_only = {pid for pid in masks if all(s.group == MASK for s in compiled.slots[pid])}
        self._matcher = Matcher(compiled.patterns, masks, mask_only)
        self._all_langs = frozenset((*LANGS, "any"))
        self._lang_sets = {lang: frozenset((lang, "any")) for lang in LANGS}
        self._rules = [
            (index, rule, rule.needs)
            for index, topic in enumerate(compiled.topics)
            for rule in topic.rules
        ]
        self._labels = [topic.label for topic in compiled.topics]
        self._tables: dict[frozenset[str], _Tables] = {}
        self._zone_weights = (settings.title_weight, settings.lead_weight, settings.text_weight)
        self._lead = re.compile(r"(?:[^ ]+ ){" + str(settings.lead_words) + "}")

    @classmethod
    def from_topics(cls, topics: Any) -> Classifier:
        """Validate and compile the `topics:` value of feeds.yaml (raises RulesError)."""
        config = parse(topics)
        return cls(compile_config(config, topics), config.settings)

    @property
    def topic_labels(self) -> dict[str, str]:
        """Topic id -> label, in rule order."""
        return {t.id: t.label for t in self._compiled.topics}

    def _langs(self, lang: str | None, title: str, text: str) -> frozenset[str]:
        code = (lang or "").strip().lower().split("-")[0].split("_")[0]
        allowed = self._lang_sets.get(code)
        if allowed is None:
            return self._all_langs
        if (
            code != "ar"
            and not (title.isascii() and text.isascii())
            and (has_arabic(title) or has_arabic(text))
        ):
            return allowed | {"ar"}
        return allowed

    def _find(self, texts: tuple[str, str], allowed: frozenset[str]) -> Found | None:
        tables = self._tables.get(allowed)
        if tables is None:
            tables = self._tables[allowed] = _Tables(self._compiled, allowed)
        hits: dict[int, list[tuple[int, int]]] = {}
        # One pass over "title \x01 text": no term can span the separator.
        offset = len(texts[0]) + 3
        for pattern, start, _ in self._matcher.find(f"{texts[0]} \x01 {texts[1]}"):
            entry = (0, start) if start < offset else (1, start - offset)
            if pattern in hits:
                hits[pattern].append(entry)
            else:
                hits[pattern] = [entry]
        return Found(tables, hits, texts[1]) if hits else None

    def _evidence(
        self, rule: CompiledRule, found: Found, text: str, lead_end: int
    ) -> list[tuple[int, list[str]]] | None:
        """Per group: (zone, term labels) backing the rule, or None if it fails.

        Zones: 0 title, 1 lead (first words of the text), 2 rest of the text.
        """
        chosen: dict[int, tuple[int, list[str]]] = {}
        rest: list[int] = []
        for gid in rule.groups:
            title_terms = found.parts(gid)[0]
            if title_terms:
                chosen[gid] = (0, title_terms)
            else:
                rest.append(gid)
        if rule.near is None or len(rest) < 2:
            for gid in rest:
                _, first, text_terms = found.parts(gid)
                chosen[gid] = (1 if first < lead_end else 2, text_terms)
        else:
            window = self._window(rule.near, rest, found, text, lead_end)
            if window is None:
                return None
            chosen.update(window)
        return [chosen[gid] for gid in rule.groups]

    @staticmethod
    def _window(
        near: int, groups: list[int], found: Found, text: str, lead_end: int
    ) -> dict[int, tuple[int, list[str]]] | None:
        """Earliest text evidence with every group within `near` words of the first group."""
        # Each anchor looks its window up by bisection in the other groups' word
        # numbers instead of scanning every hit of every group.
        anchors = found.positions(groups[0])[0]
        positions = {gid: found.positions(gid) for gid in groups[1:]}
        for anchor, a_start, a_label in anchors:
            picked = {groups[0]: (1 if a_start < lead_end else 2, [a_label])}
            for gid in groups[1:]:
                evidence, words = positions[gid]
                low = bisect_left(words, anchor - near)
                high = bisect_right(words, anchor + near, low)
                if low == high:
                    break
                close = evidence[low:high]
                zone = 1 if min(st for _, st, _ in close) < lead_end else 2
                picked[gid] = (zone, [lb for _, _, lb in close])
            else:
                return picked
        return None

    def _rule_hit(
        self, rule: CompiledRule, label: str, found: Found, text: str, lead_end: int
    ) -> RuleHit | None:
        if any(gid in found for gid in rule.exclude_anywhere):
            return None
        for gid in rule.exclude_title:
            if gid in found and found.parts(gid)[0]:
                return None
        for gid in rule.title_only:
            if not found.parts(gid)[0]:
                return None
        evidence = self._evidence(rule, found, text, lead_end)
        if evidence is None:
            return None
        factor = min(self._zone_weights[zone] for zone, _ in evidence)
        groups = tuple(
            tuple(Match(t, rule.topic, _FIELDS[min(zone, 1)]) for t in dict.fromkeys(terms))[
                :MAX_TERMS_PER_GROUP
            ]
            for zone, terms in evidence
        )
        return RuleHit(rule.topic, label, rule.name, rule.weight * factor, groups)

    def classify(self, title: str, text: str, lang: str | None = None) -> Classification:
        """Score one item; work is capped by `settings.max_chars` of text."""
        texts = (
            normalise(strip_html((title or "")[:TITLE_CAP])),
            normalise(strip_html((text or "")[: self._settings.max_chars])),
        )
        found = self._find(texts, self._langs(lang, texts[0], texts[1]))
        if found is None:
            return Classification(score=0.0, tier="ignore", topics=[], matches=[], hits=[])
        lead = self._lead.match(texts[1])
        lead_end = lead.end() if lead else len(texts[1])
        present = found.present
        by_topic: dict[int, list[RuleHit]] = {}
        for index, rule, need in self._rules:
            if need <= present:
                hit = self._rule_hit(rule, self._labels[index], found, texts[1], lead_end)
                if hit is not None:
                    by_topic.setdefault(index, []).append(hit)
        if not by_topic:
            return Classification(score=0.0, tier="ignore", topics=[], matches=[], hits=[])
        hits: list[RuleHit] = []
        topic_scores: list[tuple[float, str]] = []
        tier_rank = 0
        for index, rule_hits in by_topic.items():
            topic = self._compiled.topics[index]
            score = _diminishing([h.strength for h in rule_hits])
            hits.extend(rule_hits)
            topic_scores.append((score, topic.id))
            tier_rank = max(
                tier_rank, 2 if score >= topic.alert else 1 if score >= topic.digest else 0
            )
        total = _noisy_or([s for s, _ in topic_scores])
        if total >= self._settings.alert:
            tier_rank = 2
        elif total >= self._settings.digest:
            tier_rank = max(tier_rank, 1)
        tiers: tuple[Tier, Tier, Tier] = ("ignore", "digest", "alert")
        topic_scores.sort(key=lambda item: -item[0])
        hits.sort(key=lambda h: -h.strength)
        matches = list(dict.fromkeys(m for h in hits for m in h.matches))
        return Classification(
            score=min(1.0, max(0.0, total)),
            tier=tiers[tier_rank],
            topics=[tid for _, tid in topic_scores],
            matches=matches,
            hits=hits,
        )
