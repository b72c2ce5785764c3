"""feeds.yaml: the file admins edit. Validated by a schema; errors name the line, field and fix."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

MIN_INTERVAL_MINUTES = 5
DEFAULT_INTERVALS = {"primary": 15}
DEFAULT_INTERVAL_MINUTES = 60
Tier = Literal["primary", "ngo", "media", "search", "other"]
_INTERVAL_RE = re.compile(r"^\s*(\d+)\s*(m|min|minutes?|h|hours?|d|days?)?\s*$", re.IGNORECASE)


_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class FeedsFileError(Exception):
    """feeds.yaml cannot be used; str() is one sentence for the admin."""


class FeedSpec(BaseModel):
    """One entry of `feeds:`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    url: str
    language: str | None = None
    tags: tuple[str, ...] = ()
    interval: int | None = Field(default=None, description="minutes")
    enabled: bool = True
    tier: Tier = "media"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        v = v.strip()
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must be a full http:// or https:// address")
        return v

    @field_validator("language")
    @classmethod
    def _lang(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip().lower().replace("_", "-")
        if not re.match(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$", v):
            raise ValueError("must be a language code such as en, ar, fr, nl or de")
        return v

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, v: object) -> object:
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, int):
            minutes = v
        elif isinstance(v, str) and (m := _INTERVAL_RE.match(v)):
            unit = (m.group(2) or "m")[0].lower()
            minutes = int(m.group(1)) * {"m": 1, "h": 60, "d": 1440}[unit]
        else:
            raise ValueError("must be minutes (30) or a duration such as 15m, 2h or 1d")
        if minutes < MIN_INTERVAL_MINUTES:
            raise ValueError(f"must be at least {MIN_INTERVAL_MINUTES} minutes")
        return minutes

    @property
    def interval_minutes(self) -> int:
        if self.interval is not None:
            return self.interval
        return DEFAULT_INTERVALS.get(self.tier, DEFAULT_INTERVAL_MINUTES)


class FeedsDocument(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid")

    feeds: list[FeedSpec] = Field(default_factory=list)
    topics: Any = None

    @model_validator(mode="after")
    def _unique_urls(self) -> FeedsDocument:
        seen: dict[str, int] = {}
        for i, feed in enumerate(self.feeds):
            if feed.url in seen:
                raise _DuplicateUrl(i, seen[feed.url], feed.url)
            seen[feed.url] = i
        return self


class _DuplicateUrl(ValueError):
    def __init__(self, index: int, first: int, url: str) -> None:
        super().__init__(f"duplicate url {url}")
        self.index, self.first, self.url = index, first, url


@dataclass(frozen=True)
class FeedsConfig:
    """A validated feeds.yaml, with the hash that tells a reload whether anything changed."""

    path: Path
    feeds: tuple[FeedSpec, ...]
    topics: Any
    digest: str


def _line_of(root: yaml.Node | None, loc: tuple[str | int, ...]) -> int | None:
    """Follow a pydantic/rules location through the YAML node tree to a 1-based line."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == key:
                    node, line = v, k.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                return line
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


_FEED_FIELDS = "name, url, language, tags, interval, enabled, tier"


def _fix_for(kind: str, field: str) -> str:
    if kind == "extra_forbidden":
        return f"remove it or correct its spelling (feed fields: {_FEED_FIELDS})"
    if kind == "missing":
        return f"add a `{field}:` line"
    return "correct the value"


def _describe(path: Path, root: yaml.Node | None, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = tuple(first["loc"])
    line = _line_of(root, loc)
    where = f"{path}" + (f" line {line}" if line else "")
    field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
    msg = first["msg"].removeprefix("Value error, ")
    kind = first["type"]
    if kind == "literal_error":
        msg = msg.replace("Input should be", "must be one of")
    elif kind == "extra_forbidden":
        msg = "is not a known field"
    elif kind == "missing":
        msg = "is missing"
    fix = _fix_for(kind, str(loc[-1]) if loc else "")
    return f"{where}: {field or 'file'} {msg}; fix: {fix}."


def parse_feeds_text(text: str, path: Path) -> FeedsConfig:
    """Validate feeds.yaml content; raise FeedsFileError naming line, field and fix."""
    try:
        # Read once (the node tree gives error lines, the data is built from it) with
        # libyaml when present: the pure-Python loader twice took 0.8 s on a 1,000-feed file.
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise FeedsFileError(
            f"{path}{line}: not valid YAML ({problem}); "
            "fix: check the indentation and quoting there."
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FeedsFileError(
            f"{path}: the file must be a mapping with `feeds:` and `topics:` sections."
        )
    try:
        doc = FeedsDocument.model_validate(data)
    except ValidationError as err:
        dup = next(
            (e.get("ctx", {}).get("error") for e in err.errors() if e["type"] == "value_error"),
            None,
        )
        if isinstance(dup, _DuplicateUrl):
            dup_line = _line_of(root, ("feeds", dup.index, "url"))
            raise FeedsFileError(
                f"{path} line {dup_line}: feeds[{dup.index}].url {dup.url} is already listed as "
                f"feeds[{dup.first}]; fix: remove one of the two entries."
            ) from None
        raise FeedsFileError(_describe(path, root, err)) from None
    _check_topics(path, root, doc.topics)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return FeedsConfig(path=path, feeds=tuple(doc.feeds), topics=doc.topics, digest=digest)


def _check_topics(path: Path, root: yaml.Node | None, topics: Any) -> None:
    """Compile the rules now, so a broken rule is reported like any other error in the file."""
    from bot.classify import RulesError
    from bot.relevance import compile_rules

    try:
        compile_rules(topics)  # kept: RulesHolder reuses it instead of compiling again
    except RulesError as err:
        line = _line_of(root, ("topics", *err.path))
        where = f"{path}" + (f" line {line}" if line else "")
        raise FeedsFileError(f"{where}: {err}") from None


def load_feeds_file(path: Path) -> FeedsConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FeedsFileError(
            f"{path} does not exist; fix: create it or set WATCHBOT_FEEDS_FILE to its path."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedsFileError(f"{path} cannot be read ({exc}).") from None
    return parse_feeds_text(text, path)
