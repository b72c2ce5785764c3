"""The ingestion layer over real and adversarial documents: parse → normalise → identity →
store (temp SQLite, storage.items.store_entries) → classify (the project's rules).

Run:  uv run python bench/real_feeds.py [--verbose]
Reads every file of /work/shared/feeds/real/ and /work/shared/feeds/feedparser-tests/ by path
(nothing is copied), prints how many parsed, how many items were stored and every failure with
its reason, and writes bench/results/real_feeds.json. No file may crash the process.

feedparser's own corpus declares an `Expect:` expression per file. Those that only look at what
we keep of an entry (title, link, id, summary/description, author) are evaluated against our
normalised entries, as a peer's test suite: a string comparison passes when our value equals
the expected one after our normalisation (plain text, one-line titles), so a failure means we
lost or garbled information, not that we store text where feedparser keeps HTML.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import tempfile
import time
import traceback
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlmodel import Session  # noqa: E402

import bot.parse  # noqa: E402
from bot.fastrss import parse_rss  # noqa: E402
from bot.feeds_file import load_feeds_file  # noqa: E402
from bot.fetch import _Inflater  # noqa: E402
from bot.ingest import to_new_entries  # noqa: E402
from bot.parse import FeedParseError, ParsedEntry, ParsedFeed, parse_feed  # noqa: E402
from bot.relevance import RulesHolder  # noqa: E402
from bot.textutil import html_to_text, one_line  # noqa: E402
from storage.db import create_schema, make_engine  # noqa: E402
from storage.items import store_entries  # noqa: E402
from storage.models import Feed  # noqa: E402

SHARED = Path("/work/shared/feeds")
REAL = SHARED / "real"
FPTESTS = SHARED / "feedparser-tests"
BASE = "http://127.0.0.1:8097/tests/"

HEADER_RE = re.compile(r"^Header:\s+([^:]+):(.+)$", re.MULTILINE)
EXPECT_RE = re.compile(r"Description:\s*(.*?)\s*Expect:\s*(.*)\s*-->", re.DOTALL)
SKIP_RE = re.compile(r"SkipUnless:\s*(.*?)\n")
KEYS = {"title": "title", "link": "link", "id": "guid", "summary": "summary"}
KEYS |= {"description": "summary", "author": "author"}


class Loose(str):
    """Our normalised value; equal to an expected string that normalises to it."""

    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return False
        text = str(self)
        candidates = {other, other.strip(), one_line(other), html_to_text(other)}
        candidates.add(one_line(html_to_text(other)))
        return text in candidates

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)


def comment_text(raw: bytes) -> str:
    """The header comment, decoded via BOM / first bytes like upstream does."""
    for bom, enc in (
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if raw.startswith(bom):
            return raw[len(bom) :].decode(enc, "replace")
    head = raw[:4]
    for sig, enc in (
        (b"\x00\x00\x00<", "utf-32-be"),
        (b"<\x00\x00\x00", "utf-32-le"),
        (b"\x00<\x00?", "utf-16-be"),
        (b"<\x00?\x00", "utf-16-le"),
        (b"Lo\xa7\x94", "cp037"),
    ):
        if head == sig:
            return raw.decode(enc, "replace")
    return raw[:4096].decode("utf-8", "replace")


def applicable(expr: str) -> ast.Expression | None:
    """The expression if it only reads entry fields we keep; `bozo` is neutralised."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        return None
    uses_entries = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in ("entries", "bozo", "len"):
            return None
        if isinstance(node, ast.Attribute):
            return None
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Subscript):
            inner = node.value
            if isinstance(inner.value, ast.Name) and inner.value.id == "entries":
                key = node.slice
                if not (isinstance(key, ast.Constant) and key.value in KEYS):
                    return None
                uses_entries = True
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Subscript)
            and isinstance(node.value.value, ast.Subscript)
        ):
            return None  # entries[0]['x'][...] (detail dicts, lists): not kept
    if not uses_entries:
        return None

    class Bozo(ast.NodeTransformer):
        def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
            operand = node.operand
            is_name = isinstance(operand, ast.Name)
            if isinstance(node.op, ast.Not) and is_name and getattr(operand, "id", "") == "bozo":
                return ast.Constant(True)
            return self.generic_visit(node)

        def visit_Name(self, node: ast.Name) -> ast.AST:
            return ast.Constant(True) if node.id == "bozo" else node

    fixed = ast.fix_missing_locations(Bozo().visit(tree))
    assert isinstance(fixed, ast.Expression)
    return fixed


def our_entries(entries: list[ParsedEntry], base: str) -> list[dict[str, Any]]:
    out = []
    for e in entries:
        link = urljoin(base, e.link) if e.link else e.link
        values = {"title": e.title, "link": link, "guid": e.guid, "summary": e.summary}
        values["author"] = e.author
        out.append(
            {k: (Loose(values[v]) if values[v] is not None else None) for k, v in KEYS.items()}
        )
    return out


def files() -> list[Path]:
    out = sorted(REAL.glob("*"))
    out += sorted(
        p
        for p in FPTESTS.rglob("*")
        if p.is_file() and p.name not in ("README.md", "LICENSE.feedparser")
    )
    return out


def body_and_headers(path: Path, raw: bytes) -> tuple[bytes, dict[str, str]]:
    """What the fetch layer would hand over: headers from the comment, decoded transfer."""
    headers: dict[str, str] = {}
    if path.is_relative_to(FPTESTS):
        for k, v in HEADER_RE.findall(comment_text(raw)):
            headers[k.strip().lower()] = v.strip()
    if path.suffix == ".z":  # served with Content-Encoding: deflate upstream
        try:
            raw = b"".join(_Inflater("deflate").feed(raw, 15 * 1024 * 1024))
        except Exception as exc:
            raise FeedParseError(f"deflate body could not be decoded ({exc})") from None
    return raw, headers


_fast_taken: list[bool] = []


def _counting_parse_rss(body: bytes, headers: dict[str, str]) -> dict[str, Any] | None:
    out = parse_rss(body, headers)
    _fast_taken.append(out is not None)
    return out


bot.parse.parse_rss = _counting_parse_rss


def _outcome(body: bytes, headers: dict[str, str], url: str, fast: bool) -> ParsedFeed | str:
    bot.parse.FAST_PATH = fast
    try:
        return parse_feed(body, headers, url)
    except FeedParseError as exc:
        return f"FeedParseError: {exc}"
    except Exception as exc:
        return f"crash: {type(exc).__name__}: {exc}"
    finally:
        bot.parse.FAST_PATH = True


def compare_paths(body: bytes, headers: dict[str, str], url: str) -> tuple[bool, str | None]:
    """Parse with bot.fastrss allowed and with feedparser only: (fast path taken, the first
    difference or None). Any difference is a bug in the fast path."""
    _fast_taken.clear()
    fast = _outcome(body, headers, url, True)
    taken = any(_fast_taken)
    slow = _outcome(body, headers, url, False)
    if fast == slow:
        return taken, None
    if isinstance(fast, str) or isinstance(slow, str):
        return taken, f"fast: {str(fast)[:200]} / feedparser: {str(slow)[:200]}"
    for name in ("title", "warning", "ttl_minutes", "language"):
        if getattr(fast, name) != getattr(slow, name):
            return taken, f"{name}: {getattr(fast, name)!r} != {getattr(slow, name)!r}"
    if len(fast.entries) != len(slow.entries):
        return taken, f"{len(fast.entries)} entries != {len(slow.entries)}"
    for i, (a, b) in enumerate(zip(fast.entries, slow.entries, strict=True)):
        if a != b:
            return taken, f"entry {i}: {a!r} != {b!r}"
    return taken, "differs"


def bench_feed_documents(n: int = 200) -> list[tuple[bytes, dict[str, str]]]:
    """bench/feedfarm.py's generated feeds, as the poll benchmark serves them."""
    sys.path.insert(0, str(ROOT / "bench"))
    from feedfarm import make_feed

    when = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    headers = {"content-type": "application/rss+xml; charset=utf-8"}
    return [(make_feed(i, when), headers) for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    rules = RulesHolder(load_feeds_file(ROOT / "feeds.yaml").topics)
    tmp = Path(tempfile.mkdtemp(prefix="watchbot-real-"))
    engine = make_engine(f"sqlite:///{tmp / 'real.db'}")
    create_schema(engine)
    now = datetime.now(UTC)

    stats: Counter[str] = Counter()
    failures: list[dict[str, str]] = []
    crashes: list[dict[str, str]] = []
    expect_fail: list[dict[str, Any]] = []
    per_real: list[dict[str, Any]] = []
    tiers: Counter[str] = Counter()
    path_diffs: list[dict[str, str]] = []
    for i, (body, headers) in enumerate(bench_feed_documents()):
        taken, diff = compare_paths(body, headers, f"http://bench.example/{i}.xml")
        stats["fast:bench-generated"] += taken
        stats["files:bench-generated"] += 1
        if diff:
            path_diffs.append({"file": f"bench-generated/{i}", "difference": diff})
    t0 = time.perf_counter()
    for path in files():
        group = "real" if path.is_relative_to(REAL) else path.relative_to(FPTESTS).parts[0]
        rel = str(path.relative_to(SHARED))
        stats[f"files:{group}"] += 1
        raw = path.read_bytes()
        url = (
            BASE + str(path.relative_to(FPTESTS))
            if group != "real"
            else f"http://real.example/{path.name}"
        )
        try:
            body, headers = body_and_headers(path, raw)
            taken, diff = compare_paths(body, headers, url)
            stats[f"fast:{group}"] += taken
            if diff:
                path_diffs.append({"file": rel, "difference": diff})
            parsed = parse_feed(body, headers, url)
        except FeedParseError as exc:
            stats[f"refused:{group}"] += 1
            failures.append({"file": rel, "reason": str(exc)})
            if group == "real":
                per_real.append({"file": path.name, "parsed": False, "reason": str(exc)})
            continue
        except Exception as exc:
            stats[f"crashed:{group}"] += 1
            crashes.append(
                {
                    "file": rel,
                    "reason": f"{type(exc).__name__}: {exc}",
                    "trace": traceback.format_exc(limit=-3),
                }
            )
            continue
        stats[f"parsed:{group}"] += 1
        try:
            entries = to_new_entries(parsed.entries, url, parsed.language)
            with Session(engine, expire_on_commit=False) as session:
                feed = Feed(url=url, name=rel)
                session.add(feed)
                session.flush()
                stored = store_entries(session, feed.id or 0, entries, now, rules.verdict, True)
                session.commit()
            stats[f"items:{group}"] += len(stored.new)
            stats[f"seen_elsewhere:{group}"] += stored.seen_elsewhere
            tiers.update(i.tier for i in stored.new)
            if group == "real":
                per_real.append(
                    {
                        "file": path.name,
                        "parsed": True,
                        "entries": len(parsed.entries),
                        "stored": len(stored.new),
                        "warning": parsed.warning,
                    }
                )
        except Exception as exc:
            stats[f"crashed:{group}"] += 1
            crashes.append(
                {
                    "file": rel,
                    "reason": f"store: {type(exc).__name__}: {exc}",
                    "trace": traceback.format_exc(limit=-3),
                }
            )
            continue

        if group == "real":
            continue
        m = EXPECT_RE.search(comment_text(raw))
        if not m:
            continue
        skip = SKIP_RE.search(comment_text(raw))
        if skip:
            try:
                if not eval(skip.group(1)):
                    continue
            except Exception:
                continue
        tree = applicable(m.group(2))
        if tree is None:
            stats["expect:not_applicable"] += 1
            continue
        ns = {"entries": our_entries(parsed.entries, url), "len": len}
        try:
            ok = bool(eval(compile(tree, rel, "eval"), {"__builtins__": {}}, ns))
        except Exception as exc:
            ok = False
            err = f"{type(exc).__name__}: {exc}"
        else:
            err = ""
        stats["expect:pass" if ok else "expect:fail"] += 1
        if not ok:
            first = ns["entries"][0] if ns["entries"] else {}
            expect_fail.append(
                {
                    "file": rel,
                    "expect": m.group(2).strip(),
                    "error": err,
                    "ours": {k: v for k, v in first.items() if v is not None},
                }
            )
    elapsed = time.perf_counter() - t0

    groups = sorted({k.split(":", 1)[1] for k in stats if k.startswith("files:")})
    table = {
        g: {
            "files": stats[f"files:{g}"],
            "parsed": stats[f"parsed:{g}"],
            "refused": stats[f"refused:{g}"],
            "crashed": stats[f"crashed:{g}"],
            "items_stored": stats[f"items:{g}"],
            "seen_elsewhere": stats[f"seen_elsewhere:{g}"],
            "fast_path": stats[f"fast:{g}"],
        }
        for g in groups
    }
    result = {
        "seconds": round(elapsed, 1),
        "groups": table,
        "tiers": dict(tiers),
        "expectations": {
            "pass": stats["expect:pass"],
            "fail": stats["expect:fail"],
            "not_applicable": stats["expect:not_applicable"],
        },
        "fast_path_differences": path_diffs,
        "refused": failures,
        "crashes": crashes,
        "expectation_failures": expect_fail,
        "real": per_real,
    }
    print(
        f"{'group':<16}{'files':>7}{'parsed':>8}{'refused':>9}{'crashed':>9}{'items':>8}"
        f"{'fast path':>11}"
    )
    for g, row in table.items():
        print(
            f"{g:<16}{row['files']:>7}{row['parsed']:>8}{row['refused']:>9}"
            f"{row['crashed']:>9}{row['items_stored']:>8}{row['fast_path']:>11}"
        )
    print(
        f"fast path (bot/fastrss.py) vs feedparser only: {len(path_diffs)} documents differ "
        "(must be 0)"
    )
    for d in path_diffs[:20]:
        print(f"  {d['file']}: {d['difference'][:400]}")
    print(f"classified: {dict(tiers)}; {elapsed:.1f} s")
    e = result["expectations"]
    print(
        f"feedparser expectations on our entries: {e['pass']} pass, {e['fail']} fail, "
        f"{e['not_applicable']} not applicable"
    )
    print("\nrefused (the feed's error, by design or not):")
    for f in failures if args.verbose else [f for f in failures if f["file"].startswith("real/")]:
        print(f"  {f['file']}: {f['reason']}")
    if not args.verbose:
        print(
            f"  ... and {sum(1 for f in failures if not f['file'].startswith('real/'))} "
            "in feedparser-tests (--verbose lists them; all are in the JSON)"
        )
    print(f"\ncrashes (must be 0): {len(crashes)}")
    for c in crashes:
        print(f"  {c['file']}: {c['reason']}")
    print(f"\nexpectation failures: {len(expect_fail)}")
    for f in expect_fail[: None if args.verbose else 40]:
        print(f"  {f['file']}: {f['expect']}  {f['error']}\n      ours: {f['ours']}")
    out = ROOT / "bench" / "results" / "real_feeds.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwritten to {out.relative_to(ROOT)}")
    engine.dispose()


if __name__ == "__main__":
    main()
