"""SQL of the trainer loop: the queue of questions the bot could not answer well."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhongtai.service.models import TrainingItem


def item_for_message(session: Session, message_id: int) -> TrainingItem | None:
    return session.scalar(select(TrainingItem).where(TrainingItem.message_id == message_id))


def insert_item(session: Session, item: TrainingItem) -> bool:
    """Adds the item unless its message already has one (a retried webhook, two workers): False
    then. A savepoint keeps the caller's transaction usable after the unique violation."""
    try:
        with session.begin_nested():
            session.add(item)
            session.flush()
    except IntegrityError:
        return False
    return True


def newest_items(session: Session, *, status: str, limit: int, channel_code: str | None = None) -> list[TrainingItem]:
    stmt = select(TrainingItem).where(TrainingItem.status == status)
    if channel_code is not None:
        stmt = stmt.where(TrainingItem.channel_code == channel_code)
    return list(session.scalars(stmt.order_by(TrainingItem.created_at.desc(), TrainingItem.id.desc()).limit(limit)))


def items_by_ids(session: Session, ids: Sequence[int]) -> list[TrainingItem]:
    if not ids:
        return []
    return list(session.scalars(select(TrainingItem).where(TrainingItem.id.in_(sorted(set(ids))))))


def claim_open(
    session: Session,
    ids: Sequence[int],
    *,
    status: str,
    subintent_code: str | None,
    resolved_at: datetime,
    resolved_by: str,
    channel_code: str | None = None,
) -> list[tuple[int, str]]:
    """Moves the items that are still open to ``status`` in one conditional UPDATE and returns
    (id, text) of those it moved. Two trainers claiming the same items: on PostgreSQL the second
    UPDATE waits for the first transaction and then finds them no longer open; on SQLite writers
    are serialised. Either way an item is claimed once."""
    if not ids:
        return []
    stmt = update(TrainingItem).where(TrainingItem.id.in_(sorted(set(ids))), TrainingItem.status == "open")
    if channel_code is not None:
        stmt = stmt.where(TrainingItem.channel_code == channel_code)
    rows = session.execute(
        stmt.values(status=status, subintent_code=subintent_code, resolved_at=resolved_at, resolved_by=resolved_by)
        .returning(TrainingItem.id, TrainingItem.text)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted((int(i), str(t)) for i, t in rows)
