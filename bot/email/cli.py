"""`watchbot email add|list|remove` and `watchbot digest --preview`.

Heavy imports stay inside the commands so `watchbot --help` stays quick.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from bot.config import Settings


def _settings() -> Settings:
    from bot.config import ConfigError, load_settings

    try:
        return load_settings()
    except ConfigError as err:
        raise click.ClickException(str(err)) from None


def _engine(settings: Settings) -> Engine:
    from storage.db import create_schema, make_engine

    engine = make_engine(settings.database_url)
    create_schema(engine)
    return engine


def _labels(settings: Settings) -> dict[str, str]:
    """Topic labels from the feeds file; ids are shown as they are if it cannot be read."""
    from bot.classify import Classifier
    from bot.feeds_file import FeedsFileError, load_feeds_file

    try:
        return dict(
            Classifier.from_topics(load_feeds_file(settings.feeds_file).topics).topic_labels
        )
    except FeedsFileError:
        return {}


def _address(value: str) -> str:
    from bot.email.addresses import InvalidAddress, normalize

    try:
        return normalize(value)
    except InvalidAddress as err:
        raise click.BadParameter(str(err)) from None


@click.group("email")
def email_group() -> None:
    """Addresses that get the daily digest by e-mail (double opt-in)."""


@email_group.command("add")
@click.argument("address")
@click.option("--topics", default="", help="Comma-separated topic ids; default: all topics.")
@click.option("--timezone", "tz", default="UTC", show_default=True, help="e.g. Europe/Berlin.")
@click.option("--hour", default=8, show_default=True, type=click.IntRange(0, 23))
def email_add(address: str, topics: str, tz: str, hour: int) -> None:
    """Ask ADDRESS to confirm; the digest goes there once its owner has confirmed."""
    from bot.email import subscriptions
    from bot.email.schedule import zone
    from storage.db import session_scope

    settings = _settings()
    normalized = _address(address)
    if zone(tz).key != tz:
        raise click.BadParameter(f"unknown time zone {tz!r}", param_hint="--timezone")
    wanted = sorted({t.strip() for t in topics.split(",") if t.strip()})
    known = _labels(settings)
    unknown = [t for t in wanted if known and t not in known]
    if unknown:
        raise click.BadParameter(
            f"unknown topic(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
            param_hint="--topics",
        )
    engine = _engine(settings)
    try:
        with session_scope(engine) as session:
            _, outcome = subscriptions.add(
                session, normalized, settings, topics=wanted, timezone=tz, digest_hour=hour
            )
    except subscriptions.AlreadySubscribed:
        raise click.ClickException(f"{normalized} is subscribed already.") from None
    if outcome is subscriptions.Added.RECENTLY_SENT:
        click.echo(f"A confirmation e-mail went to {normalized} minutes ago; not sent again.")
        return
    click.echo(f"Added {normalized}: nothing but a confirmation e-mail goes there until confirmed.")
    if settings.smtp_host is None:
        click.echo("Set WATCHBOT_SMTP_HOST: `watchbot run` sends the confirmation then.")
        return
    from bot.email.service import EmailService

    summary = asyncio.run(EmailService(settings, engine).drain())
    if summary.unavailable:
        click.echo(f"Not sent yet ({summary.unavailable}); `watchbot run` will retry.")
    else:
        click.echo("Confirmation e-mail sent.")


@email_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def email_list(as_json: bool) -> None:
    """Every address with its state, topics and digest time."""
    from bot.email.digest import owner_of, timing
    from bot.email.subscriptions import listing
    from storage.db import session_scope

    settings = _settings()
    with session_scope(_engine(settings)) as session:
        rows: list[dict[str, Any]] = []
        for sub in listing(session):
            owner = owner_of(session, sub)
            when = timing(sub, owner)
            rows.append(
                {
                    "address": sub.address,
                    "status": sub.status,
                    "topics": sub.topics,
                    "digest": f"{when.at:%H:%M} {when.tz}",
                    "telegram": owner is not None,
                    "last_digest_at": sub.last_digest_at,
                    "last_error": sub.last_error,
                }
            )
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    if not rows:
        click.echo("No addresses. `watchbot email add ADDRESS` adds one.")
    for r in rows:
        topics = ",".join(r["topics"]) or "all topics"
        via = " (via Telegram)" if r["telegram"] else ""
        click.echo(f"{r['status']:<12} {r['address']}{via}  {r['digest']}  {topics}")


@email_group.command("remove")
@click.argument("address")
def email_remove(address: str) -> None:
    """Forget ADDRESS and everything queued for it."""
    from bot.email import subscriptions
    from storage.db import session_scope

    settings = _settings()
    normalized = _address(address)
    with session_scope(_engine(settings)) as session:
        sub = subscriptions.by_address(session, normalized)
        if sub is None:
            raise click.ClickException(f"{normalized} is not subscribed.")
        subscriptions.remove(session, sub)
    click.echo(f"Removed {normalized}.")


@click.command("digest")
@click.option("--preview", is_flag=True, help="Show the next digest instead of sending it.")
@click.option("--email", "address", help="Whose digest (default: all topics, last 24 hours).")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path))
def digest_cmd(preview: bool, address: str | None, html_file: Path | None) -> None:
    """Print what the next digest e-mail would contain (text), or write its HTML to a file.

    Digests are sent by `watchbot run` at each address's digest time.
    """
    from bot.email.digest import preview_digest
    from bot.email.links import Links
    from bot.email.render import render_digest
    from bot.email.subscriptions import by_address
    from storage.db import session_scope
    from storage.email import EmailSubscription
    from storage.timeutil import utcnow

    if not preview:
        raise click.UsageError("use --preview; `watchbot run` sends digests on schedule.")
    settings = _settings()
    with session_scope(_engine(settings)) as session:
        if address is None:
            sub = EmailSubscription(id=0, address="preview@localhost")
        else:
            found = by_address(session, _address(address))
            if found is None:
                raise click.ClickException(f"{address} is not subscribed.")
            sub = found
        digest = preview_digest(
            session, sub, Links.load(session, settings), _labels(settings), utcnow()
        )
    if digest is None:
        click.echo("The next digest is empty: nothing would be sent.")
        return
    text, html = render_digest(digest)
    if html_file is not None:
        html_file.write_text(html, encoding="utf-8")
        click.echo(f"Wrote the HTML of {digest.subject!r} to {html_file}.")
        return
    click.echo(f"Subject: {digest.subject}\n")
    click.echo(text)
