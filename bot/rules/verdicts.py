"""Whether an alerted item was right, from admins' labels and subscribers' 👍/👎.

An admin's word is a label: an explicit `watchbot rules label`, else the balance of an
admin's own 👍/👎 in Telegram (admins are listed in WATCHBOT_ADMIN_IDS; in a private chat the
chat id is the user id). Everyone else's votes decide only where no admin has spoken.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from storage.delivery import Feedback, Subscriber
from storage.labels import ItemLabel
from storage.models import Item
from storage.timeutil import utcnow


@dataclass
class Votes:
    """What people said about one item."""

    up: int = 0
    down: int = 0
    label: int | None = None  # 1 relevant, 0 not: an admin's verdict
    label_by: str = ""

    @property
    def verdict(self) -> bool | None:
        """True right, False wrong, None nobody can tell yet."""
        if self.label is not None:
            return bool(self.label)
        if self.up != self.down:
            return self.up > self.down
        return None


def set_label(session: Session, item_id: int, relevant: bool, by: str) -> bool:
    """Store (or replace) an admin's label; False if there is no such item."""
    if session.get(Item, item_id) is None:
        return False
    row = session.get(ItemLabel, item_id)
    if row is None:
        row = ItemLabel(item_id=item_id, label=int(relevant), labelled_by=by)
    else:
        row.label, row.labelled_by, row.updated_at = int(relevant), by, utcnow()
    session.add(row)
    return True


def votes(
    session: Session, admin_ids: Collection[int], item_ids: Iterable[int] | None = None
) -> dict[int, Votes]:
    """item id → votes and label, for the given items (or every item anyone rated)."""
    wanted = None if item_ids is None else sorted(set(item_ids))
    result: dict[int, Votes] = {}
    admin_sum: dict[int, int] = {}
    query = select(Feedback.item_id, Feedback.value, Subscriber.chat_id).join(
        Subscriber, col(Subscriber.id) == col(Feedback.subscriber_id)
    )
    labels = select(ItemLabel)
    chunks = [None] if wanted is None else [wanted[i : i + 500] for i in range(0, len(wanted), 500)]
    for chunk in chunks:
        q, lq = query, labels
        if chunk is not None:
            q = q.where(col(Feedback.item_id).in_(chunk))
            lq = lq.where(col(ItemLabel.item_id).in_(chunk))
        for item_id, value, chat_id in session.exec(q).all():
            v = result.setdefault(item_id, Votes())
            if value > 0:
                v.up += 1
            elif value < 0:
                v.down += 1
            if chat_id in admin_ids:
                admin_sum[item_id] = admin_sum.get(item_id, 0) + value
        for row in session.exec(lq).all():
            v = result.setdefault(row.item_id, Votes())
            v.label, v.label_by = row.label, row.labelled_by
    for item_id, total in admin_sum.items():
        v = result[item_id]
        if v.label is None and total != 0:
            v.label, v.label_by = int(total > 0), "telegram"
    return result
