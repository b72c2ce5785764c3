"""Retention: old irrelevant items and delivered messages go; relevant items stay forever, since
they are the archive advocates search and the evidence behind past alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, col

from storage.db import session_scope
from storage.delivery import DROPPED, SENT, OutboxMessage
from storage.models import Item
from storage.timeutil import utcnow

IGNORE_TIER = "ignore"
# Feeds keep items for days; pruning younger ones would let them come back as "new".
MIN_DAYS = 7


@dataclass(frozen=True)
class PruneResult:
    items: int
    messages: int


def _item_references() -> list[tuple[str, str]]:
    """(table, column) of every foreign key to item.id, whatever module defined it."""
    found = []
    for table in SQLModel.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == Item.__tablename__ and fk.column.name == "id":
                found.append((table.name, fk.parent.name))
    return found


def prune(engine: Engine, older_than: timedelta, *, dry_run: bool = False) -> PruneResult:
    cutoff = utcnow() - older_than
    items_q = select(col(Item.id)).where(
        col(Item.tier) == IGNORE_TIER, col(Item.first_seen_at) < cutoff
    )
    for table_name, column in _item_references():
        table = SQLModel.metadata.tables[table_name]
        referenced = select(table.c[column]).where(table.c[column].is_not(None))
        items_q = items_q.where(col(Item.id).not_in(referenced))
    pending_refs = select(col(OutboxMessage.item_id)).where(
        col(OutboxMessage.item_id).is_not(None), col(OutboxMessage.state).not_in([SENT, DROPPED])
    )
    items_q = items_q.where(col(Item.id).not_in(pending_refs))
    messages_q = select(col(OutboxMessage.id)).where(
        col(OutboxMessage.state).in_([SENT, DROPPED]), col(OutboxMessage.created_at) < cutoff
    )
    with session_scope(engine) as session:
        item_ids = list(session.execute(items_q).scalars())
        message_ids = list(session.execute(messages_q).scalars())
        if not dry_run:
            for start in range(0, len(message_ids), 1000):
                chunk = message_ids[start : start + 1000]
                session.execute(delete(OutboxMessage).where(col(OutboxMessage.id).in_(chunk)))
            for start in range(0, len(item_ids), 1000):
                chunk = item_ids[start : start + 1000]
                session.execute(delete(Item).where(col(Item.id).in_(chunk)))
    return PruneResult(items=len(item_ids), messages=len(message_ids))
