"""SQL of the knowledge base: the draft rows, published versions and channel settings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from zhongtai.service.models import (
    ServiceAnswer,
    ServiceIntent,
    ServiceKbVersion,
    ServiceScenario,
    ServiceSettings,
    ServiceSubIntent,
)


def scenarios(session: Session) -> list[ServiceScenario]:
    return list(session.scalars(select(ServiceScenario).order_by(ServiceScenario.position, ServiceScenario.id)))


def intents(session: Session) -> list[ServiceIntent]:
    return list(session.scalars(select(ServiceIntent).order_by(ServiceIntent.position, ServiceIntent.id)))


def subintents(session: Session) -> list[ServiceSubIntent]:
    return list(session.scalars(select(ServiceSubIntent).order_by(ServiceSubIntent.position, ServiceSubIntent.id)))


def answers(session: Session) -> list[ServiceAnswer]:
    return list(
        session.scalars(
            select(ServiceAnswer).order_by(ServiceAnswer.subintent_id, ServiceAnswer.position, ServiceAnswer.id)
        )
    )


def answers_of(session: Session, subintent_id: int) -> list[ServiceAnswer]:
    return list(
        session.scalars(
            select(ServiceAnswer)
            .where(ServiceAnswer.subintent_id == subintent_id)
            .order_by(ServiceAnswer.position, ServiceAnswer.id)
        )
    )


def delete_answers_of(session: Session, subintent_id: int) -> None:
    session.execute(delete(ServiceAnswer).where(ServiceAnswer.subintent_id == subintent_id))


def scenario_by_code(session: Session, code: str) -> ServiceScenario | None:
    return session.scalar(select(ServiceScenario).where(ServiceScenario.code == code))


def intent_by_code(session: Session, code: str) -> ServiceIntent | None:
    return session.scalar(select(ServiceIntent).where(ServiceIntent.code == code))


def subintent_by_code(session: Session, code: str) -> ServiceSubIntent | None:
    return session.scalar(select(ServiceSubIntent).where(ServiceSubIntent.code == code))


def subintents_by_codes(session: Session, codes: Sequence[str]) -> dict[str, ServiceSubIntent]:
    if not codes:
        return {}
    rows = session.scalars(select(ServiceSubIntent).where(ServiceSubIntent.code.in_(sorted(set(codes)))))
    return {s.code: s for s in rows}


def count_intents_of(session: Session, scenario_id: int) -> int:
    return int(session.scalar(select(func.count()).where(ServiceIntent.scenario_id == scenario_id)) or 0)


def count_subintents_of(session: Session, intent_id: int) -> int:
    return int(session.scalar(select(func.count()).where(ServiceSubIntent.intent_id == intent_id)) or 0)


def next_scenario_position(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(ServiceScenario.position), -1))) or 0) + 1


def next_intent_position(session: Session, scenario_id: int) -> int:
    top = session.scalar(
        select(func.coalesce(func.max(ServiceIntent.position), -1)).where(ServiceIntent.scenario_id == scenario_id)
    )
    return int(top if top is not None else -1) + 1


def next_subintent_position(session: Session, intent_id: int) -> int:
    top = session.scalar(
        select(func.coalesce(func.max(ServiceSubIntent.position), -1)).where(ServiceSubIntent.intent_id == intent_id)
    )
    return int(top if top is not None else -1) + 1


# ---------------------------------------------------------------- versions


def newest_version_key(session: Session) -> tuple[int, datetime] | None:
    """(version, published_at) of the newest version: one indexed query, what the cache keys on."""
    row = session.execute(
        select(ServiceKbVersion.version, ServiceKbVersion.published_at)
        .order_by(ServiceKbVersion.version.desc())
        .limit(1)
    ).first()
    return (int(row[0]), row[1]) if row is not None else None


def max_version(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(ServiceKbVersion.version), 0))) or 0)


def version(session: Session, number: int) -> ServiceKbVersion | None:
    return session.scalar(select(ServiceKbVersion).where(ServiceKbVersion.version == number))


def version_snapshot(session: Session, number: int) -> dict[str, object] | None:
    snapshot = session.scalar(select(ServiceKbVersion.snapshot).where(ServiceKbVersion.version == number))
    return dict(snapshot) if snapshot is not None else None


def versions(session: Session, limit: int) -> list[ServiceKbVersion]:
    # The model bytes are not needed for a listing: defer them.
    from sqlalchemy.orm import defer

    return list(
        session.scalars(
            select(ServiceKbVersion)
            .options(defer(ServiceKbVersion.model), defer(ServiceKbVersion.snapshot))
            .order_by(ServiceKbVersion.version.desc())
            .limit(limit)
        )
    )


# ---------------------------------------------------------------- settings


def settings_row(session: Session, channel_code: str) -> ServiceSettings | None:
    return session.get(ServiceSettings, channel_code)
