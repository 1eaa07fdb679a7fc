"""The channel registry (web shop, JD/Tmall stores, POS, mini-program, instant retail)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import polars as pl
from sqlalchemy.orm import Session

from zhongtai.auth import service as auth_service
from zhongtai.auth.audit import record
from zhongtai.auth.permissions import Role
from zhongtai.auth.principal import Principal
from zhongtai.channels import repository as repo
from zhongtai.channels.models import Channel as Channel  # re-exported: other contexts type with it
from zhongtai.channels.webhooks import new_webhook_secret, url_problems
from zhongtai.errors import FieldProblem, ValidationFailed, not_found

ADAPTERS = ("zhongtai", "marketplace")


class CreatedChannel(NamedTuple):
    """A new channel and its credentials, shown this once."""

    channel: Channel
    api_key: str
    webhook_secret: str


def create_channel(
    session: Session,
    actor: Principal,
    *,
    code: str,
    name: str,
    kind: str,
    platform: str = "own",
    name_en: str = "",
    adapter: str = "zhongtai",
    webhook_url: str = "",
    unpaid_hold_s: int = 1800,
    ship_from_store: bool = True,
) -> Channel:
    """A new channel with its own webhook signing secret (``channel.webhook_secret``; callers that
    hand it out do so once, see ``create_channel_with_credentials``)."""
    webhook_url = webhook_url.strip()
    problems: list[FieldProblem] = []
    if repo.get_by_code(session, code) is not None:
        problems.append(FieldProblem("body.code", "taken", f"channel {code!r} exists"))
    if adapter not in ADAPTERS:
        problems.append(FieldProblem("body.adapter", "invalid_adapter", f"one of {', '.join(ADAPTERS)}"))
    if unpaid_hold_s <= 0:
        problems.append(FieldProblem("body.unpaid_hold_s", "not_positive", "a hold lasts at least a second"))
    problems += url_problems(webhook_url, "body.webhook_url")
    if problems:
        raise ValidationFailed("invalid channel", errors=problems)
    channel = Channel(
        code=code,
        name=name,
        name_en=name_en,
        kind=kind,
        platform=platform,
        is_active=True,
        adapter=adapter,
        webhook_url=webhook_url,
        webhook_secret=new_webhook_secret(),
        unpaid_hold_s=unpaid_hold_s,
        ship_from_store=ship_from_store,
    )
    session.add(channel)
    session.flush()
    record(
        session,
        actor,
        "channel.create",
        "channel",
        code,
        after={
            "name": name,
            "kind": kind,
            "platform": platform,
            "adapter": adapter,
            "webhook_url": webhook_url,
            "unpaid_hold_s": unpaid_hold_s,
            "ship_from_store": ship_from_store,
        },
    )
    return channel


def create_channel_with_credentials(
    session: Session,
    actor: Principal,
    *,
    code: str,
    name: str,
    kind: str,
    platform: str = "own",
    name_en: str = "",
    adapter: str = "zhongtai",
    webhook_url: str = "",
    unpaid_hold_s: int = 1800,
    ship_from_store: bool = True,
) -> CreatedChannel:
    """``create_channel`` plus an integrator API key bound to the channel; returns the key and the
    webhook secret, which are never shown again (the key is stored hashed)."""
    channel = create_channel(
        session,
        actor,
        code=code,
        name=name,
        kind=kind,
        platform=platform,
        name_en=name_en,
        adapter=adapter,
        webhook_url=webhook_url,
        unpaid_hold_s=unpaid_hold_s,
        ship_from_store=ship_from_store,
    )
    issued = auth_service.create_api_key(
        session, actor, name=f"channel:{code}", role=Role.INTEGRATOR.value, channel_code=code
    )
    return CreatedChannel(channel=channel, api_key=issued.secret, webhook_secret=channel.webhook_secret)


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


def export_channels(session: Session) -> pl.DataFrame:
    """Every channel as the lake's ``channels`` table (code, names, kind, platform)."""
    rows = [(c.code, c.name, c.name_en, c.kind, c.platform) for c in repo.list_all(session)]
    return pl.DataFrame(rows, schema=["code", "name", "name_en", "kind", "platform"], orient="row")
