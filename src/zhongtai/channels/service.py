"""The channel registry (web shop, JD/Tmall stores, POS, mini-program, instant retail)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from zhongtai.auth.audit import record
from zhongtai.auth.principal import Principal
from zhongtai.channels import repository as repo
from zhongtai.channels.models import Channel
from zhongtai.errors import FieldProblem, ValidationFailed, not_found


def create_channel(
    session: Session, actor: Principal, *, code: str, name: str, kind: str, platform: str = "own", name_en: str = ""
) -> Channel:
    if repo.get_by_code(session, code) is not None:
        raise ValidationFailed(
            "invalid channel", errors=[FieldProblem("body.code", "taken", f"channel {code!r} exists")]
        )
    channel = Channel(code=code, name=name, name_en=name_en, kind=kind, platform=platform, is_active=True)
    session.add(channel)
    session.flush()
    record(session, actor, "channel.create", "channel", code, after={"name": name, "kind": kind, "platform": platform})
    return channel


def get_channel(session: Session, code: str) -> Channel:
    channel = repo.get_by_code(session, code)
    if channel is None:
        raise not_found("channel", code)
    return channel


def list_channels(session: Session) -> list[Channel]:
    return repo.list_all(session)


def unknown_codes(session: Session, codes: Sequence[str]) -> list[str]:
    """The codes among ``codes`` that name no channel (for validation that lists every bad one)."""
    wanted = sorted(set(codes))
    return sorted(set(wanted) - repo.existing_codes(session, wanted)) if wanted else []
