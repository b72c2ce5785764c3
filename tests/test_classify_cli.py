"""`watchbot classify` and `watchbot eval` as an admin uses them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bot.classify.cli import classify_cmd, eval_cmd

FEEDS = """feeds: []
topics:
  icj:
    label: ICJ case
    rules:
      - name: icj_syria
        weight: 0.9
        groups: [{en: [icj]}, {en: [syria]}]
"""


def feeds_file(tmp_path: Path, text: str = FEEDS) -> str:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_classify_writes_one_json_line_per_item(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "title": "ICJ hears Syria torture case", "text": "", "lang": "en"},
        {"id": "b", "title": "Football results", "text": "Nothing else."},
    ]
    stdin = "\n".join(json.dumps(x) for x in lines) + "\n"
    result = CliRunner().invoke(classify_cmd, ["--feeds-file", feeds_file(tmp_path)], input=stdin)
    assert result.exit_code == 0, result.output
    out = [json.loads(x) for x in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", "b"]
    assert out[0]["tier"] == "alert" and out[0]["relevant"] is True
    assert out[0]["topics"] == ["icj"]
    assert out[0]["matches"][0] == {"term": "icj", "topic": "icj", "field": "title"}
    assert out[1] == {
        "id": "b",
        "score": 0.0,
        "relevant": False,
        "tier": "ignore",
        "topics": [],
        "matches": [],
    }


def test_invalid_lines_are_reported_and_the_rest_classified(tmp_path: Path) -> None:
    data = tmp_path / "items.jsonl"
    data.write_text('{"id": "a", "title": "ICJ Syria"}\n{broken\n\n[1, 2]\n', encoding="utf-8")
    result = CliRunner().invoke(classify_cmd, [str(data), "--feeds-file", feeds_file(tmp_path)])
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 1
    assert "line 2: invalid JSON" in result.stderr
    assert "line 4: expected a JSON object" in result.stderr


def test_exit_code_1_when_no_line_could_be_read(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        classify_cmd, ["--feeds-file", feeds_file(tmp_path)], input="nope\n"
    )
    assert result.exit_code == 1
    assert "line 1: invalid JSON" in result.stderr


def test_explain_prints_a_table_with_the_reason(tmp_path: Path) -> None:
    stdin = json.dumps({"id": "a", "title": "ICJ and Syria", "text": ""}) + "\n"
    result = CliRunner().invoke(
        classify_cmd, ["--explain", "--feeds-file", feeds_file(tmp_path)], input=stdin
    )
    header, row = result.stdout.splitlines()
    assert header.split()[:4] == ["id", "tier", "score", "topics"]
    assert row.startswith("a") and "alert" in row and "ICJ case: 'icj' + 'syria' in title" in row


def test_broken_rules_stop_with_topic_and_rule_named(tmp_path: Path) -> None:
    bad = FEEDS.replace("[icj]", "[ic*j]")
    result = CliRunner().invoke(classify_cmd, ["--feeds-file", feeds_file(tmp_path, bad)], input="")
    assert result.exit_code != 0
    assert "topic 'icj', rule 'icj_syria'" in result.output


def test_feeds_file_from_environment(tmp_path: Path) -> None:
    stdin = json.dumps({"id": "a", "title": "ICJ Syria", "text": ""}) + "\n"
    result = CliRunner(env={"WATCHBOT_FEEDS_FILE": feeds_file(tmp_path)}).invoke(
        classify_cmd, [], input=stdin
    )
    assert json.loads(result.stdout)["tier"] == "alert"


def labelled(tmp_path: Path) -> str:
    rows = [
        {
            "id": "tp",
            "title": "ICJ rules on Syria",
            "text": "",
            "lang": "en",
            "label": 1,
            "kind": "positive",
        },
        {
            "id": "fn",
            "title": "Syria torture case opens",
            "text": "",
            "lang": "ar",
            "label": 1,
            "kind": "positive",
        },
        {
            "id": "fp",
            "title": "ICJ: Syria not involved",
            "text": "",
            "lang": "en",
            "label": 0,
            "kind": "hard_negative",
        },
        {
            "id": "tn",
            "title": "Weather",
            "text": "",
            "lang": "en",
            "label": 0,
            "kind": "easy_negative",
        },
    ]
    path = tmp_path / "dev.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n", encoding="utf-8")
    return str(path)


def test_eval_reports_metrics_slices_and_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        eval_cmd, [labelled(tmp_path), "--feeds-file", feeds_file(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    overall = next(line for line in out.splitlines() if line.startswith("overall"))
    assert overall.split()[1:6] == ["4", "1", "1", "1", "1"]
    assert "0.500 0.500 0.500" in overall
    assert "hard_negative" in out and "\nar " in out
    assert "false positives (1):" in out and "fp [en/hard_negative]" in out
    assert "false negatives (1):" in out and "fn [ar/positive]" in out
    assert "line 5: invalid JSON" in result.stderr


def test_eval_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        eval_cmd, [labelled(tmp_path), "--json", "--feeds-file", feeds_file(tmp_path)]
    )
    report = json.loads(result.stdout)
    assert report["overall"]["precision"] == 0.5 and report["overall"]["recall"] == 0.5
    assert report["by_lang"]["ar"]["fn"] == 1
    assert report["by_kind"]["positive"]["tp"] == 1
    assert report["false_positives"][0]["id"] == "fp"
    assert report["false_positives"][0]["why"].startswith("ICJ case:")
