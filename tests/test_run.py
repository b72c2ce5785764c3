"""`watchbot run` as a user starts it: a real process, real HTTP, console output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, write_feeds
from tests.feed_server import FeedServer, Route, rss
from tests.test_poll import OTHER, RELEVANT


def wait_for(predicate, what: str, limit: float = 40.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def test_run_polls_prints_relevant_survives_failures_and_reloads(
    workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/a.xml"] = Route(rss([RELEVANT, OTHER]))
    path = write_feeds(
        workdir,
        [
            {"name": "Local A", "url": feed_server.url("/a.xml")},
            {"name": "Unreachable", "url": "http://127.0.0.1:9/feed.xml"},
        ],
    )
    out, err = workdir / "out.txt", workdir / "err.txt"
    env = {**os.environ, "WATCHBOT_POLL_TICK_SECONDS": "1", "PYTHONPATH": str(ROOT)}
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"], cwd=workdir, env=env, stdout=o, stderr=e
        )
    try:
        wait_for(lambda: RELEVANT["title"] in out.read_text(), "the relevant item on stdout")
        printed = out.read_text()
        assert OTHER["title"] not in printed and "why:" in printed
        wait_for(lambda: "Unreachable" in err.read_text(), "the failure line")
        failures = [ln for ln in err.read_text().splitlines() if "Unreachable" in ln]
        assert len(failures) == 1 and "could not connect" in failures[0]

        # A broken edit is reported and the running config stays; a good edit is picked up.
        good = path.read_text()
        path.write_text(good.replace("feeds:", "feeds:\n  - name: Broken\n    url: nope", 1))
        wait_for(lambda: "last good version stays in force" in err.read_text(), "the reload error")
        feed_server.routes["/b.xml"] = Route(
            rss(
                [
                    {
                        **RELEVANT,
                        "guid": "b",
                        "link": "http://n.example/b",
                        "title": "Koblenz court convicts Syrian officer of crimes against humanity",
                    }
                ]
            )
        )
        path.write_text(
            good.replace(
                "feeds:", f"feeds:\n  - name: Local B\n    url: {feed_server.url('/b.xml')}", 1
            )
        )
        wait_for(lambda: "Koblenz court convicts" in out.read_text(), "the new feed's item")
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, err.read_text()[-2000:]
    assert out.read_text().count(RELEVANT["title"]) == 1


def test_poll_once_cli_defaults_to_sqlite_in_data_folder(
    workdir: Path, feed_server: FeedServer
) -> None:
    """A newcomer's first command: no settings at all, a local SQLite file in WAL mode."""
    import json
    import sqlite3

    feed_server.routes["/a.xml"] = Route(rss([RELEVANT, OTHER]))
    write_feeds(workdir, [{"name": "Local A", "url": feed_server.url("/a.xml")}])
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHBOT_")}
    env["PYTHONPATH"] = str(ROOT)
    cmd = [sys.executable, "-m", "bot", "poll", "--once", "--json"]
    first = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, check=True)
    assert json.loads(first.stdout)["new_items"] == 2
    second = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, check=True)
    assert json.loads(second.stdout)["new_items"] == 0
    db = workdir / "data" / "watchbot.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM item").fetchone()[0] == 2
