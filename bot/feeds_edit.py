"""Changing feeds.yaml from a program (Telegram admin commands, `watchbot feeds add`).

The file is the admins' own: comments, key order, quoting and the `topics:` rules must survive
an edit byte for byte. A full ruamel.yaml round trip re-wraps the long flow lists of `topics:`,
so edits are targeted text splices instead: the YAML parser only says where each `feeds:` entry
starts and ends, and nothing outside the edited entry is rewritten. Every result is validated
(and compared with the intended change) before it atomically replaces the file, under a lock,
so an edit can never leave a broken or half-written file.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from bot.feeds_file import FeedsConfig, FeedsFileError, FeedSpec, parse_feeds_text

MAX_NAME_CHARS = 200
MAX_URL_CHARS = 2048


class FeedsEditError(Exception):
    """The edit was not made; str() is one sentence for the admin."""


@dataclass(frozen=True)
class Toggle:
    """What /pausefeed or /resumefeed did: `changed` is False when it already was so."""

    feed: FeedSpec
    changed: bool


# --- public operations ----------------------------------------------------------------------


def add_feed(
    path: Path,
    url: str,
    name: str | None = None,
    *,
    language: str | None = None,
    tier: str | None = None,
) -> FeedSpec:
    """Append an entry to `feeds:`; refuse a URL (or an explicit name) already listed."""
    url = check_url(url)
    wanted = clean_name(name or "")

    def edit(text: str, config: FeedsConfig, layout: _Layout) -> tuple[str, list[FeedSpec]]:
        for feed in config.feeds:
            if same_url(feed.url, url):
                raise FeedsEditError(f"{url} is already listed as “{feed.name}”.")
        names = {f.name.casefold() for f in config.feeds}
        if wanted and wanted.casefold() in names:
            raise FeedsEditError(f"a feed named “{wanted}” already exists; pick another name.")
        fields = {"name": wanted or _unique(host_name(url), names), "url": url}
        if language:
            fields["language"] = language
        if tier:
            fields["tier"] = tier
        try:
            spec = FeedSpec.model_validate(fields)
        except ValueError as err:
            raise FeedsEditError(f"the new entry is not valid ({_first_error(err)}).") from None
        return layout.append(text, fields), [*config.feeds, spec]

    return _edit_file(path, edit)[-1]


def remove_feed(path: Path, key: str) -> FeedSpec:
    """Delete the entry with this URL or name (its comment lines above stay)."""
    removed: list[FeedSpec] = []

    def edit(text: str, config: FeedsConfig, layout: _Layout) -> tuple[str, list[FeedSpec]]:
        index = find_feed(config, key)
        removed.append(config.feeds[index])
        feeds = [f for i, f in enumerate(config.feeds) if i != index]
        return layout.remove(text, index), feeds

    _edit_file(path, edit)
    return removed[0]


def set_enabled(path: Path, key: str, enabled: bool) -> Toggle:
    """Write `enabled: true/false` into one entry; no write when it already is so."""
    result: list[Toggle] = []

    def edit(text: str, config: FeedsConfig, layout: _Layout) -> tuple[str, list[FeedSpec]]:
        index = find_feed(config, key)
        feed = config.feeds[index]
        if feed.enabled == enabled:
            result.append(Toggle(feed, changed=False))
            return text, list(config.feeds)
        new = feed.model_copy(update={"enabled": enabled})
        result.append(Toggle(new, changed=True))
        feeds = [new if i == index else f for i, f in enumerate(config.feeds)]
        return layout.set_enabled(text, index, enabled), feeds

    _edit_file(path, edit)
    return result[0]


def lookup(path: Path, key: str) -> FeedSpec:
    """The entry a NAME|URL argument means (for a confirmation question before removing)."""
    config = _load(path, _read(path))
    return config.feeds[find_feed(config, key)]


def find_feed(config: FeedsConfig, key: str) -> int:
    """Index of the entry with this URL, else with this name (case-insensitive, unique)."""
    key = key.strip()
    if not key:
        raise FeedsEditError("name the feed by its name or URL.")
    for i, feed in enumerate(config.feeds):
        if same_url(feed.url, key):
            return i
    hits = [i for i, f in enumerate(config.feeds) if f.name.casefold() == key.casefold()]
    if len(hits) > 1:
        raise FeedsEditError(f"{len(hits)} feeds are named “{key}”; name it by its URL instead.")
    if not hits:
        raise FeedsEditError(f"no feed has the name or URL “{key}” (see /feeds).")
    return hits[0]


# --- values ---------------------------------------------------------------------------------


def check_url(url: str) -> str:
    """A full http(s) address, or FeedsEditError saying what is wrong with it."""
    url = url.strip().strip("<>")
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FeedsEditError("the address must be a full http:// or https:// URL.")
    if len(url) > MAX_URL_CHARS or any(c.isspace() or not c.isprintable() for c in url):
        raise FeedsEditError("the address is too long or contains spaces or control characters.")
    return url


def same_url(a: str, b: str) -> bool:
    """Equal up to the case of scheme and host and a trailing slash."""

    def norm(u: str) -> tuple[str, str, str, str]:
        try:
            p = urlsplit(u.strip())
        except ValueError:
            return (u, "", "", "")
        return (p.scheme.lower(), p.netloc.lower(), p.path.rstrip("/"), p.query)

    return norm(a) == norm(b)


def clean_name(name: str) -> str:
    """One line of printable text: control characters and line separators would change the
    name on its way through YAML (and break the file in the worst case)."""
    name = "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp", "Cs", "Cn") else c for c in name
    )
    name = " ".join(name.split())
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'“”":
        name = name[1:-1].strip()
    return name[:MAX_NAME_CHARS].strip()


def host_name(url: str) -> str:
    host = (urlsplit(url).hostname or url).lower()
    return host.removeprefix("www.")


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate.casefold() in taken:
        candidate, n = f"{name} ({n})", n + 1
    return candidate


def yaml_scalar(value: str) -> str:
    """Plain style when YAML reads it back unchanged (like the hand-written entries), else a
    double-quoted JSON string (a subset of YAML's double-quoted style)."""
    try:
        plain_ok = yaml.safe_load(f"k: {value}") == {"k": value}
    except yaml.YAMLError:
        plain_ok = False
    if plain_ok and value == value.strip() and "\n" not in value:
        return value
    return json.dumps(value, ensure_ascii=False)


def _first_error(err: ValueError) -> str:
    errors = getattr(err, "errors", None)
    if callable(errors):
        first = errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        return f"{field}: {first['msg'].removeprefix('Value error, ')}"
    return str(err)


# --- where the entries are ------------------------------------------------------------------


@dataclass
class _Entry:
    start: int  # start of the line holding the entry's dash
    content_end: int  # just after its last character (inline comment excluded)
    line_end: int  # just after the newline ending its last line (or len(text))
    block_end: int  # line_end plus comment lines indented under the entry
    dash_column: int
    key_column: int
    node: yaml.MappingNode


class _Layout:
    """Character offsets of `feeds:` and its entries, from PyYAML's node marks (the same
    parser the validator uses, so both agree on what the file says)."""

    def __init__(self, text: str) -> None:
        self.newline = "\r\n" if "\r\n" in text else "\n"
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        self.root = root if isinstance(root, yaml.MappingNode) else None
        self.key: yaml.ScalarNode | None = None
        self.value: yaml.Node | None = None
        for k, v in self.root.value if self.root else []:
            if isinstance(k, yaml.ScalarNode) and k.value == "feeds":
                self.key, self.value = k, v
        self.entries: list[_Entry] = []
        if isinstance(self.value, yaml.SequenceNode):
            if self.value.value and self.value.flow_style:
                raise FeedsEditError(
                    "`feeds:` is written as one [..] list; write one `- name:` entry per line "
                    "to let the bot edit it."
                )
            self.entries = [_entry(text, n) for n in self.value.value]

    def append(self, text: str, fields: dict[str, str]) -> str:
        nl = self.newline
        dash_column, key_column, at, prefix = 2, 4, 0, ""
        if self.entries:  # indent like the entries above
            last = self.entries[-1]
            dash_column, key_column, at = last.dash_column, last.key_column, last.block_end
            prefix = "" if text[:at].endswith("\n") else nl
        first = " " * dash_column + "-" + " " * (key_column - dash_column - 1)
        lines = [
            (first if i == 0 else " " * key_column) + f"{k}: {yaml_scalar(v)}"
            for i, (k, v) in enumerate(fields.items())
        ]
        entry = prefix + nl.join(lines) + nl
        if self.entries:
            return text[:at] + entry + text[at:]
        if self.key is not None and self.value is not None:  # `feeds: []`
            start, end = self.value.start_mark.index, self.value.end_mark.index
            eol = _line_end(text, end)
            rest = text[end:eol]
            rest = rest if rest.endswith("\n") else rest + nl
            return text[:start].rstrip(" ") + rest + entry + text[eol:]
        if self.root is not None:  # no `feeds:` key: put it first
            start = _line_start(text, self.root.start_mark.index)
            return text[:start] + "feeds:" + nl + entry + text[start:]
        sep = nl if text and not text.endswith("\n") else ""
        return text + sep + "feeds:" + nl + entry

    def remove(self, text: str, index: int) -> str:
        entry = self.entries[index]
        text = text[: entry.start] + text[entry.block_end :]
        if len(self.entries) == 1 and self.key is not None:  # `feeds:` alone would be null
            colon = text.index(":", self.key.end_mark.index)
            text = text[: colon + 1] + " []" + text[colon + 1 :]
        return text

    def set_enabled(self, text: str, index: int, enabled: bool) -> str:
        entry, word = self.entries[index], "true" if enabled else "false"
        for k, v in entry.node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == "enabled":
                return text[: v.start_mark.index] + word + text[v.end_mark.index :]
        if entry.node.flow_style:  # `- {name: a, url: b}`
            close = text.rindex("}", 0, entry.content_end)
            inner_end = len(text[:close].rstrip())
            return text[:inner_end] + f", enabled: {word}" + text[inner_end:]
        line = " " * entry.key_column + f"enabled: {word}" + self.newline
        at = entry.line_end
        prefix = "" if text[:at].endswith("\n") else self.newline
        return text[:at] + prefix + line + text[at:]


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def _content_end(text: str, node: yaml.Node) -> int:
    """Just after the node's last character: marks of block nodes run on to the next token."""
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style:
        if not node.value:
            return node.start_mark.index
        last = node.value[-1]
        if isinstance(last, tuple):
            return max(_content_end(text, last[0]), _content_end(text, last[1]))
        return _content_end(text, last)
    end = node.end_mark.index
    while end > node.start_mark.index and text[end - 1].isspace():
        end -= 1
    return end


def _entry(text: str, node: yaml.Node) -> _Entry:
    if not isinstance(node, yaml.MappingNode):  # the validator has already refused this
        raise FeedsEditError("every `feeds:` entry must be a mapping.")
    start = _line_start(text, node.start_mark.index)
    while start > 0 and not text[start : node.start_mark.index].strip():
        start = _line_start(text, start - 1)  # the dash sits alone on an earlier line
    dash_column = len(text[start:]) - len(text[start:].lstrip(" "))
    content_end = _content_end(text, node)
    line_end = block_end = _line_end(text, content_end)
    while block_end < len(text):  # comments indented under the entry belong to it
        nxt = _line_end(text, block_end)
        line = text[block_end:nxt]
        indent = len(line) - len(line.lstrip(" "))
        if not line.lstrip(" ").startswith("#") or indent <= dash_column:
            break
        block_end = nxt
    return _Entry(
        start, content_end, line_end, block_end, dash_column, node.start_mark.column, node
    )


# --- reading, checking, writing -------------------------------------------------------------

Edit = Callable[[str, FeedsConfig, _Layout], tuple[str, list[FeedSpec]]]


def _read(path: Path) -> str:
    """The text as stored (line endings kept, so untouched lines stay byte for byte)."""
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise FeedsEditError(f"{path} cannot be read ({err}).") from None


def _load(path: Path, text: str) -> FeedsConfig:
    try:
        return parse_feeds_text(text, path)
    except FeedsFileError as err:
        raise FeedsEditError(f"{path} has an error, fix it by hand first: {err}") from None


def _edit_file(path: Path, edit: Edit) -> list[FeedSpec]:
    """Read, edit, validate, compare with the intended feeds, replace; all under the lock."""
    target = path.resolve()
    with _locked(target):
        text = _read(target)
        config = _load(path, text)
        new_text, expected = edit(text, config, _Layout(text))
        if new_text == text:
            return expected
        try:
            new = parse_feeds_text(new_text, path)
        except FeedsFileError as err:
            raise FeedsEditError(f"the edit would break {path}, nothing written: {err}") from None
        if list(new.feeds) != expected or new.topics != config.topics:
            raise FeedsEditError(f"the edit would not say what was meant in {path}; not written.")
        _write_atomically(target, new_text)
        return list(new.feeds)


def _write_atomically(target: Path, text: str) -> None:
    """A temporary file beside the target, then os.replace: readers see old or new, whole."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        with suppress(OSError):
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """One editor at a time: a thread lock in this process, an flock on the folder across
    processes (the CLI beside the service); the file itself is replaced, so it can't hold one."""
    with _locks_guard:
        lock = _locks.setdefault(target, threading.Lock())
    with lock:
        if sys.platform == "win32":
            yield
            return
        import fcntl

        fd = os.open(target.parent, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
