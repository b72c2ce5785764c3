"""/rules for admins in Telegram: the rules report as HTML messages."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session

from bot.classify import Classifier, RulesError
from bot.feeds_file import FeedsFileError, load_feeds_file
from bot.rules.report import Report, build_report
from bot.telegram import html
from bot.telegram.messages import pack
from storage.timeutil import utcnow

SINCE = timedelta(days=30)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def render_html(report: Report) -> list[str]:
    """Messages of at most 4096 units: one line per rule, then the flagged rules' items."""
    header = f"<b>Rules</b> since {report.since:%Y-%m-%d}: {report.items} alerted or rated items"
    blocks: list[tuple[str, str]] = []
    for r in report.rules:
        mark = "⚠️ " if r.flagged else ""
        blocks.append(
            (
                f"<b>{html.escape(r.topic)}</b>",
                f"{mark}{html.escape(r.rule)}: {r.alerts} alerts, {r.up} 👍 {r.down} 👎, "
                f"precision {_pct(r.precision)}",
            )
        )
    for r in report.flagged:
        hurt = "\n".join(
            f"   #{item_id} ({down} 👎) {html.escape(html.shorten(title, 120))}"
            for item_id, title, down in r.hurt
        )
        section = "<b>Poor precision</b>"
        blocks.append((section, f"⚠️ {html.escape(r.topic)} / {html.escape(r.rule)}\n{hurt}"))
    if not report.rules:
        blocks.append(("", "No alerts and no feedback in this period."))
    return pack(header, blocks)


def report_messages(
    session: Session, feeds_file: Path | None, admin_ids: Collection[int]
) -> list[str]:
    """The report on the rules in the feeds file, or one message saying why there is none."""
    if feeds_file is None:
        return ["The feeds file is not known to the bot, so the rules cannot be read."]
    try:
        classifier = Classifier.from_topics(load_feeds_file(feeds_file).topics)
    except (FeedsFileError, RulesError) as err:
        return [f"Cannot read the rules: <code>{html.escape(str(err)[:500])}</code>"]
    return render_html(build_report(session, classifier, utcnow() - SINCE, admin_ids))
