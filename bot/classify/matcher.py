"""One Aho-Corasick pass over normalised text finds every rule term at once.

Word boundaries are checked after the pass: text is normalised to words
separated by single spaces, prefix terms may run on, and Arabic terms may carry
clitics (و ف ب ل ك ال) in front and an attached pronoun (ه ها هم ...) behind;
a term ending in ta marbuta then spells it ت (محاكمة -> لمحاكمته).
"""

from __future__ import annotations

import ahocorasick

from bot.classify.compiler import Pattern
from bot.classify.normalize import ARABIC_CLITICS, ARABIC_SUFFIXES

# A term found in text: (pattern id, start, end) in the normalised text.
Hit = tuple[int, int, int]


class Matcher:
    """Finds whole-word occurrences of the compiled patterns.

    Text is searched as " words " so Latin keys carry their boundaries
    (" key " or " key" for prefixes) and the automaton reports only real
    matches; Arabic keys omit the left space and get a clitic check instead.
    """

    def __init__(self, patterns: list[Pattern], masks: set[int], mask_only: set[int]) -> None:
        self._masks = masks  # patterns that are protected names
        self._mask_only = mask_only  # ... and used by no rule, so never reported
        self._auto = ahocorasick.Automaton()
        # key -> (suffix rule, pattern ids). Suffix rule: 0 = none (Latin or prefix
        # term, boundaries are in the key), 1 = optional pronoun, 2 = required pronoun.
        by_key: dict[str, tuple[int, list[int]]] = {}
        for pid, p in enumerate(patterns):
            keys: list[tuple[str, int]]
            if not p.arabic:
                keys = [(" " + p.key + ("" if p.prefix else " "), 0)]
            elif p.prefix:
                keys = [(p.key, 0)]
            else:
                keys = [(p.key, 1)]
                if p.marbuta:  # ta marbuta (folded to ha) is written ta before a pronoun
                    keys.append((p.key[:-1] + "\u062a", 2))
            for key, mode in keys:
                by_key.setdefault(key, (mode, []))[1].append(pid)
        for key, (mode, pids) in by_key.items():
            arabic = not key.startswith(" ")
            # Offset from the key's first character to the term in unpadded text.
            shift = -1 if arabic else 0
            size = len(key.strip())
            has_mask = any(pid in masks for pid in pids)
            payload = (len(key), shift, size, arabic, mode, has_mask, tuple(pids))
            self._auto.add_word(key, payload)
        if by_key:
            self._auto.make_automaton()
        self._empty = not by_key

    def find(self, text: str) -> list[Hit]:
        """All boundary-respecting hits, minus those inside a protected name.

        Offsets refer to `text`; callers pass the normalised text.
        """
        if self._empty or not text:
            return []
        padded = f" {text} "
        hits: list[Hit] = []
        masked = False
        clitics = ARABIC_CLITICS.fullmatch
        suffixes = ARABIC_SUFFIXES
        for last, payload in self._auto.iter(padded):
            length, shift, size, arabic, mode, has_mask, pids = payload
            start = last - length + 1  # in padded: the space before the term, or its 1st letter
            if arabic:
                word_start = padded.rfind(" ", 0, start) + 1
                if word_start != start and not clitics(padded, word_start, start):
                    continue
                if mode:
                    end = padded.find(" ", last + 1)
                    if end == last + 1:
                        if mode == 2:
                            continue
                    elif padded[last + 1 : end] not in suffixes:
                        continue
            begin = start + shift
            masked = masked or has_mask
            for pid in pids:
                hits.append((pid, begin, begin + size))
        return self._unmasked(hits) if masked else hits

    def _unmasked(self, hits: list[Hit]) -> list[Hit]:
        spans = [(start, end) for pid, start, end in hits if pid in self._masks]
        kept: list[Hit] = []
        for hit in hits:
            pid, start, end = hit
            if pid in self._mask_only:
                continue
            if not any(s <= start and end <= e and end - start < e - s for s, e in spans):
                kept.append(hit)
        return kept
