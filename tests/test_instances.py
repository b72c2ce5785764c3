"""Two `watchbot run` processes on one PostgreSQL database, as an organisation runs them for
availability: every alert arrives exactly once, and when the leading instance is killed the
other one takes over Telegram within a minute."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import text

from storage.db import make_engine
from tests.conftest import ROOT, write_feeds
from tests.fake_telegram import TOKEN, FakeBotAPI, fake_bot_api

__all__ = ["fake_bot_api"]
from tests.feed_server import FeedServer, Route, rfc822_ago, rss
from tests.test_run import wait_for

STORIES = [
    ("World Court hears Canada and the Netherlands against Syria over torture",
     "Judges at the International Court of Justice heard that Syria breached the Convention "
     "against Torture."),
    ("Koblenz court convicts Syrian officer of crimes against humanity",
     "The former intelligence officer was found guilty of torture in a Damascus prison."),
    ("UN Commission of Inquiry on Syria reports new evidence of deaths in detention",
     "The commission documented torture and enforced disappearances in detention facilities."),
    ("OPCW attributes chlorine attack in Douma to Syrian Air Force",
     "Investigators found reasonable grounds that the Syrian Arab Air Force used chemical "
     "weapons."),
    ("Families of Syria's disappeared demand answers at new UN missing persons institution",
     "The Independent Institution on Missing Persons in Syria began tracing the missing."),
    ("French judges issue arrest warrant for Syrian officials over chemical attacks",
     "A universal jurisdiction case over the 2013 sarin attack in Ghouta."),
    ("Caesar photos shown in Swedish trial of former Syrian army officer",
     "The war crimes trial heard evidence from the Caesar files of torture in Syrian prisons."),
    ("Saydnaya survivors testify before German court in universal jurisdiction case",
     "Former detainees described torture at Saydnaya military prison."),
    ("IIIM shares evidence with European prosecutors investigating Syrian war crimes",
     "The International, Impartial and Independent Mechanism supports prosecutions."),
]  # fmt: skip
USERS = [5001, 5002, 5003]
LATE_USER = 5004


def item(n: int) -> dict[str, str]:
    title, description = STORIES[n]
    return {
        "title": title,
        "description": description,
        "link": f"http://news.example/story-{n}",
        "guid": f"story-{n}",
        "pubDate": rfc822_ago(hours=1),
    }


def alerts_to(api: FakeBotAPI, chat_id: int) -> list[str]:
    return [m["plain"] for m in api.messages_to(chat_id) if "news.example/story-" in str(m)]


def start(workdir: Path, env: dict[str, str], name: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = workdir / f"{name}.log"
    handle: IO[bytes] = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=handle,
    )
    handle.close()
    return proc, log


def test_two_instances_deliver_exactly_once_and_survive_losing_the_leader(
    workdir: Path, database_url: str, feed_server: FeedServer, fake_bot_api: FakeBotAPI
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several instances need PostgreSQL; SQLite runs one instance")
    api = fake_bot_api
    write_feeds(workdir, [])
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "WATCHBOT_POLL_TICK_SECONDS": "1",
        "WATCHBOT_TELEGRAM_TOKEN": TOKEN,
        "WATCHBOT_TELEGRAM_API_URL": api.url,
    }
    procs = dict([("a", start(workdir, env, "a")), ("b", start(workdir, env, "b"))])
    try:
        wait_for(lambda: api.calls_of("getUpdates"), "one instance to long-poll")
        for user in USERS:
            api.push_command("/start", user_id=user)
        wait_for(lambda: all(api.messages_to(u) for u in USERS), "the welcome in every chat")

        # Four feeds, two alert-worthy items each, spread over both instances.
        feeds = []
        for n in range(4):
            feed_server.routes[f"/f{n}.xml"] = Route(rss([item(2 * n), item(2 * n + 1)]))
            feeds.append({"name": f"Outlet {n}", "url": feed_server.url(f"/f{n}.xml")})
        write_feeds(workdir, feeds)
        wait_for(
            lambda: all(len(alerts_to(api, u)) >= 8 for u in USERS),
            "8 alerts in every chat",
            limit=60.0,
        )
        time.sleep(3)  # room for a duplicate to show up, if there were one
        for name, (proc, log) in procs.items():
            assert proc.poll() is None, f"instance {name} died: {log.read_text()[-2000:]}"
        for user in USERS:
            welcomes = [m for m in api.messages_to(user) if "Welcome" in m["plain"]]
            assert len(welcomes) == 1, "each /start answered once: one instance takes updates"
            counts = Counter(alerts_to(api, user))
            assert len(counts) == 8 and set(counts.values()) == {1}, counts

        # Kill the leader outright; the standby must take over updates and sending.
        leader = next(
            name
            for name, (_, log) in procs.items()
            if "leader: this instance now receives" in log.read_text()
        )
        survivor = "b" if leader == "a" else "a"
        procs[leader][0].send_signal(signal.SIGKILL)
        procs[leader][0].wait(timeout=10)
        feed_server.routes["/late.xml"] = Route(rss([item(8)]))
        write_feeds(workdir, [*feeds, {"name": "Late outlet", "url": feed_server.url("/late.xml")}])
        api.push_command("/start", user_id=LATE_USER)
        wait_for(
            lambda: all(len(alerts_to(api, u)) >= 9 for u in USERS) and api.messages_to(LATE_USER),
            "the survivor to deliver the new alert and answer /start",
            limit=60.0,
        )
        log = procs[survivor][1].read_text()
        assert "leader: this instance now receives" in log
        for user in USERS:
            counts = Counter(alerts_to(api, user))
            assert len(counts) == 9 and set(counts.values()) == {1}, counts
        welcomes = [m for m in api.messages_to(LATE_USER) if "Welcome" in m["plain"]]
        assert len(welcomes) == 1
        assert len(set(alerts_to(api, LATE_USER))) == len(alerts_to(api, LATE_USER))

        # SIGTERM: exits within 10 s and leaves nothing claimed.
        survivor_proc = procs[survivor][0]
        survivor_proc.send_signal(signal.SIGTERM)
        assert survivor_proc.wait(timeout=10) == 0
        engine = make_engine(database_url)
        with engine.connect() as conn:
            owners = conn.execute(
                text("SELECT DISTINCT lease_owner FROM feed WHERE lease_owner IS NOT NULL")
            ).all()
            sending = conn.execute(
                text("SELECT count(*) FROM outboxmessage WHERE state = 'sending'")
            ).scalar_one()
        engine.dispose()
        assert sending == 0
        assert len(owners) <= 1, "only the killed instance may still hold (expiring) leases"
    finally:
        for proc, _ in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
