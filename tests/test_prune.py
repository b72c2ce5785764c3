"""`watchbot prune`: old noise goes, the archive of relevant items and pending work stays."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlmodel import Session, select

from bot.cli import main
from storage.delivery import PENDING, SENT, Feedback, OutboxMessage, Subscriber
from storage.models import Item
from storage.timeutil import utcnow
from tests.fake_telegram import add_item, make_db


def test_prune_keeps_relevant_items_feedback_and_pending_messages(
    workdir: Path, database_url: str
) -> None:
    engine = make_db(database_url)
    old = utcnow() - timedelta(days=100)
    add_item(engine, "Old noise", tier="ignore", first_seen_at=old)
    add_item(engine, "Old alert about the ICJ case", tier="alert", first_seen_at=old)
    add_item(engine, "Old digest item", tier="digest", first_seen_at=old)
    add_item(engine, "Fresh noise", tier="ignore")
    rated = add_item(engine, "Old noise someone rated", tier="ignore", first_seen_at=old)
    queued = add_item(engine, "Old noise still queued", tier="ignore", first_seen_at=old)
    with Session(engine) as session:
        sub = Subscriber(chat_id=77)
        session.add(sub)
        session.flush()
        assert sub.id is not None and rated.id is not None
        session.add(Feedback(item_id=rated.id, subscriber_id=sub.id, value=-1))
        for key, state, created in (
            ("old-sent", SENT, old),
            ("old-pending", PENDING, old),
            ("new-sent", SENT, utcnow()),
        ):
            session.add(
                OutboxMessage(
                    key=key,
                    chat_id=77,
                    text=key,
                    state=state,
                    created_at=created,
                    item_id=queued.id if key == "old-pending" else None,
                )
            )
        session.commit()

    dry = CliRunner().invoke(main, ["prune", "--older-than", "30", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would delete 1 irrelevant items and 1 delivered messages" in dry.output

    result = CliRunner().invoke(main, ["prune", "--older-than", "30"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 irrelevant items and 1 delivered messages" in result.output
    with Session(engine) as session:
        titles = set(session.exec(select(Item.title)).all())
        keys = set(session.exec(select(OutboxMessage.key)).all())
    assert titles == {
        "Old alert about the ICJ case",
        "Old digest item",
        "Fresh noise",
        "Old noise someone rated",
        "Old noise still queued",
    }
    assert keys == {"old-pending", "new-sent"}
    engine.dispose()


def test_prune_refuses_a_window_feeds_still_cover(workdir: Path, database_url: str) -> None:
    result = CliRunner().invoke(main, ["prune", "--older-than", "2"])
    assert result.exit_code == 2
    assert "at least 7" in result.output
