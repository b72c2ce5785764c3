"""Schema of the `topics:` section of feeds.yaml and the errors admins see.

Validation happens here, once, so the engine can assume well-formed rules and
an admin's mistake is reported with the topic, the rule and where it sits.
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

LANGS = ("en", "ar", "fr", "de", "nl")
RESERVED = ("settings", "lexicon", "names")
Path = tuple[str | int, ...]


class RulesError(Exception):
    """A rule in the topics section that cannot be compiled.

    `path` locates the problem inside the topics value, e.g. ("icj_case", "rules", 0).
    """

    def __init__(self, message: str, path: Path = ()) -> None:
        super().__init__(message)
        self.path = path


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TermSet(_Strict):
    """Terms per language; `any` terms apply whatever the item's language."""

    en: list[str] = []
    ar: list[str] = []
    fr: list[str] = []
    de: list[str] = []
    nl: list[str] = []
    any: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        # A bare string is a one-term group, typically a lexicon reference "@syria".
        return {"any": [value]} if isinstance(value, str) else value

    def by_lang(self) -> dict[str, list[str]]:
        """Language code (or "any") -> its terms."""
        return {lang: list(getattr(self, lang)) for lang in (*LANGS, "any")}


class Group(TermSet):
    """Any-of terms; `where: title` makes only title matches count."""

    where: Literal["title", "anywhere"] = "anywhere"


class Exclusion(Group):
    """Terms that veto a rule when found in the title, or anywhere."""


class Rule(_Strict):
    """All groups must match (each by any one of its terms)."""

    name: str = Field(min_length=1)
    groups: list[Group] = Field(min_length=1)
    near: int | None = Field(default=None, ge=1)
    weight: float = Field(default=1.0, gt=0, le=1)
    exclude: list[Exclusion] = []


class Topic(_Strict):
    """A subject advocates follow, shown to them by its label."""

    label: str = Field(min_length=1)
    rules: list[Rule] = Field(min_length=1)
    exclude: list[Exclusion] = []
    alert: float | None = Field(default=None, gt=0, le=1)
    digest: float | None = Field(default=None, gt=0, le=1)


class Settings(_Strict):
    """Global scoring knobs."""

    alert: float = Field(default=0.75, gt=0, le=1)
    digest: float = Field(default=0.5, gt=0, le=1)
    title_weight: float = Field(default=1.0, gt=0, le=1)
    lead_weight: float = Field(default=0.8, gt=0, le=1)
    text_weight: float = Field(default=0.5, gt=0, le=1)
    lead_words: int = Field(default=40, ge=0)
    max_chars: int = Field(default=20000, ge=100)


class Config(_Strict):
    """The whole topics section once validated."""

    settings: Settings
    lexicon: dict[str, TermSet]
    names: TermSet
    topics: dict[str, Topic]


def _describe(path: Path, raw: Any) -> str:
    """Human name for a location: "topic 'x', rule 'y' (rules[0].groups[1])"."""
    if not path:
        return "the topics section"
    head = path[0]
    if head in RESERVED:
        where = ".".join(str(p) for p in path[1:])
        return f"'{head}'" + (f" entry {where}" if where else "")
    text = f"topic '{head}'"
    if len(path) >= 3 and path[1] == "rules" and isinstance(path[2], int):
        name = str(path[2])
        with contextlib.suppress(KeyError, IndexError, TypeError):
            name = repr(raw[head]["rules"][path[2]]["name"])
        text += f", rule {name}"
    rest = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path[1:]).lstrip(".")
    return text + (f" ({rest})" if rest else "")


def _from_validation(err: ValidationError, prefix: Path, raw: Any) -> RulesError:
    first = err.errors()[0]
    path = prefix + tuple(first["loc"])
    msg = first["msg"].rstrip(".")
    if first["type"] == "extra_forbidden":
        msg = f"unknown key '{path[-1]}'; check the spelling (languages: {', '.join(LANGS)}, any)"
    elif first["type"] == "missing":
        msg = f"'{path[-1]}' is required"
    return RulesError(f"{_describe(path, raw)}: {msg}; fix it in feeds.yaml.", path)


def parse(raw: Any) -> Config:
    """Validate the topics value; raise RulesError naming topic and rule."""
    if not isinstance(raw, dict):
        raise RulesError("the topics section must be a mapping of topic ids to topics.")
    try:
        settings = Settings.model_validate(raw.get("settings") or {})
    except ValidationError as err:
        raise _from_validation(err, ("settings",), raw) from None
    if settings.digest > settings.alert:
        raise RulesError("'settings': digest threshold is above alert; lower it.", ("settings",))
    lexicon: dict[str, TermSet] = {}
    for key, value in (raw.get("lexicon") or {}).items():
        try:
            lexicon[str(key)] = TermSet.model_validate(value)
        except ValidationError as err:
            raise _from_validation(err, ("lexicon", key), raw) from None
    try:
        names = TermSet.model_validate(raw.get("names") or {})
    except ValidationError as err:
        raise _from_validation(err, ("names",), raw) from None
    topics: dict[str, Topic] = {}
    for key, value in raw.items():
        if key in RESERVED:
            continue
        try:
            topics[str(key)] = Topic.model_validate(value)
        except ValidationError as err:
            raise _from_validation(err, (key,), raw) from None
    if not topics:
        raise RulesError("the topics section defines no topic; add at least one.")
    return Config(settings=settings, lexicon=lexicon, names=names, topics=topics)


def term_error(path: Path, raw: Any, problem: str) -> RulesError:
    """RulesError for a bad term found while compiling."""
    return RulesError(f"{_describe(path, raw)}: {problem}.", path)
