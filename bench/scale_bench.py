"""Scale: memory and one poll tick with 1,000 feeds and 100,000 stored items; classification
throughput.

Run:  uv run python bench/scale_bench.py [--feeds 1000] [--items 100000]
Prints the figures and writes bench/results/scale.json (≈ 4 min).

* The database (SQLite, temp folder) is filled to `--items` stored items: the first
  `watchbot poll --once --all` over bench/feedfarm.py's 1,000 feeds stores 59,786, and the
  rest are an archive feed's items written beforehand through storage.items.store_entries
  (classified, marked dispatched, i.e. old news).
* "tick" = `watchbot poll --once --all --json` once everything is stored: every feed is due
  and answers 304, the same work as `watchbot run`'s tick when all 1,000 feeds fall due at
  once (claim, 1,000 conditional GETs, record outcomes, dispatch nothing). `seconds` is the
  pass as the command times it; peak RSS is the child's own (os.wait4).
* Classification: verdicts per CPU second of the shipped rules (bot.relevance.RulesHolder)
  over the 20,000 newest stored items (bench/classify_bench.py is the classifier's own
  benchmark on its labelled set).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from feedfarm import WORDS, feed_urls  # noqa: E402
from poll_bench import run_child, start_farm, write_feeds_file  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bot.feeds_file import load_feeds_file  # noqa: E402
from bot.identity import content_hash, digest  # noqa: E402
from bot.relevance import RulesHolder  # noqa: E402
from storage.db import create_schema, make_engine, session_scope  # noqa: E402
from storage.items import NewEntry, store_entries  # noqa: E402
from storage.models import Feed  # noqa: E402


def seed_archive(db_url: str, n: int) -> None:
    """`n` old items on a feed that is not in the feeds file, already dispatched."""
    if n <= 0:
        return
    engine = make_engine(db_url)
    create_schema(engine)
    rules = RulesHolder(load_feeds_file(ROOT / "feeds.yaml").topics)
    when = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope(engine) as session:
        feed = Feed(url="http://archive.example/rss", name="archive", in_config=False)
        session.add(feed)
        session.flush()
        feed_id = feed.id or 0
    for start in range(0, n, 2000):
        entries = []
        for i in range(start, min(n, start + 2000)):
            title = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(9)).capitalize()
            summary = " ".join(WORDS[(i * 13 + k) % len(WORDS)] for k in range(50))
            link = f"http://archive.example/news/{i}"
            entries.append(
                NewEntry(
                    identity=digest("guid", f"archive-{i}"),
                    url_key=link.replace("http://", "https://"),
                    content_hash=content_hash(title, summary, link),
                    guid=f"archive-{i}",
                    link=link,
                    title=title,
                    summary=summary,
                    published_at=when - timedelta(minutes=i),
                    language="en",
                )
            )
        with session_scope(engine) as session:
            store_entries(session, feed_id, entries, when, rules.verdict, True)
    with engine.begin() as conn:
        conn.execute(text("UPDATE item SET dispatched_at = first_seen_at"))
    engine.dispose()


def classify_rate(db_url: str, n: int = 20_000) -> dict[str, Any]:
    """Verdicts per second of the shipped rules over `n` stored items (title + summary), in
    this process: the classification cost per item at this scale."""
    rules = RulesHolder(load_feeds_file(ROOT / "feeds.yaml").topics)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT title, summary, language FROM item ORDER BY id DESC LIMIT :n"), {"n": n}
        ).all()
    engine.dispose()
    start = time.process_time()
    for title, summary, language in rows:
        rules.verdict(title, summary, language)
    cpu = time.process_time() - start
    return {"items": len(rows), "cpu_s": round(cpu, 2), "items_per_s": round(len(rows) / cpu)}


def count_items(db_url: str) -> int:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        n = int(conn.execute(text("SELECT count(*) FROM item")).scalar_one())
    engine.dispose()
    return n


def poll(watchbot: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    res = run_child([watchbot, "poll", "--once", "--all", "--json"], env, cwd)
    if res["rc"] != 0:
        raise SystemExit(f"watchbot poll failed:\n{res['stderr'][-3000:]}")
    summary = json.loads(res["stdout"])
    return {
        "wall_s": round(res["wall_s"], 2),
        "pass_s": summary["seconds"],
        "feeds": summary["feeds"],
        "new_items": summary["new_items"],
        "not_modified": summary["not_modified"],
        "failed": summary["failed"],
        "peak_rss_mib": round(res["peak_rss_mib"], 1),
        "cpu_s": round(res["cpu_s"], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=100_000)
    args = ap.parse_args()
    watchbot = str(Path(sys.executable).parent / "watchbot")
    tmp = Path(tempfile.mkdtemp(prefix="watchbot-scale-"))
    db_url = f"sqlite:///{tmp / 'scale.db'}"
    farm, port = start_farm(args.feeds, 50)
    results: dict[str, Any] = {}
    try:
        write_feeds_file(tmp / "feeds.yaml", feed_urls(args.feeds, 50, port))
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHBOT_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        env.update(
            WATCHBOT_DATABASE_URL=db_url,
            WATCHBOT_FEEDS_FILE=str(tmp / "feeds.yaml"),
            WATCHBOT_LOG_LEVEL="WARNING",
        )
        farm_items = 59_786 if args.feeds == 1000 else 60 * args.feeds
        seed_archive(db_url, args.items - farm_items)
        results["first_pass"] = poll(watchbot, env, tmp)
        results["stored_items"] = count_items(db_url)
        results["tick"] = poll(watchbot, env, tmp)
        results["tick_again"] = poll(watchbot, env, tmp)
        results["database_mib"] = round((tmp / "scale.db").stat().st_size / 2**20, 1)
        results["classification"] = classify_rate(db_url)
    finally:
        farm.terminate()
        farm.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    results["machine"] = {
        "nproc": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "feeds": args.feeds,
    }
    print(json.dumps(results, indent=2))
    out = ROOT / "bench" / "results" / "scale.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
