"""Member search and the user card over HTTP (``members:read``).

Personal values come masked to a caller without ``pii:read``; a caller with it gets them in full
and each member shown is written to the audit log (``member.pii_viewed``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.http import DbSession, Paging, get_settings_dep, require
from zhongtai.members import cards
from zhongtai.members.schemas_cards import MemberCardOut, MemberSummaryOut
from zhongtai.pagination import PageOut
from zhongtai.settings import Settings

router = APIRouter(tags=["members"])

Read = Annotated[Principal, Depends(require(Perm.MEMBERS_READ))]


@router.get("/members", response_model=PageOut[MemberSummaryOut])
def search_members(
    session: DbSession,
    principal: Read,
    paging: Paging,
    q: Annotated[
        str,
        Query(
            max_length=64,
            description="phone (any format, or its last 4 digits), member code, card number, "
            "any identifier's value, or the start of a name; empty: everyone, most recently seen first",
        ),
    ] = "",
) -> PageOut[MemberSummaryOut]:
    page = cards.search(session, principal, q, cursor=paging.cursor, limit=paging.limit)
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.get(
    "/members/{key}",
    response_model=MemberCardOut,
    responses={404: {"description": "no member with this id or code"}},
)
def member_card(
    key: str,
    session: DbSession,
    principal: Read,
    settings: Annotated[Settings, Depends(get_settings_dep)],
    orders: Annotated[
        int, Query(ge=1, le=200, description="how many of the newest orders to list")
    ] = cards.CARD_ORDERS,
) -> MemberCardOut:
    """The user card by member id or code. A merged member's id answers with its survivor's card
    and ``redirected_from`` set to the id asked for."""
    return cards.card(session, principal, key, orders_limit=orders, tz=settings.default_timezone)
