"""The event API's per-type schemas and the validation of one event, without a database.

Every event has the same envelope (id, type, at, identifiers, anonymous_id, session_id, channel,
store) and a ``data`` object whose shape depends on its type. Every model forbids unknown fields:
a camera system sends demographic bands (gender, age band), never a face image or any other field
we did not ask for, and a typo is an error naming the field rather than data silently lost.

``parse_event`` turns one raw event into a ``ParsedEvent`` or the list of its problems, each
named by its path in the batch (``events[3].data.query``). What needs the database (SKU and store
codes, member identifiers) is resolved for the whole batch at once by ``touchpoints.ingest``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from zhongtai.errors import FieldProblem
from zhongtai.members.identifiers import IdentifierIn, IdKind, InvalidIdentifier, normalise

EVENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
MAX_FUTURE = timedelta(minutes=5)

Gender = Literal["female", "male", "unknown"]
AgeBand = Literal["0-17", "18-24", "25-34", "35-44", "45-54", "55+", "unknown"]
Text = Annotated[str, Field(min_length=1, max_length=128)]
LongText = Annotated[str, Field(min_length=1, max_length=1024)]
Fen = Annotated[int, Field(ge=0, le=10**12)]
Seconds = Annotated[int, Field(ge=0, le=7 * 86_400)]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PageView(_Data):
    url: LongText
    title: Annotated[str, Field(max_length=255)] | None = None
    referrer: Annotated[str, Field(max_length=1024)] | None = None
    page_type: Annotated[str, Field(max_length=32)] | None = None


class Search(_Data):
    query: Annotated[str, Field(min_length=1, max_length=255)]
    results: Annotated[int, Field(ge=0)]


class ProductView(_Data):
    sku: Text
    price_fen: Fen | None = None


class AddToCart(_Data):
    sku: Text
    quantity: Annotated[int, Field(ge=1, le=100_000)]
    price_fen: Fen | None = None


class CouponReceived(_Data):
    coupon: Text
    value_fen: Fen
    campaign: Annotated[str, Field(max_length=64)] | None = None


class CouponUsed(_Data):
    coupon: Text
    value_fen: Fen
    order_number: Annotated[str, Field(max_length=64)] | None = None


class Chat(_Data):
    conversation: Annotated[str, Field(max_length=64)] | None = None
    intent: Annotated[str, Field(max_length=64)] | None = None
    direction: Literal["in", "out"]


class StoreEntry(_Data):
    visitor: Annotated[str, Field(min_length=1, max_length=64)]
    gender: Gender
    age_band: AgeBand


class StoreExit(_Data):
    visitor: Annotated[str, Field(min_length=1, max_length=64)]
    dwell_s: Seconds
    gender: Gender
    age_band: AgeBand


class Dwell(_Data):
    visitor: Annotated[str, Field(min_length=1, max_length=64)]
    zone: Annotated[str, Field(min_length=1, max_length=64)]
    dwell_s: Seconds
    gender: Gender | None = None
    age_band: AgeBand | None = None


class ShelfInteraction(_Data):
    shelf: Annotated[str, Field(min_length=1, max_length=64)]
    sku: Text | None = None
    action: Literal["pick_up", "put_back", "touch"]
    duration_s: Seconds | None = None


class Scan(_Data):
    code: Annotated[str, Field(min_length=1, max_length=128)]
    sku: Text | None = None


class OrderEvent(_Data):
    order_number: Annotated[str, Field(min_length=1, max_length=64)]
    total_fen: Fen
    refund_fen: Fen | None = None


DATA_MODELS: dict[str, type[_Data]] = {
    "page_view": PageView,
    "search": Search,
    "product_view": ProductView,
    "add_to_cart": AddToCart,
    "coupon_received": CouponReceived,
    "coupon_used": CouponUsed,
    "chat": Chat,
    "store_entry": StoreEntry,
    "store_exit": StoreExit,
    "dwell": Dwell,
    "shelf_interaction": ShelfInteraction,
    "scan": Scan,
    "order_placed": OrderEvent,
    "order_paid": OrderEvent,
    "order_cancelled": OrderEvent,
    "order_refunded": OrderEvent,
    "order_completed": OrderEvent,
}
EVENT_TYPES: tuple[str, ...] = tuple(DATA_MODELS)
# Events that happen in a store: without a store of their own they need the touchpoint's.
IN_STORE_TYPES = frozenset({"store_entry", "store_exit", "dwell", "shelf_interaction"})
# The track id a camera system gives a visitor is the event's anonymous id.
VISITOR_TYPES = frozenset({"store_entry", "store_exit", "dwell"})


class IdentifierPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    value: str
    app: Annotated[str, Field(max_length=32)] = ""


class Envelope(BaseModel):
    """The fields every event has; ``data`` is checked against its type's model afterwards."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: Annotated[str, Field(pattern=EVENT_ID_RE.pattern)]
    type: str
    at: AwareDatetime
    identifiers: Annotated[list[IdentifierPayload], Field(max_length=16)] = Field(default_factory=list)
    anonymous_id: Annotated[str, Field(max_length=64)] = ""
    session_id: Annotated[str, Field(max_length=64)] = ""
    channel: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    store: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    data: dict[str, Any] = Field(default_factory=dict)


@dataclass(slots=True)
class ParsedEvent:
    """One valid event, before its codes and identifiers are resolved against the database."""

    index: int
    event_id: str
    type: str
    occurred_at: datetime
    identifiers: list[IdentifierIn]
    anonymous_id: str
    session_id: str
    channel: str | None
    store: str | None
    sku: str | None
    data: dict[str, Any] = field(default_factory=dict)


def _path(prefix: str, loc: tuple[int | str, ...]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _problems(prefix: str, exc: ValidationError) -> list[FieldProblem]:
    return [FieldProblem(_path(prefix, tuple(e["loc"])), str(e["type"]), str(e["msg"])) for e in exc.errors()]


def _identifiers(prefix: str, items: list[IdentifierPayload]) -> tuple[list[IdentifierIn], list[FieldProblem]]:
    out: dict[str, IdentifierIn] = {}
    problems: list[FieldProblem] = []
    for j, item in enumerate(items):
        where = f"{prefix}.identifiers[{j}]"
        try:
            kind = IdKind(item.kind)
        except ValueError:
            kinds = ", ".join(k.value for k in IdKind)
            problems.append(FieldProblem(f"{where}.kind", "unknown_kind", f"kind is one of {kinds}"))
            continue
        try:
            ident = IdentifierIn(kind, normalise(kind, item.value), item.app.strip())
        except InvalidIdentifier as exc:
            problems.append(FieldProblem(f"{where}.value", "invalid_identifier", str(exc)))
            continue
        if kind is IdKind.OPENID and not ident.app:
            problems.append(FieldProblem(f"{where}.app", "missing", "an openid needs the app it belongs to"))
            continue
        out.setdefault(ident.key, ident)
    return list(out.values()), problems


def derived_fields(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    """The columns the analytics store reads from every type alike: ``quantity`` and ``value_fen``
    (a product view is worth its price, a cart line price × quantity, an order its total, a
    refund the refunded amount)."""
    if type_ == "product_view":
        return {"quantity": 1, **({"value_fen": data["price_fen"]} if data.get("price_fen") is not None else {})}
    if type_ == "add_to_cart":
        price = data.get("price_fen")
        return {"quantity": data["quantity"], **({"value_fen": price * data["quantity"]} if price is not None else {})}
    if type_.startswith("order_"):
        refund = data.get("refund_fen")
        return {"value_fen": refund if type_ == "order_refunded" and refund is not None else data["total_fen"]}
    return {}


def parse_event(raw: Any, index: int, now: datetime) -> ParsedEvent | list[FieldProblem]:
    """One raw event of a batch: the parsed event, or every problem it has (never raises)."""
    prefix = f"events[{index}]"
    if not isinstance(raw, dict):
        return [FieldProblem(prefix, "not_an_object", "an event is a JSON object")]
    problems: list[FieldProblem] = []
    try:
        env = Envelope.model_validate(raw)
    except ValidationError as exc:
        return _problems(prefix, exc) + _data_problems(prefix, raw.get("type"), raw.get("data"))
    if env.at > now + MAX_FUTURE:
        problems.append(FieldProblem(f"{prefix}.at", "in_future", "more than 5 minutes in the future"))
    idents, ident_problems = _identifiers(prefix, env.identifiers)
    problems += ident_problems
    model = DATA_MODELS.get(env.type)
    if model is None:
        problems.append(FieldProblem(f"{prefix}.type", "unknown_type", f"type is one of {', '.join(EVENT_TYPES)}"))
        return problems
    try:
        data_model = model.model_validate(env.data)
    except ValidationError as exc:
        problems += _problems(f"{prefix}.data", exc)
        return problems
    if problems:
        return problems
    data = data_model.model_dump(exclude_none=True)
    anonymous_id = env.anonymous_id
    if env.type in VISITOR_TYPES:
        anonymous_id = str(data.pop("visitor"))
    sku = data.get("sku")
    data.update(derived_fields(env.type, data))
    return ParsedEvent(
        index=index,
        event_id=env.id,
        type=env.type,
        occurred_at=env.at,
        identifiers=idents,
        anonymous_id=anonymous_id,
        session_id=env.session_id,
        channel=env.channel,
        store=env.store,
        sku=str(sku) if sku is not None else None,
        data=data,
    )


def _data_problems(prefix: str, type_: Any, data: Any) -> list[FieldProblem]:
    """The data's problems too when the envelope already failed, so one answer names them all."""
    model = DATA_MODELS.get(type_) if isinstance(type_, str) else None
    if model is None or not isinstance(data, dict):
        return []
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return _problems(f"{prefix}.data", exc)
    return []


def type_schemas() -> dict[str, dict[str, Any]]:
    """Each event type's ``data`` JSON schema (``GET /api/v1/events/types``)."""
    return {name: model.model_json_schema() for name, model in DATA_MODELS.items()}


def envelope_schema() -> dict[str, Any]:
    return Envelope.model_json_schema()
