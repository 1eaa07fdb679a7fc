"""The member center's face for contexts above it (touchpoints): read-only lookups over the
identity graph that never create a member or a node."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from zhongtai.members import repository as repo
from zhongtai.members.identifiers import IdentifierIn

# Merge chains are short (a survivor absorbs, it is not absorbed again often); the cap only
# guards against a corrupt cycle.
MAX_MERGE_HOPS = 64


def _survivors(session: Session, member_ids: set[int]) -> dict[int, int]:
    """{member id: its active survivor} following ``merged_into`` a whole level at a time (one
    query per hop, not per member); erased members and broken chains map to nothing."""
    current = {m: m for m in member_ids}
    resolved: dict[int, int] = {}
    for _ in range(MAX_MERGE_HOPS):
        if not current:
            break
        rows = {m.id: m for m in repo.members_by_ids(session, sorted(set(current.values())))}
        following: dict[int, int] = {}
        for origin, at in current.items():
            row = rows.get(at)
            if row is None:
                continue
            if row.status == "active":
                resolved[origin] = row.id
            elif row.status == "merged" and row.merged_into_id is not None:
                following[origin] = row.merged_into_id
        current = following
    return resolved


def member_ids_for_identifiers(session: Session, identifiers: Sequence[IdentifierIn]) -> dict[str, int]:
    """{``identifiers.key(kind, value, app)``: active member id} for the identifiers the graph
    knows, following merges to the survivor. Quarantined (shared) identifiers identify nobody.
    Read only: unknown identifiers are simply absent."""
    unique = list({i.key: i for i in identifiers}.values())
    if not unique:
        return {}
    nodes = {k: r.member_id for k, r in repo.identifiers_by_keys(session, unique).items() if r.status == "active"}
    survivors = _survivors(session, set(nodes.values()))
    return {k: survivors[m] for k, m in nodes.items() if m in survivors}


# ---------------------------------------------------------------- analytics export (read-only)


def export_members(session: Session) -> pl.DataFrame:
    """Active members as the lake's ``members`` table (without ``joined_day``, which the sink derives
    in the business time zone). joined_at: enrolment, or first seen for members the order center
    created; merged and erased members are left out. No personal data beyond gender and tier."""
    schema: dict[str, Any] = {
        "member_id": pl.Int64,
        "code": pl.Utf8,
        "joined_at": pl.Datetime("us", "UTC"),
        "enrolled_channel": pl.Utf8,
        "enrolled_location_id": pl.Int32,
        "preferred_location_id": pl.Int32,
        "tier": pl.Utf8,
        "gender": pl.Utf8,
        "has_guide": pl.Boolean,
        "orders_count": pl.Int32,
        "spend_fen": pl.Int64,
        "first_order_at": pl.Datetime("us", "UTC"),
        "last_order_at": pl.Datetime("us", "UTC"),
        "r_score": pl.Int8,
        "f_score": pl.Int8,
        "m_score": pl.Int8,
        "segment": pl.Utf8,
    }
    rows = [_utc_joined(r) for r in repo.member_export_rows(session)]
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.with_columns(pl.col("orders_count").fill_null(0), pl.col("spend_fen").fill_null(0))


def _utc_joined(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # COALESCE() of two timestamps loses the column type: SQLite hands back naive text.
    joined = row[2]
    if isinstance(joined, str):
        joined = datetime.fromisoformat(joined)
    if isinstance(joined, datetime):
        joined = joined.replace(tzinfo=UTC) if joined.tzinfo is None else joined.astimezone(UTC)
    return (*row[:2], joined, *row[3:])
