"""Cursor (keyset) pagination: stable under inserts, no OFFSET scans.

A cursor is an opaque, URL-safe token holding the sort key of the last row returned. Lists sort
by one or more columns whose last one is unique (the primary key), descending or ascending.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from zhongtai.db import UTCDateTime
from zhongtai.errors import invalid

T = TypeVar("T")
M = TypeVar("M")
U = TypeVar("U")

MAX_LIMIT = 500


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(("query.cursor", "invalid_cursor", "cursor is not one this API issued")) from exc
    if not isinstance(values, list) or len(values) != width:
        raise invalid(("query.cursor", "invalid_cursor", "cursor is not one this API issued"))
    return values


@dataclass(frozen=True, slots=True)
class SortKey:
    column: InstrumentedAttribute[Any]
    descending: bool = False


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None

    def map(self, fn: Callable[[T], U]) -> Page[U]:
        """The same page with every item turned into what the API returns."""
        return Page([fn(x) for x in self.items], self.next_cursor)


class PageOut(BaseModel, Generic[M]):
    items: list[M]
    next_cursor: str | None = None


def paginate(session: Session, stmt: Select[Any], keys: list[SortKey], *, cursor: str | None, limit: int) -> Page[Any]:
    """Runs ``stmt`` (selecting ORM entities) one page at a time, ordered by ``keys``."""
    limit = max(1, min(limit, MAX_LIMIT))
    if cursor:
        values = [_from_cursor(k, v) for k, v in zip(keys, decode_cursor(cursor, len(keys)), strict=True)]
        # (a, b, c) > (x, y, z) in the key order, spelled out so mixed directions work.
        clauses = []
        for i, key in enumerate(keys):
            eq = [keys[j].column == values[j] for j in range(i)]
            cmp = key.column < values[i] if key.descending else key.column > values[i]
            clauses.append(and_(*eq, cmp))
        stmt = stmt.where(or_(*clauses))
    stmt = stmt.order_by(*[k.column.desc() if k.descending else k.column.asc() for k in keys]).limit(limit + 1)
    rows = list(session.scalars(stmt))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor([_key_value(last, k) for k in keys])
    return Page(items=rows, next_cursor=next_cursor)


def _from_cursor(key: SortKey, value: Any) -> Any:
    if isinstance(key.column.type, UTCDateTime) and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError as exc:
            raise invalid(("query.cursor", "invalid_cursor", "cursor is not one this API issued")) from exc
    return value


def _key_value(row: Any, key: SortKey) -> Any:
    value = getattr(row, key.column.key)
    return value.isoformat() if hasattr(value, "isoformat") else value
