"""The `watchbot` command line."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import timedelta
from pathlib import Path

import click

from bot.config import ConfigError, Settings, load_settings
from bot.feeds_file import FeedsFileError, load_feeds_file, parse_feeds_text


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as err:
        raise click.ClickException(str(err)) from None


def _setup(settings: Settings) -> None:
    from bot.logs import configure_logging

    configure_logging(settings)


def parse_since(value: str) -> timedelta:
    m = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", value.lower())
    if not m:
        raise click.BadParameter("use a number and a unit: 30m, 24h, 7d or 2w")
    n, unit = int(m.group(1)), m.group(2)
    return {
        "m": timedelta(minutes=n),
        "h": timedelta(hours=n),
        "d": timedelta(days=n),
        "w": timedelta(weeks=n),
    }[unit]


class _Group(click.Group):
    """Turns the errors any command can meet (schema too old, database unreachable) into one
    sentence instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        from sqlalchemy.exc import OperationalError

        from storage.schema import SchemaError

        try:
            return super().invoke(ctx)
        except SchemaError as err:
            raise click.ClickException(str(err)) from None
        except OperationalError as err:
            reason = str(err.orig).strip().splitlines()[0] if err.orig else type(err).__name__
            raise click.ClickException(
                f"Cannot use the database (WATCHBOT_DATABASE_URL): {reason}."
            ) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """watchbot: monitors news feeds for Syria accountability news and alerts subscribers.

    Settings come from WATCHBOT_* environment variables or a .env file (see README).
    """


@main.command()
def run() -> None:
    """Run the service: poll feeds on schedule, classify, alert (console without a token)."""
    settings = _settings()
    _setup(settings)
    from bot.service import run_service

    try:
        asyncio.run(run_service(settings))
    except FeedsFileError as err:
        raise click.ClickException(str(err)) from None
    except KeyboardInterrupt:
        pass


@main.command()
@click.option("--once", is_flag=True, default=True, help="One pass (the default).")
@click.option("--all", "everything", is_flag=True, help="Poll every enabled feed, due or not.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def poll(once: bool, everything: bool, as_json: bool) -> None:
    """Poll due feeds once, store and classify new items, and print a summary."""
    settings = _settings()
    _setup(settings)
    from bot.poll_once import poll_once

    try:
        summary = asyncio.run(poll_once(settings, everything, show_progress=not as_json))
    except FeedsFileError as err:
        raise click.ClickException(str(err)) from None
    data = summary.as_dict()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(
        f"{data['feeds']} feeds: {data['fetched']} fetched, "
        f"{data['not_modified'] + data['unchanged']} not modified, {data['failed']} failed; "
        f"{data['new_items']} new items ({data['relevant_items']} relevant)"
    )
    for f in data["failures"]:
        click.echo(f"  failed: {f['feed']} ({f['url']}): {f['error']}")


@main.group()
def feeds() -> None:
    """Check, list, import and export the feed list."""


@feeds.command("check")
@click.argument("file", required=False, type=click.Path(path_type=Path))
def feeds_check(file: Path | None) -> None:
    """Validate the feeds file (and its topic rules) without starting anything."""
    path = file or _settings().feeds_file
    try:
        config = load_feeds_file(path)
    except FeedsFileError as err:
        raise click.ClickException(str(err)) from None
    from bot.classify import Classifier

    enabled = sum(1 for f in config.feeds if f.enabled)
    topics = len(Classifier.from_topics(config.topics).topic_labels)
    click.echo(f"{path} is valid: {len(config.feeds)} feeds ({enabled} enabled), {topics} topics.")


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True)
def feeds_list(as_json: bool) -> None:
    """List feeds with their health (last success, failures, last error)."""
    settings = _settings()
    from bot.health import feed_health_rows

    rows = feed_health_rows(settings)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    for r in rows:
        state = r["state"]
        click.echo(f"{state:<9} {r['name']}  <{r['url']}>")
        click.echo(
            f"          last success: {r['last_success_at'] or 'never'}; "
            f"failures: {r['failure_count']}; next check: {r['next_check_at'] or '-'}"
        )
        if r["problem"]:
            click.echo(f"          {r['problem']}")


@feeds.command("import-opml")
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def feeds_import_opml(opml_file: Path) -> None:
    """Add the feeds of an OPML file to the feeds file (existing URLs are skipped)."""
    from bot.opml import OpmlError, insert_feed_entries, read_opml, yaml_entries

    path = _settings().feeds_file
    try:
        config = load_feeds_file(path)
        found = read_opml(opml_file.read_bytes())
    except (FeedsFileError, OpmlError) as err:
        raise click.ClickException(str(err)) from None
    known = {f.url for f in config.feeds}
    new, seen = [], set(known)
    for f in found:
        if f.url not in seen:
            new.append(f)
            seen.add(f.url)
    if not new:
        click.echo(f"Nothing to add: all {len(found)} feeds are already in {path}.")
        return
    text = insert_feed_entries(path.read_text(encoding="utf-8"), yaml_entries(new))
    try:
        parse_feeds_text(text, path)
    except FeedsFileError as err:
        raise click.ClickException(
            f"the import would break {path}, nothing written: {err}"
        ) from None
    path.write_text(text, encoding="utf-8")
    click.echo(f"Added {len(new)} feeds to {path} ({len(found) - len(new)} already there).")


@feeds.command("export-opml")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
def feeds_export_opml(output: Path | None) -> None:
    """Write the feed list as OPML (to stdout, or to --output)."""
    from bot.opml import write_opml

    path = _settings().feeds_file
    try:
        config = load_feeds_file(path)
    except FeedsFileError as err:
        raise click.ClickException(str(err)) from None
    text = write_opml(list(config.feeds))
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {len(config.feeds)} feeds to {output}.", err=True)
    else:
        sys.stdout.write(text)


@feeds.command("add")
@click.argument("url")
@click.option("--name", help="What subscribers see as the source (default: the host name).")
@click.option("--language", help="Language code: en, ar, fr, nl, de …")
@click.option("--tier", type=click.Choice(["primary", "ngo", "media", "search", "other"]))
def feeds_add(url: str, name: str | None, language: str | None, tier: str | None) -> None:
    """Append a feed to the feeds file (comments and topics untouched), like /addfeed."""
    from bot.feeds_edit import FeedsEditError, add_feed

    path = _settings().feeds_file
    try:
        feed = add_feed(path, url, name, language=language, tier=tier)
    except (FeedsEditError, OSError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"Added {feed.name} ({feed.url}) to {path}.")


@feeds.command("remove")
@click.argument("feed")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def feeds_remove(feed: str, yes: bool) -> None:
    """Remove the feed with this name or URL from the feeds file, like /removefeed."""
    from bot.feeds_edit import FeedsEditError, lookup, remove_feed

    path = _settings().feeds_file
    try:
        if not yes:
            spec = lookup(path, feed)
            click.confirm(f"Remove {spec.name} ({spec.url}) from {path}?", abort=True)
        removed = remove_feed(path, feed)
    except (FeedsEditError, OSError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"Removed {removed.name} ({removed.url}) from {path}.")


@feeds.command("pause")
@click.argument("feed")
def feeds_pause(feed: str) -> None:
    """Set `enabled: false` on the feed with this name or URL, like /pausefeed."""
    _set_enabled(feed, False)


@feeds.command("resume")
@click.argument("feed")
def feeds_resume(feed: str) -> None:
    """Set `enabled: true` on the feed with this name or URL, like /resumefeed."""
    _set_enabled(feed, True)


def _set_enabled(feed: str, enabled: bool) -> None:
    from bot.feeds_edit import FeedsEditError, set_enabled

    path = _settings().feeds_file
    try:
        done = set_enabled(path, feed, enabled)
    except (FeedsEditError, OSError) as err:
        raise click.ClickException(str(err)) from None
    state = "resumed" if enabled else "paused"
    if not done.changed:
        state = f"already {'active' if enabled else 'paused'}; nothing changed"
    click.echo(f"{done.feed.name} ({done.feed.url}): {state}.")


@main.command()
@click.option("--since", default="24h", show_default=True, help="How far back: 30m, 24h, 7d.")
@click.option("--relevant", is_flag=True, help="Only items classified as relevant.")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def items(since: str, relevant: bool, limit: int, as_json: bool) -> None:
    """Show stored items, newest first."""
    settings = _settings()
    delta = parse_since(since)
    from bot.dispatch import format_item
    from storage.db import create_schema, make_engine, session_scope
    from storage.items import recent_items
    from storage.models import Feed
    from storage.timeutil import utcnow

    engine = make_engine(settings.database_url)
    create_schema(engine)
    with session_scope(engine) as session:
        rows = recent_items(session, utcnow() - delta, relevant, limit)
        names = {f.id: f.name for f in session.exec(__import__("sqlmodel").select(Feed)).all()}
        if as_json:
            for it in rows:
                click.echo(
                    json.dumps(
                        {
                            "id": it.id,
                            "title": it.title,
                            "link": it.link,
                            "source": names.get(it.feed_id),
                            "published_at": it.published_at,
                            "first_seen_at": it.first_seen_at,
                            "language": it.language,
                            "score": it.score,
                            "tier": it.tier,
                            "topics": it.topics,
                            "matches": it.matches,
                            "why": it.explanation,
                        },
                        ensure_ascii=False,
                        default=str,
                    )
                )
            return
        if not rows:
            click.echo(f"No {'relevant ' if relevant else ''}items in the last {since}.")
        for it in rows:
            click.echo(format_item(it, names.get(it.feed_id, "?")))


@main.group()
def db() -> None:
    """Database schema: status and migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Apply schema migrations (run this after upgrading watchbot)."""
    from storage.db import make_engine
    from storage.schema import schema_state, upgrade

    settings = _settings()
    _setup(settings)
    engine = make_engine(settings.database_url)
    before = schema_state(engine)
    if before.current is None and before.has_tables:
        raise click.ClickException(
            "The database has tables but no schema version; start `watchbot run` once to record it."
        )
    upgrade(engine, revision)
    after = schema_state(engine)
    engine.dispose()
    if before.current == after.current:
        click.echo(f"Schema already at {after.current}; nothing to do.")
    else:
        click.echo(f"Schema upgraded: {before.current or 'empty'} → {after.current}.")


@db.command("status")
def db_status() -> None:
    """Show the schema revision of the database and the one this watchbot needs."""
    from storage.db import make_engine
    from storage.schema import schema_state

    settings = _settings()
    engine = make_engine(settings.database_url)
    state = schema_state(engine)
    engine.dispose()
    click.echo(f"database: {state.current or 'no schema yet'}; this watchbot: {state.head}")
    if not state.up_to_date:
        sys.exit(1)


@main.command("prune")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=1),
    required=True,
    help="Age in days of what may go.",
)
@click.option("--dry-run", is_flag=True, help="Count what would go, delete nothing.")
def prune_cmd(days: int, dry_run: bool) -> None:
    """Delete old irrelevant items and delivered messages; relevant items are kept."""
    from datetime import timedelta

    from bot.prune import MIN_DAYS, prune
    from storage.db import create_schema, make_engine

    if days < MIN_DAYS:
        raise click.BadParameter(
            f"must be at least {MIN_DAYS}: feeds still carry younger items, which would come "
            "back as new",
            param_hint="--older-than",
        )
    settings = _settings()
    _setup(settings)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    result = prune(engine, timedelta(days=days), dry_run=dry_run)
    engine.dispose()
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(
        f"{verb} {result.items} irrelevant items and {result.messages} delivered messages "
        f"older than {days} days; relevant items are kept."
    )


def _register_extra_commands() -> None:
    from bot.classify.cli import classify_cmd, eval_cmd

    main.add_command(classify_cmd)
    main.add_command(eval_cmd)

    from bot.email.cli import digest_cmd, email_group

    main.add_command(email_group)
    main.add_command(digest_cmd)

    from bot.rules.cli import rules_cmd

    main.add_command(rules_cmd)


_register_extra_commands()
