"""`watchbot rules …`: report, label, export-labels and backtest.

Report and backtest read the rules from a feeds file; only `label` writes to the database.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import click
from sqlmodel import Session

from bot.classify.cli import feeds_option, load_classifier


@contextmanager
def _session(write: bool = False) -> Iterator[tuple[Session, frozenset[int]]]:
    """A session on the configured database, and the admin ids; commits only if `write`."""
    from bot.cli import _settings
    from storage.db import create_schema, make_engine

    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        create_schema(engine)
    except Exception as err:  # out-of-date schema, unreachable database: one sentence
        raise click.ClickException(str(err).splitlines()[0]) from None
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session, frozenset(settings.admin_ids)
            if write:
                session.commit()
            else:
                session.rollback()
    finally:
        engine.dispose()


def _since(value: str) -> datetime:
    from bot.cli import parse_since
    from storage.timeutil import utcnow

    return utcnow() - parse_since(value)


since_option = click.option(
    "--since", default="30d", show_default=True, help="How far back: 24h, 30d, 8w."
)


@click.group("rules")
def rules_cmd() -> None:
    """How the topic rules perform, admin labels, and backtests of rule changes."""


@rules_cmd.command("report")
@since_option
@click.option("--min-precision", default=0.5, show_default=True, help="Flag rules below this.")
@click.option("--min-rated", default=2, show_default=True, help="Judged alerts before flagging.")
@feeds_option
def report_cmd(since: str, min_precision: float, min_rated: int, feeds_file: Path) -> None:
    """Alerts, 👍/👎 and precision per topic rule; flags poor rules with the items that hurt."""
    from bot.rules.report import build_report, render_text

    classifier = load_classifier(feeds_file)
    when = _since(since)
    with _session() as (session, admins):
        report = build_report(
            session,
            classifier,
            when,
            admins,
            min_precision=min_precision,
            min_rated=min_rated,
        )
    click.echo(render_text(report))


@rules_cmd.command("label")
@click.argument("item_id", type=int)
@click.argument("verdict", type=click.Choice(["relevant", "irrelevant"]))
def label_cmd(item_id: int, verdict: str) -> None:
    """Label a stored item (see `watchbot items --json` for ids) for the evaluation set."""
    from bot.rules.verdicts import set_label

    with _session(write=True) as (session, _):
        if not set_label(session, item_id, verdict == "relevant", "cli"):
            raise click.ClickException(f"no item #{item_id} in the database.")
    click.echo(f"Item #{item_id} labelled {verdict}.")


@rules_cmd.command("export-labels")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export_labels_cmd(file: Path) -> None:
    """Write labelled items as JSON lines for `watchbot eval` (FILE, or - for stdout)."""
    from bot.rules.export import labelled_rows

    with _session() as (session, admins):
        lines = [json.dumps(row, ensure_ascii=False) for row in labelled_rows(session, admins)]
    text = "".join(f"{line}\n" for line in lines)
    if str(file) == "-":
        sys.stdout.write(text)
        return
    file.write_text(text, encoding="utf-8")
    click.echo(f"Wrote {len(lines)} labelled items to {file}.", err=True)


@rules_cmd.command("backtest")
@since_option
@click.option("--limit", default=20, show_default=True, help="Titles shown per list.")
@feeds_option
def backtest_cmd(since: str, limit: int, feeds_file: Path) -> None:
    """Run FEEDS_FILE's topics over stored items and show what would change; writes nothing."""
    from bot.rules.backtest import backtest, render_text

    classifier = load_classifier(feeds_file)
    when = _since(since)
    with _session() as (session, _):
        result = backtest(session, classifier, when)
    click.echo(render_text(result, limit))
