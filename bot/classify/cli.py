"""`watchbot classify` and `watchbot eval`: run the rules from feeds.yaml by hand.

Bad input lines are reported on stderr as `line N: ...` and skipped; the exit
code is 1 only when there was input and no line could be classified.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

import click
import yaml

from bot.classify.engine import Classifier
from bot.classify.evaluate import Report, outcome, render
from bot.classify.jsonlines import read_items, text_field
from bot.classify.result import Classification
from bot.classify.rules import RulesError

feeds_option = click.option(
    "--feeds-file",
    envvar="WATCHBOT_FEEDS_FILE",
    default="feeds.yaml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML file whose `topics:` section holds the rules.",
)


def load_classifier(path: Path) -> Classifier:
    """Compile the topics of a feeds file, or stop with a readable error."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise click.ClickException(f"cannot read {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise click.ClickException(f"{path} is not valid YAML: {err}") from None
    if not isinstance(data, dict) or "topics" not in data:
        raise click.ClickException(f"{path} has no `topics:` section.")
    try:
        return Classifier.from_topics(data["topics"])
    except RulesError as err:
        raise click.ClickException(f"{path}: topics: {err}") from None


def _row(item_id: str, res: Classification) -> str:
    topics = ",".join(res.topics) or "-"
    return f"{item_id[:24]:<24} {res.tier:<6} {res.score:5.2f}  {topics[:28]:<28} {res.explain()}"


@click.command("classify")
@click.argument("file", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--explain", is_flag=True, help="Print a human table instead of JSON lines.")
@feeds_option
def classify_cmd(file: IO[str], explain: bool, feeds_file: Path) -> None:
    """Classify JSON lines (id, title, text, optional lang) from FILE or stdin."""
    clf = load_classifier(feeds_file)
    ok = failed = 0
    if explain:
        click.echo(f"{'id':<24} {'tier':<6} {'score':>5}  {'topics':<28} why")
    for line in read_items(file):
        if line.item is None:
            click.echo(f"line {line.number}: {line.error}", err=True)
            failed += 1
            continue
        item = line.item
        res = clf.classify(text_field(item, "title"), text_field(item, "text"), item_lang(item))
        item_id = str(item.get("id", f"line-{line.number}"))
        ok += 1
        if explain:
            click.echo(_row(item_id, res))
        else:
            click.echo(json.dumps({"id": item_id, **res.to_dict()}, ensure_ascii=False))
    if failed and not ok:
        sys.exit(1)


def item_lang(item: dict[str, Any]) -> str | None:
    """The item's language code, if it has one."""
    return text_field(item, "lang") or None


@click.command("eval")
@click.argument("files", nargs=-1, required=True, type=click.File("r", encoding="utf-8"))
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@feeds_option
def eval_cmd(files: tuple[IO[str], ...], as_json: bool, feeds_file: Path) -> None:
    """Measure precision/recall on labelled JSON lines (`label` 1/0); several FILES add up."""
    clf = load_classifier(feeds_file)
    report = Report()
    for handle in files:
        for line in read_items(handle):
            if line.item is None or "label" not in line.item:
                problem = line.error or "no `label` field"
                click.echo(f"{handle.name}: line {line.number}: {problem}", err=True)
                continue
            report.add(outcome(clf, line.item))
    if report.overall.n == 0:
        raise click.ClickException("no labelled items to evaluate.")
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(render(report))
