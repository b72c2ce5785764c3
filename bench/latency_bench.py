"""Latency: from an item appearing in a feed to its alert reaching (an emulator of) Telegram,
through the real service: `watchbot run` as a subprocess.

Run:  uv run python bench/latency_bench.py [--items 50] [--feeds 10] [--quick]
Prints p50/p95/max and writes bench/results/latency.json. Takes ~6 min (`--quick`: ~2 min).

Set-up:
* a local feed server (tests/feed_server.py) with `--feeds` RSS feeds, each holding one old
  item at first; the Bot API emulator (bench/botapi_emulator.py) with Telegram's limits;
* a fresh SQLite database with one subscribed private chat (instant alerts, all topics);
* `watchbot run` with WATCHBOT_TELEGRAM_API_URL pointing at the emulator and default
  settings otherwise (30 s scheduler tick).

The feed interval is 60 s. feeds.yaml refuses intervals under 5 minutes (a politeness
floor for real publishers), so once `watchbot run` has made its first pass the bench sets
`interval_minutes = 1` on the feed rows directly (the file is not touched again, so no
reload undoes it) and spreads their next checks over the following minute.

Publishing: `--items` alert-worthy items, each with a unique token, each on the next feed in
turn, at random moments spread evenly over `items / feeds` intervals (so every feed gets
about one item per interval, at an arbitrary phase of its polling cycle, as real news does).
An item counts as delivered when the emulator accepts a sendMessage containing its token or
an editMessageText naming its feed (story clustering may fold an item into an earlier
alert's story: the subscriber is then told by an edit, which is the alert for that item).
Latency = that moment - the moment the item was put on the feed server.
Target: p95 <= interval + 5 s = 65 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fanout_bench import TOKEN, start_emulator  # noqa: E402
from sqlalchemy import text  # noqa: E402

from storage.db import create_schema, make_engine, session_scope  # noqa: E402
from storage.delivery import Subscriber  # noqa: E402
from storage.timeutil import utcnow  # noqa: E402
from tests.feed_server import Route, rss, running_feed_server  # noqa: E402

INTERVAL_S = 60
CHAT_ID = 4242
# Distinct headlines the shipped rules rate as alerts; the token keeps each one unique.
HEADLINES = [
    "World Court hears Canada and the Netherlands against Syria over torture ({t})",
    "German court convicts former Syrian intelligence officer of crimes against humanity ({t})",
    "France issues arrest warrant for Bashar al-Assad over chemical weapons attacks ({t})",
    "ICJ orders Syria to prevent torture in its detention centres ({t})",
    "Universal jurisdiction: Swedish prosecutors charge Syrian army officer with war crimes ({t})",
]
BODY = (
    "Judges at the International Court of Justice heard arguments that Syria breached the "
    "Convention against Torture in its detention centres."
)


def old_item(feed: int) -> dict[str, str]:
    when = datetime.now(UTC) - timedelta(days=30)
    return {
        "title": f"Old news {feed}",
        "link": f"http://latency.example/{feed}/old",
        "guid": f"old-{feed}",
        "description": "Backlog.",
        "pubDate": format_datetime(when, usegmt=True),
    }


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--feeds", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="10 items on 10 feeds (~2 min)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder and log")
    args = ap.parse_args()
    if args.quick:
        args.items, args.feeds = 10, 10
    rng = random.Random(7)
    tmp = Path(tempfile.mkdtemp(prefix="watchbot-latency-"))
    db_url = f"sqlite:///{tmp / 'latency.db'}"
    engine = make_engine(db_url)
    create_schema(engine)
    with session_scope(engine) as session:
        session.add(Subscriber(chat_id=CHAT_ID, last_digest_at=utcnow()))

    emulator, api = start_emulator()
    log_path = tmp / "watchbot.log"
    child: subprocess.Popen[bytes] | None = None
    results: dict[str, Any] = {}
    with running_feed_server(poll_interval=0.1) as server:
        feeds = [f"/latency/{i}.xml" for i in range(args.feeds)]
        published: dict[int, list[dict[str, str]]] = {i: [old_item(i)] for i in range(args.feeds)}
        names = [f"Outlet {i} q{rng.randrange(10**6):06d}" for i in range(args.feeds)]
        for i, path in enumerate(feeds):
            server.routes[path] = Route(rss(published[i], title=names[i]))
        lines = ["feeds:"]
        for i, path in enumerate(feeds):
            lines.append(f'  - name: "{names[i]}"\n    url: "{server.url(path)}"\n    interval: 5m')
        topics = (ROOT / "feeds.yaml").read_text(encoding="utf-8")
        topics = topics[topics.index("\ntopics:") + 1 :]
        (tmp / "feeds.yaml").write_text("\n".join(lines) + "\n\n" + topics, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHBOT_")}
        env.update(
            WATCHBOT_DATABASE_URL=db_url,
            WATCHBOT_FEEDS_FILE=str(tmp / "feeds.yaml"),
            WATCHBOT_TELEGRAM_TOKEN=TOKEN,
            WATCHBOT_TELEGRAM_API_URL=f"{api}/bot",
            WATCHBOT_HTTP_PORT="0",
            WATCHBOT_LOG_LEVEL="INFO",
        )
        watchbot = str(Path(sys.executable).parent / "watchbot")
        with open(log_path, "wb") as log:
            child = subprocess.Popen([watchbot, "run"], env=env, cwd=tmp, stdout=log, stderr=log)
        try:

            def all_polled() -> bool:
                with engine.connect() as conn:
                    n = conn.execute(
                        text("SELECT count(*) FROM feed WHERE last_success_at IS NOT NULL")
                    ).scalar_one()
                return int(n) == args.feeds

            wait_for(all_polled, 120, "the first pass of `watchbot run`")
            start = time.time()
            with engine.begin() as conn:
                for (feed_id,) in conn.execute(text("SELECT id FROM feed")).all():
                    due = utcnow() + timedelta(seconds=rng.uniform(0, INTERVAL_S))
                    conn.execute(
                        text(
                            "UPDATE feed SET interval_minutes = 1, next_check_at = :d WHERE id = :i"
                        ),
                        {"d": due.replace(tzinfo=None), "i": feed_id},
                    )
            span = INTERVAL_S * max(1, args.items // args.feeds)
            moments = sorted(rng.uniform(0, span) for _ in range(args.items))
            sent_at: dict[str, tuple[float, int]] = {}
            for k, moment in enumerate(moments):
                delay = start + INTERVAL_S / 2 + moment - time.time()
                if delay > 0:
                    time.sleep(delay)
                feed = k % args.feeds
                token = f"case-{k:03d}-{rng.randrange(10**6):06d}"
                item = {
                    "title": HEADLINES[k % len(HEADLINES)].format(t=token),
                    "link": f"http://latency.example/{feed}/{token}",
                    "guid": token,
                    "description": BODY,
                    "pubDate": format_datetime(datetime.now(UTC), usegmt=True),
                }
                published[feed] = [item, *published[feed]][:20]
                server.routes[feeds[feed]] = Route(rss(published[feed], title=names[feed]))
                sent_at[token] = (time.time(), feed)

            def arrivals() -> dict[str, tuple[float, str]]:
                seen: dict[str, tuple[float, str]] = {}
                for m in httpx.get(f"{api}/sent").json():
                    for token, (_t, feed) in sent_at.items():
                        hit = token in m["text"] if m["kind"] == "send" else False
                        hit = hit or (m["kind"] == "edit" and names[feed] in m["text"])
                        if hit and token not in seen and m["wall"] >= sent_at[token][0]:
                            seen[token] = (m["wall"], m["kind"])
                return seen

            with contextlib.suppress(SystemExit):
                wait_for(lambda: len(arrivals()) == len(sent_at), 3 * INTERVAL_S, "deliveries")
            got = arrivals()
        finally:
            if child is not None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()
            emulator.terminate()
            emulator.wait()
    latencies = [got[t][0] - sent_at[t][0] for t in sent_at if t in got]
    results = {
        "items": len(sent_at),
        "delivered": len(latencies),
        "by_edit": sum(1 for t in got if got[t][1] == "edit"),
        "interval_s": INTERVAL_S,
        "feeds": args.feeds,
        "p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "p95_s": round(percentile(latencies, 0.95), 2) if latencies else None,
        "max_s": round(max(latencies), 2) if latencies else None,
        "min_s": round(min(latencies), 2) if latencies else None,
        "latencies_s": [round(x, 2) for x in latencies],
        "target_p95_le_s": INTERVAL_S + 5,
    }
    results["target_met"] = bool(
        latencies and len(latencies) == len(sent_at) and results["p95_s"] <= INTERVAL_S + 5
    )
    results["machine"] = {
        "nproc": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    print(json.dumps(results, indent=2))
    if args.keep:
        print(f"kept {tmp} (watchbot.log)")
    out = ROOT / "bench" / "results" / ("latency_quick.json" if args.quick else "latency.json")
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
