"""Fault suite: servers and documents that misbehave, over real HTTP on 127.0.0.1.

For every fault the pass survives, the bad feed gets a one-sentence error (or, where the
document is still usable, its items and a parse warning), it backs off, the healthy feed
polled in the same pass is stored, and the process's peak memory grows only modestly.
Nothing here asserts a duration.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import resource
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import yaml

from bot.config import load_settings
from bot.feeds_file import FeedsConfig, FeedsDocument, load_feeds_file
from bot.poller import Poller, PollSummary
from bot.relevance import RulesHolder
from bot.reload import apply_config
from storage.db import create_schema, make_engine
from storage.models import Feed, Item
from tests.conftest import ROOT, write_feeds
from tests.feed_server import (
    FeedServer,
    Route,
    endless_bytes,
    gzip_bomb,
    hang_up,
    raw_reply,
    reset_mid_body,
    rfc822_ago,
    rss,
    running_feed_server,
    silent,
    trickle,
)
from tests.test_poll import RELEVANT, feed_rows, stored_items

FAULT_DEADLINE = 2.0  # overall fetch deadline in this suite (production: 90 s)
MAX_RSS_GROWTH_MB = 300
MB = 1024 * 1024

HEALTHY = {
    "title": "Healthy feed item",
    "link": "http://healthy.example/1",
    "guid": "healthy-1",
    "description": "Still polled while its neighbour misbehaves.",
    "pubDate": rfc822_ago(hours=6),
}


@functools.cache
def shipped_rules() -> RulesHolder:
    """The project's rules, compiled once for the module (parsing feeds.yaml takes ~1 s)."""
    return RulesHolder(load_feeds_file(ROOT / "feeds.yaml").topics)


def poll() -> PollSummary:
    """What `watchbot poll --once --all` does (sync the feeds file, one pass), minus the
    console dispatch, with the rules compiled once for the whole module."""
    settings = load_settings()
    text = settings.feeds_file.read_text(encoding="utf-8")
    doc = yaml.safe_load(text[: text.index("\ntopics:")])
    feeds = FeedsDocument.model_validate({"feeds": doc["feeds"] or []}).feeds
    engine = make_engine(settings.database_url)
    create_schema(engine)
    apply_config(engine, FeedsConfig(settings.feeds_file, tuple(feeds), None, ""))
    poller = Poller(
        engine,
        shipped_rules(),
        user_agent=settings.user_agent,
        concurrency=settings.poll_concurrency,
        per_host=settings.per_host_concurrency,
        max_body_bytes=settings.max_body_bytes,
        fetch_deadline=settings.fetch_timeout_seconds,
        connect_timeout=settings.fetch_connect_timeout_seconds,
        read_timeout=settings.fetch_read_timeout_seconds,
    )
    try:
        return asyncio.run(poller.poll(everything=True))
    finally:
        poller.close()
        engine.dispose()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """conftest's server, quicker to stop (this module starts fifty of them)."""
    with running_feed_server(poll_interval=0.02) as server:
        yield server


@pytest.fixture(autouse=True)
def short_deadline(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A short overall fetch deadline for these tests, through the setting admins use
    (after `workdir`, which clears every WATCHBOT_ variable)."""
    monkeypatch.setenv("WATCHBOT_FETCH_TIMEOUT_SECONDS", str(FAULT_DEADLINE))


@pytest.fixture(autouse=True)
def bounded_memory() -> Iterator[None]:
    before = peak_rss_mb()
    yield
    growth = peak_rss_mb() - before
    assert growth < MAX_RSS_GROWTH_MB, f"peak RSS grew by {growth:.0f} MB"


def poll_with_healthy(
    workdir: Path,
    server: FeedServer,
    routes: dict[str, Route],
    extra: tuple[str, ...] = (),
) -> tuple[PollSummary, dict[str, Feed]]:
    """Serve the routes next to a healthy feed, poll all once, check the healthy one."""
    server.routes["/healthy.xml"] = Route(rss([HEALTHY]))
    server.routes.update(routes)
    names = [*routes, *extra]
    write_feeds(
        workdir,
        [{"name": "healthy", "url": server.url("/healthy.xml")}]
        + [{"name": path, "url": server.url(path)} for path in names],
    )
    summary = poll()
    feeds = feed_rows()
    healthy = feeds["healthy"]
    assert healthy.failure_count == 0 and healthy.last_error is None
    assert HEALTHY["title"] in {i.title for i in stored_items()}
    return summary, feeds


def assert_failed(feed: Feed, *words: str) -> None:
    """A clear error, one failure counted, the next try later than this one."""
    error = feed.last_error or ""
    assert error, f"{feed.name}: no error recorded"
    assert "\n" not in error and len(error) < 400, error
    for w in words:
        assert w.lower() in error.lower(), f"{feed.name}: {error!r} lacks {w!r}"
    assert feed.failure_count == 1
    assert feed.last_checked_at is not None and feed.next_check_at > feed.last_checked_at
    assert feed.last_success_at is None


def items_of(feed: Feed) -> list[Item]:
    return [i for i in stored_items() if i.feed_id == feed.id]


# --- Faults that must become the feed's error ---------------------------------------------


@dataclass
class Fault:
    route: Callable[[FeedServer], Route]
    words: tuple[str, ...]


def _bomb_entities_nested() -> bytes:
    decls = ['<!ENTITY lol0 "lol">']
    decls += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n' + "\n".join(decls) + "\n]>\n"
        '<rss version="2.0"><channel><title>laughs</title>'
        "<item><title>&lol9;</title><link>http://e.example/lol</link></item></channel></rss>"
    ).encode()


BODY_50MB = 50 * MB

FAULTS: dict[str, Fault] = {
    "never-answers": Fault(lambda s: Route(handler=silent(s)), ("no complete answer",)),
    "trickles-forever": Fault(lambda s: Route(handler=trickle(s)), ("no complete answer",)),
    "hangs-up": Fault(lambda s: Route(handler=hang_up()), ("connection",)),
    "garbage-status-line": Fault(
        lambda s: Route(handler=raw_reply(b"HELLO THERE\r\n\r\n")), ("connection",)
    ),
    "500": Fault(lambda s: Route(b"Internal Server Error", status=500), ("500",)),
    "404": Fault(lambda s: Route(b"not here", status=404), ("not found", "404")),
    "redirect-loop": Fault(
        lambda s: Route(status=302, headers={"Location": "/loop-b.xml"}), ("redirect loop",)
    ),
    "redirect-without-location": Fault(lambda s: Route(status=301), ("without saying where",)),
    "redirect-to-file-url": Fault(
        lambda s: Route(status=301, headers={"Location": "file:///etc/passwd"}), ("non-web",)
    ),
    "malformed-xml": Fault(
        lambda s: Route(b"<<<>>> this & is ]]> not <xml at all", headers={}),
        ("not an RSS, Atom or RDF feed",),
    ),
    "html-page": Fault(
        lambda s: Route(
            b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
            b"<body>Checking your browser</body></html>",
            headers={"Content-Type": "text/html; charset=utf-8"},
        ),
        ("HTML page",),
    ),
    "html-page-labelled-rss": Fault(
        lambda s: Route(b"<html><body><p>Maintenance</p></body></html>"), ("HTML page",)
    ),
    "empty-body": Fault(lambda s: Route(b""), ("empty",)),
    "whitespace-body": Fault(lambda s: Route(b"\r\n  \n"), ("empty",)),
    "50MB-declared": Fault(
        lambda s: Route(handler=endless_bytes(BODY_50MB, declare_length=True)),
        ("larger than", "limit"),
    ),
    "50MB-undeclared": Fault(
        lambda s: Route(handler=endless_bytes(BODY_50MB, declare_length=False)),
        ("larger than", "limit"),
    ),
    "gzip-bomb": Fault(lambda s: Route(handler=gzip_bomb(3)), ("larger than", "limit")),
    "gzip-bomb-without-content-encoding": Fault(
        lambda s: Route(handler=gzip_bomb(1, content_encoding=False)), ("larger than",)
    ),
    "corrupt-gzip": Fault(
        lambda s: Route(
            gzip.compress(rss([HEALTHY]))[:20] + b"\xff" * 50,
            headers={"Content-Encoding": "gzip"},
        ),
        ("compressed body could not be decoded",),
    ),
    "reset-mid-body": Fault(
        lambda s: Route(handler=reset_mid_body(rss([RELEVANT] * 200), 3000)), ("connection",)
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_is_the_feeds_error_not_the_pass(
    fault: str, workdir: Path, feed_server: FeedServer
) -> None:
    path = f"/{fault}.xml"
    feed_server.routes["/loop-b.xml"] = Route(status=301, headers={"Location": path})
    summary, feeds = poll_with_healthy(
        workdir, feed_server, {path: FAULTS[fault].route(feed_server)}
    )
    assert summary.count("failed") == 1 and summary.count("fetched") == 1
    assert_failed(feeds[path], *FAULTS[fault].words)
    assert not items_of(feeds[path])


def test_too_many_redirects(workdir: Path, feed_server: FeedServer) -> None:
    for i in range(1, 9):
        feed_server.routes[f"/hop{i}.xml"] = Route(
            status=307, headers={"Location": f"/hop{i + 1}.xml"}
        )
    first = Route(status=307, headers={"Location": "/hop1.xml"})
    _, feeds = poll_with_healthy(workdir, feed_server, {"/hop0.xml": first})
    assert_failed(feeds["/hop0.xml"], "more than 5 redirects")


def test_410_stops_polling(workdir: Path, feed_server: FeedServer) -> None:
    _, feeds = poll_with_healthy(workdir, feed_server, {"/gone.xml": Route(b"", status=410)})
    gone = feeds["/gone.xml"]
    assert_failed(gone, "410", "gone")
    assert gone.disabled_reason and "410" in gone.disabled_reason
    assert "/gone.xml" not in {o.name for o in poll().outcomes}


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_honoured(
    status: int, workdir: Path, feed_server: FeedServer
) -> None:
    route = Route(b"slow down", status=status, headers={"Retry-After": "7200"})
    _, feeds = poll_with_healthy(workdir, feed_server, {"/busy.xml": route})
    busy = feeds["/busy.xml"]
    assert_failed(busy, str(status))
    assert busy.last_checked_at is not None
    # The feed's interval is an hour (backoff ≤ 66 min): two hours can only come from the header.
    assert busy.next_check_at - busy.last_checked_at >= timedelta(hours=2) - timedelta(seconds=5)


def test_retry_after_http_date_is_honoured(workdir: Path, feed_server: FeedServer) -> None:
    when = datetime.now(UTC) + timedelta(hours=3)
    route = Route(b"down", status=503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    _, feeds = poll_with_healthy(workdir, feed_server, {"/down.xml": route})
    down = feeds["/down.xml"]
    assert_failed(down, "503")
    assert down.last_checked_at is not None
    assert down.next_check_at - down.last_checked_at >= timedelta(hours=3) - timedelta(minutes=1)


def test_backoff_grows_with_consecutive_failures(workdir: Path, feed_server: FeedServer) -> None:
    _, feeds = poll_with_healthy(workdir, feed_server, {"/err.xml": Route(b"x", status=500)})
    first = feeds["/err.xml"]
    assert first.last_checked_at is not None
    gap1 = first.next_check_at - first.last_checked_at
    poll()
    second = feed_rows()["/err.xml"]
    assert second.failure_count == 2 and second.last_checked_at is not None
    assert second.next_check_at - second.last_checked_at > gap1


# --- Faults the feed survives with its items ------------------------------------------------


def test_301_to_another_listed_feed(workdir: Path, feed_server: FeedServer) -> None:
    """A feed that moved onto another feed of the list: followed, reported, stored once."""
    feed_server.routes["/target.xml"] = Route(rss([RELEVANT]))
    _, feeds = poll_with_healthy(
        workdir,
        feed_server,
        {"/moved.xml": Route(status=301, headers={"Location": "/target.xml"})},
        extra=("/target.xml",),
    )
    moved = feeds["/moved.xml"]
    assert moved.failure_count == 0 and moved.moved_to == feed_server.url("/target.xml")
    assert [i.title for i in stored_items()].count(RELEVANT["title"]) == 1


def test_308_chain_reports_final_target(workdir: Path, feed_server: FeedServer) -> None:
    feed_server.routes["/b.xml"] = Route(status=308, headers={"Location": "/c.xml"})
    feed_server.routes["/c.xml"] = Route(rss([RELEVANT]))
    _, feeds = poll_with_healthy(
        workdir, feed_server, {"/a.xml": Route(status=301, headers={"Location": "/b.xml"})}
    )
    assert feeds["/a.xml"].moved_to == feed_server.url("/c.xml")
    assert len(items_of(feeds["/a.xml"])) == 1


def test_temporary_redirect_is_not_reported_as_a_move(
    workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/tmp-target.xml"] = Route(rss([RELEVANT]))
    _, feeds = poll_with_healthy(
        workdir,
        feed_server,
        {"/tmp.xml": Route(status=302, headers={"Location": "/tmp-target.xml"})},
    )
    assert feeds["/tmp.xml"].moved_to is None and len(items_of(feeds["/tmp.xml"])) == 1


def test_truncated_feed_keeps_the_items_before_the_cut(
    workdir: Path, feed_server: FeedServer
) -> None:
    items = [{**RELEVANT, "guid": f"g{i}", "link": f"http://t.example/{i}"} for i in range(5)]
    body = rss(items)
    cut = body[: body.index(b"<guid>g4</guid>")]
    _, feeds = poll_with_healthy(workdir, feed_server, {"/cut.xml": Route(cut)})
    cut_feed = feeds["/cut.xml"]
    assert cut_feed.failure_count == 0 and cut_feed.parse_warning
    assert len(items_of(cut_feed)) >= 4


def _large_entity_bomb(encoding: str = "utf-8") -> bytes:
    doc = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        '<!DOCTYPE rss [\n<!ENTITY big "' + "x" * 50_000 + '">\n]>\n'
        '<rss version="2.0"><channel><title>t</title>'
        + "<item><title>&big;&big;</title><link>http://e.example/big</link></item>" * 2000
        + "</channel></rss>"
    )
    return doc.encode(encoding)


@pytest.mark.parametrize(
    "bomb",
    [
        pytest.param(_bomb_entities_nested, id="billion-laughs"),
        pytest.param(_large_entity_bomb, id="one-large-entity-x4000"),
        pytest.param(lambda: _large_entity_bomb("utf-16"), id="one-large-entity-utf16"),
        pytest.param(
            lambda: b"<!--" + b"-" * 70_000 + b"-->\n" + _large_entity_bomb()[22:],
            id="large-entity-after-70KB-comment",
        ),
    ],
)
def test_entity_bombs_are_defused(
    bomb: Callable[[], bytes], workdir: Path, feed_server: FeedServer
) -> None:
    """Gigabytes if expanded: the declarations are dropped, the feed is read without them."""
    _, feeds = poll_with_healthy(workdir, feed_server, {"/bomb.xml": Route(bomb())})
    feed = feeds["/bomb.xml"]
    assert "entity" in ((feed.parse_warning or "") + (feed.last_error or "")).lower()
    assert all(len(i.title) < 1000 and "xxxxxxxxxx" not in i.title for i in items_of(feed))


def test_small_declared_entities_still_work(workdir: Path, feed_server: FeedServer) -> None:
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY nbsp "&#160;">\n'
        b'<!ENTITY org "Syrian Archive">\n]>\n<rss version="2.0"><channel><title>t</title>'
        b"<item><title>&org;&nbsp;report</title><link>http://e.example/org</link></item>"
        b"</channel></rss>"
    )
    _, feeds = poll_with_healthy(workdir, feed_server, {"/ent.xml": Route(body)})
    assert [i.title for i in items_of(feeds["/ent.xml"])] == ["Syrian Archive report"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/octet-stream", "text/html", "text/xml"]
)
def test_wrong_content_type_still_parses(
    content_type: str, workdir: Path, feed_server: FeedServer
) -> None:
    route = Route(rss([RELEVANT]), headers={"Content-Type": content_type})
    _, feeds = poll_with_healthy(workdir, feed_server, {"/ct.xml": route})
    assert feeds["/ct.xml"].failure_count == 0
    assert [i.title for i in items_of(feeds["/ct.xml"])] == [RELEVANT["title"]]


ARABIC = "محكمة العدل الدولية تنظر في قضية التعذيب في سوريا"


def _doc(title: str, declared: str = "utf-8") -> str:
    return (
        f'<?xml version="1.0" encoding="{declared}"?><rss version="2.0"><channel><title>t'
        f"</title><item><title>{title}</title><link>http://e.example/enc</link>"
        "<description>Détenus à Saydnaya</description></item></channel></rss>"
    )


def test_invalid_utf8_keeps_the_rest_of_the_text(workdir: Path, feed_server: FeedServer) -> None:
    body = _doc(ARABIC + " XX").encode("utf-8").replace(b" XX", b" \xff\xfe\xc3")
    _, feeds = poll_with_healthy(workdir, feed_server, {"/bad-utf8.xml": Route(body)})
    [item] = items_of(feeds["/bad-utf8.xml"])
    assert item.title.startswith(ARABIC)  # not windows-1252 mojibake of the whole document
    assert item.summary == "Détenus à Saydnaya"
    assert "UTF-8" in (feeds["/bad-utf8.xml"].parse_warning or "")


@pytest.mark.parametrize(
    ("declared", "http_charset"),
    [("iso-8859-1", None), ("windows-1252", "windows-1252"), ("utf-8", "iso-8859-1")],
)
def test_utf8_declared_as_latin1_is_read_as_utf8(
    declared: str, http_charset: str | None, workdir: Path, feed_server: FeedServer
) -> None:
    ct = "application/rss+xml" + (f"; charset={http_charset}" if http_charset else "")
    route = Route(
        _doc("Réfugiés syriens — " + ARABIC, declared).encode(), headers={"Content-Type": ct}
    )
    _, feeds = poll_with_healthy(workdir, feed_server, {"/mislabel.xml": route})
    [item] = items_of(feeds["/mislabel.xml"])
    assert item.title == "Réfugiés syriens — " + ARABIC
    assert item.summary == "Détenus à Saydnaya"


def test_latin1_declared_as_utf8_is_read_as_latin1(workdir: Path, feed_server: FeedServer) -> None:
    body = _doc("Réfugiés à Genève").encode("latin-1")
    _, feeds = poll_with_healthy(workdir, feed_server, {"/latin.xml": Route(body)})
    [item] = items_of(feeds["/latin.xml"])
    assert item.title == "Réfugiés à Genève" and item.summary == "Détenus à Saydnaya"


def test_control_characters_and_surrogates_are_dropped(
    workdir: Path, feed_server: FeedServer
) -> None:
    """NUL (PostgreSQL refuses it) and lone surrogates (SQLite's driver cannot encode them)."""
    body = _doc("Before&#0;after &#xD800;end").encode()
    _, feeds = poll_with_healthy(workdir, feed_server, {"/ctl.xml": Route(body)})
    feed = feeds["/ctl.xml"]
    assert feed.failure_count == 0, feed.last_error
    titles = [i.title for i in items_of(feed)]
    assert titles and all("\x00" not in t and "\ud800" not in t for t in titles)


# --- feedparser 6.0.14 crashers: our own minimal documents on the same code paths -----------

CRASHERS = {
    # _end_height/_end_width: int(None) when an end tag arrives with no start tag.
    "image-stray-height": b'<rss version="2.0"><channel><title>c</title><image><url>http://e.example/i'
    b"</url></height></image><item><title>i</title></item></channel></rss>",
    "image-stray-width": b'<rss version="2.0"><channel><title>c</title><image>'
    b"</width></image><item><title>i</title></item></channel></rss>",
    # _end_textinput: KeyError 'textinput' when <textInput> sits inside an <item>.
    "item-textinput": b'<rss version="2.0"><channel><title>c</title><item><title>i</title>'
    b"<textInput><name>q</name></textInput></item></channel></rss>",
    # georss _end_gml_pos: int() of a non-numeric EPSG code in srsName.
    "gml-srsname": b'<feed xmlns="http://www.w3.org/2005/Atom" '
    b'xmlns:georss="http://www.georss.org/georss" xmlns:gml="http://www.opengis.net/gml">'
    b'<entry><title>e</title><georss:where><gml:Point srsName="EPSG:x">'
    b"<gml:pos>1 2</gml:pos></gml:Point></georss:where></entry></feed>",
}


@pytest.mark.parametrize("name", list(CRASHERS))
def test_feedparser_crash_is_the_feeds_error(
    name: str, workdir: Path, feed_server: FeedServer
) -> None:
    import feedparser

    with pytest.raises(Exception):  # noqa: B017 - proves the fixture hits the bug
        feedparser.parse(CRASHERS[name])
    path = f"/{name}.xml"
    summary, feeds = poll_with_healthy(workdir, feed_server, {path: Route(CRASHERS[name])})
    assert summary.count("failed") == 1
    assert_failed(feeds[path], "feed parser crashed")


def test_every_fault_at_once_in_one_pass(workdir: Path, feed_server: FeedServer) -> None:
    """All the faults above side by side: one pass, each its own outcome, memory bounded."""
    routes: dict[str, Route] = {f"/{k}.xml": f.route(feed_server) for k, f in FAULTS.items()}
    routes.update({f"/crash-{k}.xml": Route(v) for k, v in CRASHERS.items()})
    feed_server.routes["/loop-b.xml"] = Route(
        status=301, headers={"Location": "/redirect-loop.xml"}
    )
    summary, feeds = poll_with_healthy(workdir, feed_server, routes)
    assert summary.count("failed") == len(routes)
    for path in routes:
        assert feeds[path].failure_count == 1 and feeds[path].last_error, path
