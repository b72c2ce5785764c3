"""Fan-out: alerts to many chats through watchbot's real delivery path, against an emulator
of the Bot API that enforces Telegram's flood limits (bench/botapi_emulator.py).

Run:  uv run python bench/fanout_bench.py [--chats 1000] [--groups 20] [--alerts 3] [--quick]
Prints the figures and writes bench/results/fanout.json.

Path under test: subscribers in the database → an alert-tier item → bot.dispatch's
`dispatch_pending` with the TelegramNotifier (one outbox row per chat) → the Sender
(bot/telegram/sender.py) draining the outbox through python-telegram-bot, whose `base_url`
points at the emulator (in its own process). Two scenarios:

* `private`: one alert to `--chats` private chats (limit that matters: 30 msg/s overall);
* `mix`: `--alerts` alerts in a row to the same private chats plus `--groups` groups set to
  instant alerts (1 msg/s per private chat and 20 msg/min per group come into play too).

Figures: messages/s (accepted messages / time from the sender's start to the last accepted
message), 429s received, duplicates (a chat given the same text twice), requests made to a
chat while a retry_after it was given was still running, and the outbox's final states.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlmodel import Session, col, func, select  # noqa: E402
from telegram import Bot  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.dispatch import dispatch_pending  # noqa: E402
from bot.telegram.notifier import TelegramNotifier  # noqa: E402
from bot.telegram.sender import Pacing, Sender  # noqa: E402
from storage.db import create_schema, make_engine, session_scope  # noqa: E402
from storage.delivery import MODE_INSTANT_DAILY, OutboxMessage, Subscriber  # noqa: E402
from storage.models import Feed, Item  # noqa: E402
from storage.timeutil import utcnow  # noqa: E402

TOKEN = "123456:bench-token"
TITLES = [
    "ICJ orders Syria to prevent torture in detention centres",
    "German court convicts former Syrian intelligence officer of crimes against humanity",
    "France issues arrest warrant for Bashar al-Assad over chemical attacks",
    "UN commission of inquiry reports on enforced disappearances in Syria",
    "Dutch prosecutors charge Syrian militia member with war crimes",
]


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "botapi_emulator.py"), "--token", TOKEN],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY"):
        proc.kill()
        raise SystemExit(f"emulator did not start: {line!r}")
    return proc, f"http://127.0.0.1:{line.split()[1]}"


def seed(database_url: str, chats: int, groups: int, alerts: int) -> int:
    """Subscribers and `alerts` undispatched alert-tier items; returns outbox rows enqueued."""
    engine = make_engine(database_url)
    create_schema(engine)
    now = utcnow()
    with session_scope(engine) as session:
        for chat_id in range(1, chats + 1):
            session.add(Subscriber(chat_id=chat_id, last_digest_at=now))
        for g in range(groups):
            session.add(
                Subscriber(
                    chat_id=-1_000_000_000_000 - g,
                    chat_type="supergroup",
                    title=f"Group {g}",
                    mode=MODE_INSTANT_DAILY,
                    last_digest_at=now,
                )
            )
        feed = Feed(url="https://news.example/rss", name="Example News")
        session.add(feed)
        session.flush()
        for i in range(alerts):
            session.add(
                Item(
                    feed_id=feed.id or 0,
                    identity=f"bench-{i}",
                    url_key=f"https://news.example/{i}",
                    link=f"https://news.example/{i}",
                    title=TITLES[i % len(TITLES)],
                    summary="Judges heard arguments about torture in Syrian detention centres.",
                    content_hash=f"h{i}",
                    tier="alert",
                    score=5.0,
                    topics=[],
                    first_seen_at=now,
                    published_at=now,
                )
            )
    settings = Settings(telegram_token=TOKEN, database_url=database_url)  # type: ignore[arg-type]
    dispatch_pending(engine, [TelegramNotifier(settings)])
    with Session(engine) as session:
        rows = session.exec(select(func.count()).select_from(OutboxMessage)).one()
    engine.dispose()
    return int(rows)


async def drain(database_url: str, api: str, expected: int, timeout: float) -> dict[str, Any]:
    """Run the Sender until every row has left `pending`/`sending` (or the timeout)."""
    engine = make_engine(database_url)
    bot = Bot(
        TOKEN,
        base_url=f"{api}/bot",
        request=HTTPXRequest(connection_pool_size=64),
    )
    stop = asyncio.Event()
    async with bot:
        sender = Sender(bot, engine, Pacing())
        t0 = time.monotonic()
        async with httpx.AsyncClient() as http:
            await http.post(f"{api}/reset")
        task = asyncio.create_task(sender.run(stop))
        states: dict[str, int] = {}
        while time.monotonic() - t0 < timeout:
            await asyncio.sleep(0.5)
            with Session(engine) as session:
                states = dict(
                    session.exec(
                        select(OutboxMessage.state, func.count()).group_by(col(OutboxMessage.state))
                    ).all()
                )
            if states.get("pending", 0) + states.get("sending", 0) == 0:
                break
        drained_s = time.monotonic() - t0
        stop.set()
        await task
    async with httpx.AsyncClient() as http:
        emu = (await http.get(f"{api}/stats")).json()
    engine.dispose()
    accepted = int(emu["accepted"])
    last = emu["last_accepted_s"] or 0.0
    return {
        "outbox_rows": expected,
        "delivered": accepted,
        "messages_per_s": round(accepted / last, 2) if last else 0.0,
        "time_to_last_delivery_s": round(last, 2),
        "time_to_drain_s": round(drained_s, 2),
        "http_429_received": emu["rejected_429"],
        "http_429_global": emu["rejected_429_global"],
        "http_429_per_chat": emu["rejected_429_chat"],
        "duplicates": emu["duplicates"],
        "requests_during_chat_retry_after": emu["requests_during_chat_retry_after"],
        "requests_during_global_retry_after": emu["requests_during_global_retry_after"],
        "max_messages_in_any_1s": emu["max_in_any_second"],
        "outbox_states": states,
        "sendMessage_requests": emu["requests"],
    }


def scenario(name: str, api: str, chats: int, groups: int, alerts: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"watchbot-fanout-{name}-"))
    url = f"sqlite:///{tmp / 'fanout.db'}"
    rows = seed(url, chats, groups, alerts)
    timeout = max(120.0, rows / 10)
    res = asyncio.run(drain(url, api, rows, timeout))
    res.update(chats=chats, groups=groups, alerts=alerts)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chats", type=int, default=1000)
    ap.add_argument("--groups", type=int, default=20)
    ap.add_argument("--alerts", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="200 chats, 5 groups, 2 alerts")
    args = ap.parse_args()
    if args.quick:
        args.chats, args.groups, args.alerts = 200, 5, 2
    proc, api = start_emulator()
    try:
        results = {
            "private": scenario("private", api, args.chats, 0, 1),
            "mix": scenario("mix", api, args.chats, args.groups, args.alerts),
        }
    finally:
        proc.terminate()
        proc.wait()
    p = results["private"]
    results["targets"] = {
        "private_ge_27_msg_per_s": p["messages_per_s"] >= 27,
        "no_duplicates": all(r["duplicates"] == 0 for r in results.values()),
        "no_request_during_retry_after": all(
            r["requests_during_chat_retry_after"] == 0 for r in results.values()
        ),
    }
    results["machine"] = {
        "nproc": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "pacing": {
            k: getattr(Pacing(), k)
            for k in ("private_interval", "group_interval", "global_per_second", "concurrency")
        },
    }
    print(json.dumps(results, indent=2))
    out = ROOT / "bench" / "results" / "fanout.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
