"""/healthz and /metrics as an orchestrator and Prometheus see them, and JSON logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import create_engine

from bot.config import load_settings
from bot.web import Heartbeat, build_app
from storage.db import create_schema, make_engine
from tests.conftest import ROOT, free_port, write_feeds
from tests.feed_server import FeedServer, Route, rss
from tests.test_poll import OTHER, RELEVANT
from tests.test_run import wait_for


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None


def test_run_serves_health_and_metrics_and_logs_json(
    workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/a.xml"] = Route(rss([RELEVANT, OTHER]))
    write_feeds(workdir, [{"name": "Local A", "url": feed_server.url("/a.xml")}])
    port = free_port()
    env = {
        **os.environ,
        "WATCHBOT_POLL_TICK_SECONDS": "1",
        "WATCHBOT_HTTP_PORT": str(port),
        "WATCHBOT_LOG_FORMAT": "json",
        "PYTHONPATH": str(ROOT),
    }
    err = workdir / "err.txt"
    with err.open("w") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=e,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def polled() -> bool:
            r = _get(f"{base}/metrics")
            return r is not None and 'watchbot_feeds{state="ok"} 1.0' in r.text

        wait_for(polled, "the feed to show as ok in /metrics")
        metrics = httpx.get(f"{base}/metrics").text
        assert "watchbot_items_new_total 2.0" in metrics
        assert "watchbot_items_relevant_total 1.0" in metrics
        assert 'watchbot_outbox_messages{state="pending"} 0.0' in metrics
        assert "watchbot_poll_tick_seconds_count" in metrics

        health = httpx.get(f"{base}/healthz")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "ok" and body["database"] == "ok"
        assert body["last_successful_poll_age_seconds"] is not None

        # The container's HEALTHCHECK command agrees.
        check = subprocess.run(
            [sys.executable, "-m", "bot.healthcheck"], env=env, capture_output=True, timeout=30
        )
        assert check.returncode == 0, check.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    lines = [ln for ln in err.read_text().splitlines() if ln.strip()]
    records = [json.loads(ln) for ln in lines]  # every line is one JSON object
    assert any("watchbot started" in r["message"] for r in records)
    assert {"time", "level", "logger", "message"} <= set(records[0])


def test_container_healthcheck_fails_when_nothing_answers() -> None:
    env = {**os.environ, "WATCHBOT_HTTP_PORT": str(free_port()), "PYTHONPATH": str(ROOT)}
    check = subprocess.run(
        [sys.executable, "-m", "bot.healthcheck"], env=env, capture_output=True, timeout=30
    )
    assert check.returncode == 1
    assert b"not answering" in check.stderr


async def test_healthz_is_503_when_the_database_is_gone(tmp_path: Path) -> None:
    settings = load_settings()
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'db.sqlite'}")
    app = build_app(settings, engine, Heartbeat(tick_seconds=30))
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/healthz")
        body = await response.json()
    assert response.status == 503
    assert body["database"] == "unreachable"
    assert any("database is unreachable" in p for p in body["problems"])


async def test_healthz_is_503_when_the_scheduler_stops_ticking(tmp_path: Path) -> None:
    settings = load_settings()
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    create_schema(engine)
    stalled = Heartbeat(tick_seconds=1, started=time.monotonic() - 600)
    async with TestClient(TestServer(build_app(settings, engine, stalled))) as client:
        response = await client.get("/healthz")
        body = await response.json()
    assert response.status == 503
    assert body["scheduler"] == "stalled"
    assert "has not ticked" in body["problems"][0]

    ticking = Heartbeat(tick_seconds=1)
    ticking.begin()
    ticking.end()
    async with TestClient(TestServer(build_app(settings, engine, ticking))) as client:
        response = await client.get("/healthz")
    assert response.status == 200
