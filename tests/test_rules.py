"""`watchbot rules`: the report on each rule's alerts and feedback, admin labels exported as an
evaluation set, and backtests of a rule change that write nothing; and /rules in Telegram."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.cli import main
from storage.db import session_scope
from storage.delivery import Feedback, Subscriber
from storage.models import Item
from tests.fake_telegram import ADMIN_ID, USER_ID, FakeBotAPI, add_item, fake_bot_api, make_db
from tests.test_telegram_bot import command, running_bot

__all__ = ["fake_bot_api"]

# Invented rules and items; `trial_word` is deliberately loose.
RULES = """
topics:
  trials:
    label: Trials
    rules:
      - name: trial_and_syria
        groups:
          - en: [trial*, verdict]
          - en: [syria*]
      - name: trial_word
        weight: 1
        groups:
          - en: [trial*]
  detainees:
    label: Detainees
    rules:
      - name: detainees_syria
        groups:
          - en: [detainee*]
          - en: [syria*]
"""

# The candidate change: `trial_word` is dropped, a new `missing` rule is added.
CHANGED_RULES = """
topics:
  trials:
    label: Trials
    rules:
      - name: trial_and_syria
        groups:
          - en: [trial*, verdict]
          - en: [syria*]
  detainees:
    label: Detainees
    rules:
      - name: detainees_syria
        groups:
          - en: [detainee*]
          - en: [syria*]
      - name: missing_syria
        groups:
          - en: [missing]
          - en: [syria*]
"""

GOOD = "Trial of Syrian officer opens in Koblenz"
BAD_1 = "Clinical trial of new asthma drug succeeds"
BAD_2 = "Tennis star wins trial match in Perth"
MISSING = "Families of the missing in Syria demand answers"


def _write(workdir: Path, name: str, rules: str) -> Path:
    path = workdir / name
    path.write_text("feeds: []\n" + rules, encoding="utf-8")
    return path


def _run(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def _vote(engine: Engine, chat_id: int, item: Item, value: int) -> None:
    with session_scope(engine) as session:
        sub = session.exec(select(Subscriber).where(Subscriber.chat_id == chat_id)).first()
        if sub is None:
            sub = Subscriber(chat_id=chat_id)
            session.add(sub)
            session.flush()
        assert sub.id is not None and item.id is not None
        session.add(Feedback(item_id=item.id, subscriber_id=sub.id, value=value))


def _archive(workdir: Path, database_url: str) -> tuple[Engine, dict[str, Item]]:
    engine = make_db(database_url)
    items = {
        "good": add_item(engine, GOOD, topics=["trials"], score=0.9),
        "bad1": add_item(engine, BAD_1, topics=["trials"], score=0.8, link="https://e.org/1"),
        "bad2": add_item(engine, BAD_2, topics=["trials"], score=0.8, link="https://e.org/2"),
        "missing": add_item(engine, MISSING, tier="ignore", topics=[], score=0.0, link=None),
    }
    _vote(engine, 1, items["good"], 1)
    _vote(engine, 2, items["good"], 1)
    _vote(engine, 1, items["bad1"], -1)
    _vote(engine, 2, items["bad1"], -1)
    _vote(engine, 1, items["bad2"], -1)
    return engine, items


def test_report_counts_alerts_votes_and_flags_poor_rules(workdir: Path, database_url: str) -> None:
    _archive(workdir, database_url)
    feeds = _write(workdir, "feeds.yaml", RULES)
    result = _run("rules", "report", "--feeds-file", str(feeds))
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines() if "trial" in line[:40]}
    # trial_and_syria fired on the good item only; trial_word on all three.
    assert lines["trial_and_syria"].split()[2:6] == ["1", "2", "0", "100%"]
    assert lines["trial_word"].split()[2:6] == ["3", "2", "3", "33%"]
    assert "poor precision" in lines["trial_word"]
    assert "poor precision" not in lines["trial_and_syria"]
    hurt = result.output.split("⚠ trials / trial_word")[1]
    assert BAD_1 in hurt and BAD_2 in hurt and GOOD not in hurt
    assert hurt.index(BAD_1) < hurt.index(BAD_2)  # most 👎 first


def test_labels_from_cli_and_admin_votes_export_for_eval(
    workdir: Path, database_url: str, monkeypatch: Any
) -> None:
    monkeypatch.setenv("WATCHBOT_ADMIN_IDS", str(ADMIN_ID))
    engine, items = _archive(workdir, database_url)
    _vote(engine, ADMIN_ID, items["bad2"], -1)  # an admin's 👎 is a label
    _vote(engine, ADMIN_ID, items["good"], -1)  # ... unless an explicit label says otherwise
    assert _run("rules", "label", str(items["good"].id), "relevant").exit_code == 0
    assert _run("rules", "label", str(items["missing"].id), "relevant").exit_code == 0
    assert _run("rules", "label", str(items["bad1"].id), "irrelevant").exit_code == 0
    missing = _run("rules", "label", "99999", "relevant")
    assert missing.exit_code == 1 and "no item #99999" in missing.output

    out = workdir / "labels.jsonl"
    assert _run("rules", "export-labels", str(out)).exit_code == 0
    rows = {r["title"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert {t: r["label"] for t, r in rows.items()} == {GOOD: 1, BAD_1: 0, BAD_2: 0, MISSING: 1}
    assert rows[BAD_2]["kind"] == "hard_negative" and "Telegram" in rows[BAD_2]["why"]
    assert rows[MISSING]["kind"] == "positive" and rows[MISSING]["url"] == ""
    shared_format = {"id", "title", "text", "lang", "published", "url", "label", "kind", "why",
                     "source_repo", "source_path", "source_commit", "source_key"}  # fmt: skip
    assert all(set(r) == shared_format for r in rows.values())

    feeds = _write(workdir, "feeds.yaml", RULES)
    evaluated = _run("eval", str(out), "--json", "--feeds-file", str(feeds))
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["overall"]["n"] == 4


def _snapshot(engine: Engine) -> list[Any]:
    with Session(engine) as session:
        tables = ["item", "feedback", "storylink", "itemlabel", "outboxmessage", "subscriber"]
        counts = [session.exec(text(f"SELECT COUNT(*) FROM {t}")).one() for t in tables]  # type: ignore[call-overload]
        rows = session.exec(select(Item.id, Item.tier, Item.score, Item.topics)).all()
        return [*counts, sorted(map(tuple, rows))]


def test_backtest_shows_what_would_change_and_writes_nothing(
    workdir: Path, database_url: str
) -> None:
    engine, _ = _archive(workdir, database_url)
    changed = _write(workdir, "feeds.new.yaml", CHANGED_RULES)
    before = _snapshot(engine)
    result = _run("rules", "backtest", "--since", "7d", "--feeds-file", str(changed))
    assert result.exit_code == 0, result.output
    assert _snapshot(engine) == before
    out = result.output
    assert "would newly alert: 1; would stop alerting: 2" in out
    newly = out.split("Would newly alert — detainees (1):")[1].split("Would stop")[0]
    assert MISSING in newly
    stopped = out.split("Would stop alerting — trials (2):")[1]
    assert BAD_1 in stopped and BAD_2 in stopped and GOOD not in stopped


async def test_rules_command_for_admins_only(
    fake_bot_api: FakeBotAPI, workdir: Path, database_url: str
) -> None:
    engine, _ = _archive(workdir, database_url)
    feeds = _write(workdir, "feeds.yaml", RULES)
    async with running_bot(fake_bot_api, engine, feeds_file=feeds):
        refused = await command(fake_bot_api, "/rules", user_id=USER_ID)
        assert "administrators only" in refused["plain"]
        answer = await command(fake_bot_api, "/rules", user_id=ADMIN_ID)
    plain = answer["plain"]
    assert "trial_and_syria: 1 alerts, 2 👍 0 👎, precision 100%" in plain
    assert "⚠️ trial_word: 3 alerts, 2 👍 3 👎, precision 33%" in plain
    assert BAD_1 in plain.split("Poor precision")[1]
