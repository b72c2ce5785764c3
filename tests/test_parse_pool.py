"""Big bodies parsed and classified in a worker process (WATCHBOT_PARSE_WORKERS)."""

from __future__ import annotations

import asyncio
import copy
import os
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from bot import parse_pool
from bot.config import ConfigError, load_settings
from bot.feeds_file import load_feeds_file
from bot.poller import Poller, PollSummary
from bot.relevance import RulesHolder
from bot.reload import apply_config
from storage.db import create_schema, make_engine
from storage.models import Item
from tests.conftest import write_feeds
from tests.feed_server import FeedServer, Route, rfc822_ago, rss
from tests.test_poll import OTHER, RELEVANT

FILLER = [
    {
        "title": f"Weather report number {n} for the coastal region",
        "link": f"http://news.example/weather-{n}",
        "guid": f"weather-{n}",
        "description": "Light rain in the morning, sunny spells later. " * 12,
        "pubDate": rfc822_ago(hours=6 + n),
    }
    for n in range(30)
]
LATER = {
    **RELEVANT,
    "title": "Second hearing at the World Court on torture in Syrian detention centres",
    "link": "http://news.example/icj-syria-torture-2",
    "guid": "icj-2",
}


def crash_worker(*_args: Any) -> None:
    """Stands in for parse_pool.prepare inside the worker: the process dies."""
    os._exit(3)


def _stored(engine: Any) -> dict[str, Item]:
    with Session(engine) as s:
        return {i.guid or "": i for i in s.exec(select(Item)).all()}


def _setup(workdir: Path, feeds: list[dict[str, str]]) -> tuple[Any, RulesHolder, Poller]:
    write_feeds(workdir, feeds)
    settings = load_settings()
    assert settings.parse_workers == 1
    config = load_feeds_file(settings.feeds_file)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    apply_config(engine, config)
    rules = RulesHolder(config.topics)
    poller = Poller(engine, rules, user_agent="test", parse_workers=settings.parse_workers)
    return engine, rules, poller


def _poll(poller: Poller) -> PollSummary:
    return asyncio.run(poller.poll(everything=True))


def _count_pool_runs(monkeypatch: pytest.MonkeyPatch, poller: Poller) -> list[str]:
    calls: list[str] = []
    run = poller.parse_pool.run

    async def counted(task: parse_pool.ParseTask) -> Any:
        calls.append(task.url)
        return await run(task)

    monkeypatch.setattr(poller.parse_pool, "run", counted)
    return calls


def test_worker_stores_once_with_current_rules(
    workdir: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHBOT_PARSE_WORKERS", "1")
    body = rss([RELEVANT, OTHER, *FILLER])
    assert len(body) >= parse_pool.MIN_BODY_BYTES
    feed_server.routes["/big.xml"] = Route(body)
    feed_server.routes["/small.xml"] = Route(rss([OTHER]))
    engine, rules, poller = _setup(
        workdir,
        [
            {"name": "Big", "url": feed_server.url("/big.xml")},
            {"name": "Small", "url": feed_server.url("/small.xml")},
        ],
    )
    calls = _count_pool_runs(monkeypatch, poller)
    try:
        first = _poll(poller)
        assert first.count("fetched") == 2 and first.count("failed") == 0
        assert calls == [feed_server.url("/big.xml")]  # the small body stayed in-process
        items = _stored(engine)
        assert len(items) == 2 + len(FILLER)  # OTHER is in both feeds: stored once
        for item in items.values():
            want = rules.verdict(item.title, item.summary, item.language)
            assert (item.tier, item.score, item.explanation) == (
                want.tier,
                want.score,
                want.explanation,
            )
        assert items["icj-1"].tier in ("alert", "digest")

        # Rules reloaded: only the chemical-weapons topic is left, so nothing is relevant.
        # The worker must apply the new rules to the next body (a new item, and an existing
        # one whose content changed).
        shipped = load_feeds_file(load_settings().feeds_file).topics
        keep = ("settings", "names", "lexicon", "chemical_weapons")
        rules.replace(copy.deepcopy({k: v for k, v in shipped.items() if k in keep}))
        changed = {**RELEVANT, "description": RELEVANT["description"] + " Updated."}
        feed_server.routes["/big.xml"] = Route(rss([changed, LATER, OTHER, *FILLER]))
        second = _poll(poller)
        assert second.count("failed") == 0 and second.new_items == 1
        assert len(calls) == 2
        items = _stored(engine)
        assert len(items) == 3 + len(FILLER)
        for guid in ("icj-1", "icj-2"):
            assert items[guid].tier == "ignore"
            want = rules.verdict(items[guid].title, items[guid].summary, items[guid].language)
            assert items[guid].explanation == want.explanation
        assert items["icj-1"].update_count == 1
    finally:
        poller.close()
        engine.dispose()


def test_worker_errors_are_the_feeds_not_the_pass(
    workdir: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHBOT_PARSE_WORKERS", "1")
    html = b"<!DOCTYPE html><html><body>" + b"<p>not a feed</p>" * 2000 + b"</body></html>"
    feed_server.routes["/page.html"] = Route(html)
    feed_server.routes["/big.xml"] = Route(rss([RELEVANT, *FILLER]))
    feed_server.routes["/small.xml"] = Route(rss([OTHER]))
    engine, _rules, poller = _setup(
        workdir,
        [
            {"name": "Page", "url": feed_server.url("/page.html")},
            {"name": "Small", "url": feed_server.url("/small.xml")},
        ],
    )
    try:
        # A parse that raises in the worker is that feed's error.
        summary = _poll(poller)
        by_name = {o.name: o for o in summary.outcomes}
        assert by_name["Page"].status == "failed"
        assert "HTML page" in (by_name["Page"].error or "")
        assert by_name["Small"].status == "fetched"

        # A worker that dies fails its feed only; the next pass gets a new worker.
        write_feeds(
            workdir,
            [
                {"name": "Big", "url": feed_server.url("/big.xml")},
                {"name": "Small", "url": feed_server.url("/small.xml")},
            ],
        )
        apply_config(engine, load_feeds_file(load_settings().feeds_file))
        prepare = parse_pool.prepare
        monkeypatch.setattr(parse_pool, "prepare", crash_worker)
        summary = _poll(poller)
        by_name = {o.name: o for o in summary.outcomes}
        assert by_name["Big"].status == "failed"
        assert "worker process died" in (by_name["Big"].error or "")
        assert by_name["Small"].status in ("fetched", "unchanged", "not_modified")
        monkeypatch.setattr(parse_pool, "prepare", prepare)
        summary = _poll(poller)
        by_name = {o.name: o for o in summary.outcomes}
        assert by_name["Big"].status == "fetched" and by_name["Big"].new == 1 + len(FILLER)
    finally:
        poller.close()
        engine.dispose()


def test_parse_workers_setting() -> None:
    assert load_settings(parse_workers=0).parse_workers == 0
    with pytest.raises(ConfigError, match="WATCHBOT_PARSE_WORKERS"):
        load_settings(parse_workers=-1)
