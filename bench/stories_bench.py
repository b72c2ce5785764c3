"""Story grouping over real feed snapshots: how many items collapse into how many stories.

Run: uv run python bench/stories_bench.py [--feeds DIR] [--sample 40] [--all-groups]

Reads the third-party feed documents in /work/shared/feeds/real/ by path (their text is never
copied into the project), parses them with watchbot's parser, drops copies with the same link
(the store does that by URL already), then groups every item (not only relevant ones: a
harder test) with the production index: same language, 72 h window on the publication date.
Prints the figures and a sample of merged groups for a human to check; writes only figures to
bench/results/stories.json.

The corpus has hardly any story carried by two of its feeds on the same day, so a second run
adds, in memory, the copies aggregators and syndication make of every item: the headline with
" - Aggregator" appended and no summary, and the same item with its summary cut to 60 %, one
hour later. It measures how many copies find their original (recall on known copies) and how
many join a different story (false merges).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.parse import parse_feed
from bot.stories.assign import language_key
from bot.stories.fingerprint import fingerprint
from bot.stories.index import StoryIndex

ROOT = Path(__file__).resolve().parent.parent
FEEDS = ROOT.parent / "shared" / "feeds" / "real"
_DATE = re.compile(r"-(\d{8})(?:-\d+)?$")


@dataclass
class Row:
    key: int
    feed: str
    title: str
    summary: str
    language: str
    when: datetime


def load(folder: Path) -> list[Row]:
    rows: list[Row] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.xml")):
        stem = path.stem
        m = _DATE.search(stem)
        fallback = (
            datetime.strptime(m.group(1), "%Y%m%d").replace(tzinfo=UTC) if m else datetime.now(UTC)
        )
        try:
            parsed = parse_feed(path.read_bytes())
        except Exception:  # the corpus includes an HTML page and an empty file
            continue
        for e in parsed.entries:
            ident = e.link or f"{stem}:{e.title}"
            if ident in seen or not (e.title or e.summary):
                continue
            seen.add(ident)
            rows.append(
                Row(
                    key=len(rows) + 1,
                    feed=_DATE.sub("", stem).rsplit("-", 1)[0],
                    title=e.title,
                    summary=e.summary,
                    language=language_key(e.language or parsed.language),
                    when=e.published or fallback,
                )
            )
    return rows


def group(rows: list[Row]) -> tuple[dict[int, int], float]:
    """key → story, in publication order; returns the seconds spent."""
    index = StoryIndex()
    story: dict[int, int] = {}
    start = time.perf_counter()
    for row in sorted(rows, key=lambda r: (r.when, r.key)):
        fp = fingerprint(row.title, row.summary)
        found = index.find(row.language, row.when, fp)
        story[row.key] = found[0] if found else row.key
        index.add(row.key, story[row.key], row.language, row.when, fp)
    return story, time.perf_counter() - start


def synthetic(rows: list[Row]) -> tuple[dict[str, int | float], list[tuple[Row, Row]]]:
    """Add an aggregator copy and a cut copy of every item; count where they land."""
    copies: list[Row] = []
    original: dict[int, int] = {}
    next_key = max(r.key for r in rows) + 1
    for r in rows:
        later = r.when + timedelta(hours=1)
        words = r.summary.split()
        for title, summary in (
            (f"{r.title} - Aggregator", ""),
            (r.title, " ".join(words[: max(1, len(words) * 6 // 10)])),
        ):
            copies.append(replace(r, key=next_key, title=title, summary=summary, when=later))
            original[next_key] = r.key
            next_key += 1
    story, _ = group(rows + copies)
    by_key = {r.key: r for r in rows}
    found = wrong = 0
    wrong_pairs: list[tuple[Row, Row]] = []
    for copy in copies:
        home = story[original[copy.key]]
        if story[copy.key] == home:
            found += 1
        elif story[copy.key] != copy.key:
            wrong += 1
            wrong_pairs.append((by_key[original[copy.key]], by_key.get(story[copy.key], copy)))
    return {
        "copies": len(copies),
        "copies_found": found,
        "copies_recall": round(found / len(copies), 4),
        "copies_in_another_story": wrong,
    }, wrong_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=Path, default=FEEDS)
    parser.add_argument("--sample", type=int, default=40, help="merged groups to print")
    parser.add_argument("--all-groups", action="store_true", help="print every merged group")
    args = parser.parse_args()

    rows = load(args.feeds)
    if not rows:
        raise SystemExit(f"no feed items found in {args.feeds}")
    story, seconds = group(rows)
    groups: dict[int, list[Row]] = {}
    by_key = {r.key: r for r in rows}
    for key, sid in story.items():
        groups.setdefault(sid, []).append(by_key[key])
    merged = [g for g in groups.values() if len(g) > 1]
    cross_feed = [g for g in merged if len({r.feed for r in g}) > 1]
    sizes = Counter(len(g) for g in merged)
    figures = {
        "feeds_dir": str(args.feeds),
        "documents": len(list(args.feeds.glob("*.xml"))),
        "items": len(rows),
        "stories": len(groups),
        "merged_stories": len(merged),
        "items_in_merged_stories": sum(len(g) for g in merged),
        "cross_feed_stories": len(cross_feed),
        "largest_story": max((len(g) for g in merged), default=1),
        "merged_sizes": {str(k): v for k, v in sorted(sizes.items())},
        "languages": dict(Counter(r.language or "?" for r in rows).most_common()),
        "grouping_seconds": round(seconds, 3),
        "items_per_second": round(len(rows) / seconds) if seconds else None,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    print(
        f"{figures['items']} items → {figures['stories']} stories; "
        f"{figures['merged_stories']} stories hold {figures['items_in_merged_stories']} items "
        f"({figures['cross_feed_stories']} across feeds); largest {figures['largest_story']}; "
        f"grouping {seconds:.2f} s ({figures['items_per_second']} items/s)"
    )
    shown = merged if args.all_groups else merged[: args.sample]
    for n, g in enumerate(shown, start=1):
        print(f"\n[{n}] {len(g)} items, {len({r.feed for r in g})} feeds, lang {g[0].language}")
        for r in sorted(g, key=lambda r: r.when):
            print(f"    {r.when:%Y-%m-%d %H:%M} {r.feed:<18} {r.title[:110]}")
    copies, wrong = synthetic(rows)
    figures["synthetic_copies"] = copies
    print(
        f"\nsynthetic copies: {copies['copies_found']}/{copies['copies']} found their original "
        f"({copies['copies_recall']:.1%}); {copies['copies_in_another_story']} joined another story"
    )
    for orig, other in wrong[: args.sample]:
        print(f"    original: {orig.title[:100]}\n    joined:   {other.title[:100]}")
    out = ROOT / "bench" / "results" / "stories.json"
    out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
