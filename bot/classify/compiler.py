"""Turn validated topic rules into flat tables the matcher and scorer walk.

Every term is normalised once here; lexicon references are expanded; each
distinct pattern is stored once however many groups use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.classify.normalize import is_arabic_word, normalise
from bot.classify.rules import LANGS, Config, Exclusion, Path, TermSet, term_error

MASK = -1  # group id of protected names


@dataclass(frozen=True)
class Pattern:
    """A normalised term as searched in text."""

    key: str
    prefix: bool  # "tortur*": the last word may continue
    arabic: bool  # Arabic clitics may precede the first word, pronouns follow the last
    marbuta: bool = False  # Arabic term ending in ta marbuta (ت before a pronoun)


@dataclass(frozen=True)
class Slot:
    """One use of a pattern: which group, for which language, shown as which term."""

    group: int
    lang: str
    label: str


@dataclass(frozen=True)
class CompiledRule:
    topic: str
    name: str
    groups: tuple[int, ...]
    near: int | None
    weight: float
    exclude_title: tuple[int, ...]
    exclude_anywhere: tuple[int, ...]
    title_only: tuple[int, ...]  # groups that count only when found in the title

    @property
    def needs(self) -> frozenset[int]:
        """Groups that must all be present for the rule to fire."""
        return frozenset(self.groups)


@dataclass(frozen=True)
class CompiledTopic:
    id: str
    label: str
    alert: float
    digest: float
    rules: tuple[CompiledRule, ...]


@dataclass
class Compiled:
    """Everything the engine needs, built once per rules version."""

    patterns: list[Pattern] = field(default_factory=list)
    slots: list[list[Slot]] = field(default_factory=list)
    topics: list[CompiledTopic] = field(default_factory=list)
    n_groups: int = 0
    _index: dict[Pattern, int] = field(default_factory=dict)

    def add(self, term: str, group: int, lang: str, path: Path, raw: Any) -> None:
        """Register one term for one group; raise RulesError if malformed."""
        text = term.strip()
        prefix = text.endswith("*")
        body = text[:-1] if prefix else text
        if "*" in body:
            raise term_error(path, raw, f"term '{term}' has '*' inside; use it only at the end")
        key = normalise(body)
        if len(key.replace(" ", "")) < 2:
            raise term_error(path, raw, f"term '{term}' is empty or too short after normalisation")
        if prefix and not body.rstrip()[-1:].isalnum():
            raise term_error(path, raw, f"term '{term}' needs letters right before '*'")
        arabic = is_arabic_word(key)
        if arabic and key.startswith("ال") and len(key.split(" ")[0]) >= 5:
            key = key[2:]  # the article is one of the clitics the matcher accepts
        marbuta = arabic and not prefix and body.rstrip().endswith("\u0629")
        pattern = Pattern(key, prefix, arabic, marbuta)
        pid = self._index.get(pattern)
        if pid is None:
            pid = self._index[pattern] = len(self.patterns)
            self.patterns.append(pattern)
            self.slots.append([])
        self.slots[pid].append(Slot(group, lang, text))


def _add_set(
    out: Compiled, terms: TermSet, group: int, path: Path, raw: Any, lexicon: dict[str, TermSet]
) -> None:
    """Add a group's terms, expanding "@name" lexicon references."""
    count = 0
    for lang, items in terms.by_lang().items():
        for i, term in enumerate(items):
            where = (*path, lang, i)
            if term.strip().startswith("@"):
                name = term.strip()[1:]
                ref = lexicon.get(name)
                if ref is None:
                    known = ", ".join(sorted(lexicon)) or "none defined"
                    msg = f"unknown lexicon entry '@{name}' (known: {known})"
                    raise term_error(where, raw, msg)
                for ref_lang, ref_items in ref.by_lang().items():
                    if lang != "any" and ref_lang not in (lang, "any"):
                        continue
                    for j, ref_term in enumerate(ref_items):
                        if ref_term.strip().startswith("@"):
                            msg = "lexicon entries cannot reference other entries"
                            raise term_error(("lexicon", name, ref_lang, j), raw, msg)
                        out.add(ref_term, group, ref_lang, ("lexicon", name, ref_lang, j), raw)
                        count += 1
            else:
                out.add(term, group, lang, where, raw)
                count += 1
    if count == 0:
        raise term_error(path, raw, "this group has no terms; add terms or remove the group")


def _exclusions(
    out: Compiled, items: list[Exclusion], path: Path, raw: Any, lexicon: dict[str, TermSet]
) -> tuple[list[int], list[int]]:
    title: list[int] = []
    anywhere: list[int] = []
    for i, exc in enumerate(items):
        gid = out.n_groups
        out.n_groups += 1
        _add_set(out, exc, gid, (*path, "exclude", i), raw, lexicon)
        (title if exc.where == "title" else anywhere).append(gid)
    return title, anywhere


def compile_config(config: Config, raw: Any) -> Compiled:
    """Flatten the config; every term error names its topic and rule."""
    out = Compiled()
    for lang, items in config.names.by_lang().items():
        for i, term in enumerate(items):
            out.add(term, MASK, lang, ("names", lang, i), raw)
    settings = config.settings
    for tid, topic in config.topics.items():
        t_title, t_any = _exclusions(out, topic.exclude, (tid,), raw, config.lexicon)
        rules: list[CompiledRule] = []
        for r, rule in enumerate(topic.rules):
            rpath: Path = (tid, "rules", r)
            groups: list[int] = []
            title_only: list[int] = []
            for g, terms in enumerate(rule.groups):
                gid = out.n_groups
                out.n_groups += 1
                _add_set(out, terms, gid, (*rpath, "groups", g), raw, config.lexicon)
                groups.append(gid)
                if terms.where == "title":
                    title_only.append(gid)
            r_title, r_any = _exclusions(out, rule.exclude, rpath, raw, config.lexicon)
            rules.append(
                CompiledRule(
                    topic=tid,
                    name=rule.name,
                    groups=tuple(groups),
                    near=rule.near,
                    weight=rule.weight,
                    exclude_title=tuple(t_title + r_title),
                    exclude_anywhere=tuple(t_any + r_any),
                    title_only=tuple(title_only),
                )
            )
        alert = topic.alert if topic.alert is not None else settings.alert
        digest = topic.digest if topic.digest is not None else settings.digest
        if digest > alert:
            raise term_error((tid,), raw, "digest threshold is above alert; lower it")
        out.topics.append(CompiledTopic(tid, topic.label, alert, digest, tuple(rules)))
    return out


__all__ = ["LANGS", "MASK", "Compiled", "CompiledRule", "CompiledTopic", "compile_config"]
