"""Editing feeds.yaml from a program: only the edited entry changes, the result always parses,
and a refused or broken edit writes nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.feeds_edit import FeedsEditError, add_feed, remove_feed, set_enabled
from bot.feeds_file import load_feeds_file
from tests.conftest import topics_section

HEAD = """\
# Feeds for the Syria accountability watch.   (hand-written header, keep me)
feeds:
  # --- Primary -----------------------------------------------------------
  - name: UN News – Middle East        # aligned comment
    url: https://news.un.org/feed/middle-east.xml
    language: en
    tier: primary
    tags: [un]
  - name: 'Single quoted: yes'
    url: "https://example.org/quoted.xml"
    enabled: true
    # interval: 30m   (commented out, belongs to this entry)

  # --- Media -------------------------------------------------------------
  - name: عنب بلدي
    url: https://www.enabbaladi.net/feed/
    tags:
      - syria
      - media
"""
TEXT = HEAD + "\n" + topics_section()
MINI = "topics:\n  t:\n    label: T\n    rules:\n      - name: r\n        groups: [{en: [icj]}]\n"


@pytest.fixture
def feeds(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(TEXT, encoding="utf-8")
    return path


def names(path: Path) -> list[str]:
    return [f.name for f in load_feeds_file(path).feeds]


def test_add_appends_one_entry_and_leaves_every_other_byte(feeds: Path) -> None:
    feed = add_feed(feeds, "https://syriadirect.org/feed/", "Syria Direct")
    assert (feed.name, feed.url, feed.enabled) == (
        "Syria Direct",
        "https://syriadirect.org/feed/",
        True,
    )
    added = "  - name: Syria Direct\n    url: https://syriadirect.org/feed/\n"
    assert feeds.read_text(encoding="utf-8") == HEAD + added + "\n" + topics_section()
    assert names(feeds)[-1] == "Syria Direct"
    assert [p.name for p in feeds.parent.iterdir()] == ["feeds.yaml"]  # no temp file left


def test_name_defaults_to_the_host_and_stays_unique(feeds: Path) -> None:
    assert add_feed(feeds, "https://www.example.net/a.xml").name == "example.net"
    assert add_feed(feeds, "https://example.net/b.xml").name == "example.net (2)"


@pytest.mark.parametrize(
    "name",
    ["&anchor", "*alias", "- dash", "a: b", "#hash", "x #y", "yes", "null", "123", "[a, b]",
     "{a: 1}", "@at", "`tick", "%pct", "!tag", "|", ">", 'say "hi"', "back\\slash",
     "<b>bold</b> & <script>", "عنب بلدي – Enab", "tab\there", "line\u2028sep"],
)  # fmt: skip
def test_any_name_survives_yaml(tmp_path: Path, name: str) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(HEAD + MINI, encoding="utf-8")
    feed = add_feed(path, "https://example.org/new.xml", name)
    assert names(path)[-1] == feed.name
    assert feed.name == " ".join(name.replace("\u2028", " ").split())


def test_duplicates_and_bad_urls_are_refused_and_nothing_is_written(feeds: Path) -> None:
    for url, name in [
        ("https://news.un.org/feed/middle-east.xml", None),
        ("HTTPS://NEWS.UN.ORG/feed/middle-east.xml/", None),  # same feed, other spelling
        ("https://example.org/fresh.xml", "عنب بلدي"),  # explicit name already taken
        ("ftp://example.org/feed", None),
        ("javascript:alert(1)", None),
        ("example.org/feed", None),
        ("https://", None),
    ]:
        with pytest.raises(FeedsEditError):
            add_feed(feeds, url, name)
    assert feeds.read_text(encoding="utf-8") == TEXT


def test_remove_takes_the_entry_and_its_own_comments_only(feeds: Path) -> None:
    removed = remove_feed(feeds, "single QUOTED: yes")  # by name, any case
    assert removed.url == "https://example.org/quoted.xml"
    entry = (
        "  - name: 'Single quoted: yes'\n"
        '    url: "https://example.org/quoted.xml"\n'
        "    enabled: true\n"
        "    # interval: 30m   (commented out, belongs to this entry)\n"
    )
    assert feeds.read_text(encoding="utf-8") == TEXT.replace(entry, "")
    remove_feed(feeds, "https://www.enabbaladi.net/feed/")  # by URL; a block list inside
    assert names(feeds) == ["UN News – Middle East"]
    assert "# --- Media ---" in feeds.read_text(encoding="utf-8")


def test_removing_the_last_feed_leaves_an_empty_list_that_accepts_new_ones(
    tmp_path: Path,
) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:  # none yet\n  - name: a\n    url: https://a.example/rss\n\n" + MINI)
    remove_feed(path, "a")
    assert path.read_text() == "feeds: []  # none yet\n\n" + MINI
    add_feed(path, "https://b.example/rss", "b")
    assert path.read_text() == (
        "feeds:  # none yet\n  - name: b\n    url: https://b.example/rss\n\n" + MINI
    )
    assert names(path) == ["b"]


def test_a_file_without_feeds_gets_the_section(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("# rules only\n" + MINI)
    add_feed(path, "https://b.example/rss", "b")
    added = "feeds:\n  - name: b\n    url: https://b.example/rss\n"
    assert path.read_text() == "# rules only\n" + added + MINI


def test_pause_and_resume_touch_only_the_enabled_value(feeds: Path) -> None:
    toggled = set_enabled(feeds, "UN News – Middle East", False)
    assert toggled.changed and not toggled.feed.enabled
    paused = TEXT.replace("tags: [un]\n", "tags: [un]\n    enabled: false\n")
    assert feeds.read_text(encoding="utf-8") == paused
    assert not set_enabled(feeds, "UN News – Middle East", False).changed
    assert feeds.read_text(encoding="utf-8") == paused
    set_enabled(feeds, "https://news.un.org/feed/middle-east.xml", True)
    assert feeds.read_text(encoding="utf-8") == paused.replace("enabled: false", "enabled: true")

    set_enabled(feeds, "https://example.org/quoted.xml", False)  # an existing `enabled:` line
    text = feeds.read_text(encoding="utf-8")
    assert text.count("enabled: false") == 1 and "    # interval: 30m" in text
    assert [f.enabled for f in load_feeds_file(feeds).feeds] == [True, False, True]


def test_flow_style_entries_and_crlf_files(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    rules = MINI.replace("\n", "\r\n")
    original = "feeds:\r\n  - {name: a, url: 'https://a.example/rss'}  # flow\r\n" + rules
    path.write_bytes(original.encode())
    set_enabled(path, "a", False)
    assert path.read_bytes() == original.replace("'}", "', enabled: false}").encode()
    add_feed(path, "https://b.example/rss", "b")
    added = "  - name: b\r\n    url: https://b.example/rss\r\n"
    assert path.read_bytes().endswith(("# flow\r\n" + added + rules).encode())
    assert [f.enabled for f in load_feeds_file(path).feeds] == [False, True]


def test_a_broken_file_is_not_touched(feeds: Path) -> None:
    broken = TEXT.replace("tier: primary", "tier: primray")
    feeds.write_text(broken, encoding="utf-8")
    with pytest.raises(FeedsEditError, match="fix it by hand first"):
        add_feed(feeds, "https://b.example/rss")
    with pytest.raises(FeedsEditError, match="no feed has the name"):
        feeds.write_text(TEXT, encoding="utf-8")
        remove_feed(feeds, "nothing like it")
    assert feeds.read_text(encoding="utf-8") == TEXT


def test_concurrent_edits_all_land(feeds: Path) -> None:
    errors: list[BaseException] = []

    def add(i: int) -> None:
        try:
            add_feed(feeds, f"https://example.org/{i}.xml", f"feed {i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(names(feeds)[3:]) == sorted(f"feed {i}" for i in range(12))
    assert feeds.read_text(encoding="utf-8").endswith("\n" + topics_section())


def test_cli_add_pause_resume_remove(feeds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(feeds.parent)
    monkeypatch.setenv("WATCHBOT_FEEDS_FILE", str(feeds))
    runner = CliRunner()
    url = "https://syriadirect.org/feed/"
    result = runner.invoke(main, ["feeds", "add", url, "--name", "Syria Direct", "--tier", "ngo"])
    assert result.exit_code == 0, result.output
    assert "Added Syria Direct" in result.output
    assert load_feeds_file(feeds).feeds[-1].tier == "ngo"
    assert runner.invoke(main, ["feeds", "add", url]).exit_code == 1  # duplicate
    assert "paused" in runner.invoke(main, ["feeds", "pause", "Syria Direct"]).output
    assert not load_feeds_file(feeds).feeds[-1].enabled
    assert "resumed" in runner.invoke(main, ["feeds", "resume", url]).output
    assert runner.invoke(main, ["feeds", "remove", url], input="n\n").exit_code == 1
    assert names(feeds)[-1] == "Syria Direct"
    result = runner.invoke(main, ["feeds", "remove", url], input="y\n")
    assert result.exit_code == 0 and "Removed Syria Direct" in result.output
    assert feeds.read_text(encoding="utf-8") == TEXT


def test_a_one_line_feed_list_is_left_to_the_admin(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    original = "feeds: [{name: a, url: 'https://a.example/rss'}]\n" + MINI
    path.write_text(original)
    with pytest.raises(FeedsEditError, match="one `- name:` entry per line"):
        add_feed(path, "https://b.example/rss")
    assert path.read_text() == original
