"""Labels admins give items (relevant or not): the organisation's own evaluation set."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from storage.timeutil import utcnow


class ItemLabel(SQLModel, table=True):
    """An admin's verdict on one item; a second verdict replaces the first."""

    item_id: int = Field(foreign_key="item.id", primary_key=True)
    label: int  # 1 relevant, 0 not relevant
    labelled_by: str = Field(default="cli", max_length=64)  # "cli" or "telegram:<user id>"
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
