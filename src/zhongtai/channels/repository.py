from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhongtai.channels.models import Channel


def get_by_code(session: Session, code: str) -> Channel | None:
    return session.scalar(select(Channel).where(Channel.code == code))


def existing_codes(session: Session, codes: Sequence[str]) -> set[str]:
    return set(session.scalars(select(Channel.code).where(Channel.code.in_(list(codes)))))


def list_all(session: Session) -> list[Channel]:
    return list(session.scalars(select(Channel).order_by(Channel.id)))
