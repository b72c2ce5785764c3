"""OPML in and out through the CLI, keeping the admin's comments in feeds.yaml."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from bot.feeds_file import load_feeds_file
from tests.conftest import write_feeds

OPML = b"""<?xml version="1.0"?>
<opml version="2.0"><head><title>x</title></head><body>
  <outline text="Justice">
    <outline text="Court watch" type="rss" xmlUrl="https://courts.example/feed.xml"/>
    <outline text="Already there" type="rss" xmlUrl="https://ok.example/a"/>
  </outline>
  <outline text="Loose &amp; odd" xmlUrl="https://odd.example/rss"/>
</body></opml>"""


def test_import_then_export(workdir: Path) -> None:
    path = write_feeds(workdir, [{"name": "A", "url": "https://ok.example/a"}])
    path.write_text("# my comment\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    (workdir / "in.opml").write_bytes(OPML)
    runner = CliRunner()
    res = runner.invoke(main, ["feeds", "import-opml", str(workdir / "in.opml")])
    assert res.exit_code == 0, res.output
    assert "Added 2 feeds" in res.output
    config = load_feeds_file(path)
    assert [f.url for f in config.feeds] == [
        "https://ok.example/a",
        "https://courts.example/feed.xml",
        "https://odd.example/rss",
    ]
    assert config.feeds[1].tags == ("Justice",) and config.feeds[2].name == "Loose & odd"
    assert path.read_text(encoding="utf-8").startswith("# my comment")
    assert config.topics  # the rules section survived

    again = runner.invoke(main, ["feeds", "import-opml", str(workdir / "in.opml")])
    assert "Nothing to add" in again.output

    out = runner.invoke(main, ["feeds", "export-opml"])
    assert out.exit_code == 0
    assert 'xmlUrl="https://courts.example/feed.xml"' in out.output
    assert "Loose &amp; odd" in out.output


def test_import_rejects_non_opml(workdir: Path) -> None:
    write_feeds(workdir, [])
    (workdir / "bad.opml").write_bytes(b"<html><body>no</body></html>")
    res = CliRunner().invoke(main, ["feeds", "import-opml", str(workdir / "bad.opml")])
    assert res.exit_code != 0 and "not OPML" in res.output
