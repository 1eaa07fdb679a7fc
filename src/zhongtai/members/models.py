"""The member center's tables (OneID).

The identity graph: ``Identifier`` rows are the nodes (one per normalised phone, e-mail, unionid,
openid, card number, marketplace buyer id, device id), ``IdentityEdge`` rows the evidence that two
identifiers belong to one person (seen together in one ``Observation``, or linked by the
probabilistic matcher or a reviewer). A member is a connected component of active edges. Every
identifier, order, points entry, tag, consent and guide binding points at the *current* member of its
component; a member absorbed by a merge keeps its row with ``status='merged'`` and ``merged_into_id``
so its id still resolves (redirects) to the survivor. ``MergeEvent`` rows keep the full history of
merges, splits (unmerge, quarantine) and erasures.

Every change goes through a function of ``members.identity`` / ``points`` / ``guides`` / ``tags`` /
``privacy`` that records the actor (audit log) as well.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.db import Base, BigIntPK, utcnow


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (
        # Name-prefix search (``name LIKE '王%'``): text_pattern_ops lets PostgreSQL use the index
        # whatever the database's collation.
        Index("ix_members_name_prefix", "name", postgresql_ops={"name": "text_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # The public member code printed on the card and read out at the till: M + 10 digits.
    code: Mapped[str] = mapped_column(String(16), unique=True)
    # active | merged (redirects to merged_into_id) | erased (pseudonymised under PIPL)
    status: Mapped[str] = mapped_column(String(12), default="active")
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None, index=True)
    # Weak attributes (the probabilistic matcher's input), latest known value.
    name: Mapped[str] = mapped_column(String(64), default="")
    gender: Mapped[str] = mapped_column(String(8), default="")
    birthday: Mapped[date | None] = mapped_column(Date, default=None)
    province: Mapped[str] = mapped_column(String(32), default="")
    city: Mapped[str] = mapped_column(String(32), default="")
    address: Mapped[str] = mapped_column(String(255), default="")
    postcode: Mapped[str] = mapped_column(String(16), default="")
    # Enrolment (registered members; members seen only in orders have enrolled_at None).
    enrolled_at: Mapped[datetime | None] = mapped_column(default=None)
    enrolled_channel: Mapped[str] = mapped_column(String(32), default="")
    enrolled_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), default=None)
    preferred_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), default=None)
    # The bound guide (private domain); history in guide_bindings.
    guide_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None, index=True)
    # Points and tier: the balance is the sum of the ledger, kept here under the member's row lock.
    tier: Mapped[str] = mapped_column(String(16), default="")
    points_balance: Mapped[int] = mapped_column(Integer, default=0)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(default=None)


class Identifier(Base):
    """A node of the identity graph: one normalised identifier of one kind."""

    __tablename__ = "member_identifiers"
    __table_args__ = (UniqueConstraint("kind", "app", "value"), Index("ix_member_identifiers_member", "member_id"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # phone | email | unionid | openid | card | jd_pin | tmall_uid | device (identifiers.IdKind)
    kind: Mapped[str] = mapped_column(String(16))
    # The WeChat app for an openid (one per app), "" otherwise.
    app: Mapped[str] = mapped_column(String(32), default="")
    value: Mapped[str] = mapped_column(String(128))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    # active | quarantined (seen with too many people: kept, never links)
    status: Mapped[str] = mapped_column(String(12), default="active")
    # Distinct partner identifiers per kind it has been seen with (the quarantine guard).
    partners: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_channel: Mapped[str] = mapped_column(String(32), default="")
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    quarantined_at: Mapped[datetime | None] = mapped_column(default=None)


class Observation(Base):
    """One sighting of a person: an order's buyer, an enrolment, a mini-program login, an import row.
    Idempotent on (source, source_ref)."""

    __tablename__ = "member_observations"
    __table_args__ = (UniqueConstraint("source", "source_ref"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # order | enrol | link | event | import | pos | manual
    source: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str] = mapped_column(String(96))
    channel_code: Mapped[str] = mapped_column(String(32), default="")
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    identifier_ids: Mapped[list[Any]] = mapped_column(default=list)
    observed_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdentityEdge(Base):
    """Evidence that two identifiers are one person. a_id < b_id."""

    __tablename__ = "member_identity_edges"
    __table_args__ = (UniqueConstraint("a_id", "b_id"), CheckConstraint("a_id < b_id", name="ordered"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    a_id: Mapped[int] = mapped_column(ForeignKey("member_identifiers.id"), index=True)
    b_id: Mapped[int] = mapped_column(ForeignKey("member_identifiers.id"), index=True)
    # observed (together in an observation) | probabilistic (matcher above threshold) | manual (review)
    kind: Mapped[str] = mapped_column(String(16), default="observed")
    observation_id: Mapped[int | None] = mapped_column(ForeignKey("member_observations.id"), default=None)
    probability: Mapped[float | None] = mapped_column(default=None)
    active: Mapped[bool] = mapped_column(default=True)
    # Why it stopped linking: unmerged | quarantined | cannot_link | erased
    disabled_reason: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MergeEvent(Base):
    """History of the graph: merges, splits (unmerge, quarantine) and erasures, with evidence."""

    __tablename__ = "member_merge_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # merge | unmerge | quarantine | erase
    kind: Mapped[str] = mapped_column(String(12))
    survivor_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    other_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None, index=True)
    # deterministic | probabilistic | manual | guard
    reason: Mapped[str] = mapped_column(String(16), default="deterministic")
    # {"edge_ids": [...], "identifier_ids": [...], "absorbed_identifier_ids": [...], "probability": ...}
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(default=None)


class CannotLink(Base):
    """Two members a reviewer (or an unmerge) said are different people: never merged automatically."""

    __tablename__ = "member_cannot_links"
    __table_args__ = (UniqueConstraint("a_id", "b_id"), CheckConstraint("a_id < b_id", name="ordered"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    a_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    b_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    reason: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MatchCandidate(Base):
    """The review queue: pairs of members the probabilistic matcher scored between the thresholds,
    or a strong-identifier link blocked by a cannot-link."""

    __tablename__ = "member_match_candidates"
    __table_args__ = (UniqueConstraint("a_id", "b_id"), Index("ix_member_match_candidates_status", "status", "id"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    a_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    b_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    probability: Mapped[float] = mapped_column(default=0.0)
    # Per-attribute comparison levels and weights, as the matcher explained them.
    features: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # pending | merged | rejected | obsolete (one side merged or erased meanwhile)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    source: Mapped[str] = mapped_column(String(16), default="probabilistic")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[str] = mapped_column(String(128), default="")


class PointsEntry(Base):
    """The points ledger (append-only). Earn entries are lots with an expiry and what is left of them;
    redeem / expire / clawback entries consume lots oldest-expiry first."""

    __tablename__ = "member_points_entries"
    __table_args__ = (
        UniqueConstraint("source", "source_ref"),
        Index("ix_member_points_lots", "member_id", "remaining", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    # earn | redeem | expire | clawback | adjust | reverse
    kind: Mapped[str] = mapped_column(String(12))
    points: Mapped[int] = mapped_column(Integer)  # signed
    # What is left of an earn lot (0 for other kinds).
    remaining: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    # The idempotency key: ("order", "ZT..."), ("redeem", "<channel>:<ref>"), ("expire", "<lot id>") ...
    source: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str] = mapped_column(String(96))
    channel_code: Mapped[str] = mapped_column(String(32), default="")
    order_number: Mapped[str] = mapped_column(String(32), default="", index=True)
    balance_after: Mapped[int] = mapped_column(Integer, default=0)
    # What the entry adds to the member's qualifying spend (tiers): the paid fen on an earn entry,
    # minus the refunded fen on a clawback; 0 on every other kind.
    spend_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # The lots a debit took points from, [[lot entry id, points], ...] (a reversal gives them back).
    consumed: Mapped[list[Any]] = mapped_column(default=list)
    note: Mapped[str] = mapped_column(String(255), default="")
    actor_name: Mapped[str] = mapped_column(String(128), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class TierRule(Base):
    """Tiers by qualifying spend over the last 12 months; the multiplier scales points earned."""

    __tablename__ = "member_tier_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(32))
    min_spend_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # Points per yuan paid, in hundredths (100 = 1 point per yuan).
    earn_rate: Mapped[int] = mapped_column(Integer, default=100)
    rank: Mapped[int] = mapped_column(Integer, default=0)


class GuideBinding(Base):
    """Who served whom: a member's guide history (the private domain). The open row has unbound_at None."""

    __tablename__ = "member_guide_bindings"
    __table_args__ = (Index("ix_member_guide_bindings_guide_open", "guide_user_id", "unbound_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    guide_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), default=None)
    bound_at: Mapped[datetime] = mapped_column(default=utcnow)
    unbound_at: Mapped[datetime | None] = mapped_column(default=None)
    # enrolled | manual | reassigned (guide left) | merged
    reason: Mapped[str] = mapped_column(String(32), default="manual")
    actor_name: Mapped[str] = mapped_column(String(128), default="")


class Consent(Base):
    """Marketing consent per channel (sms, wechat, email, phone, app_push), append-only:
    the latest row per (member, channel, purpose) is the current answer."""

    __tablename__ = "member_consents"
    __table_args__ = (Index("ix_member_consents_member", "member_id", "channel", "purpose", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16), default="marketing")
    granted: Mapped[bool] = mapped_column()
    # Where it was captured: pos:<store code>, miniapp, web, import, guide:<user> ...
    source: Mapped[str] = mapped_column(String(64), default="")
    actor_name: Mapped[str] = mapped_column(String(128), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class TagRule(Base):
    """An automatic tag: a member has it while all conditions hold over their stats and profile."""

    __tablename__ = "member_tag_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(32))
    # [{"field": "orders_count", "op": ">=", "value": 3}, ...] (tags.FIELDS lists the fields)
    conditions: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)
    members_count: Mapped[int] = mapped_column(Integer, default=0)
    evaluated_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MemberTag(Base):
    __tablename__ = "member_tags"
    __table_args__ = (UniqueConstraint("member_id", "tag"), Index("ix_member_tags_tag", "tag"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    tag: Mapped[str] = mapped_column(String(32))
    # rule (kept in step by the rule evaluation) | manual (kept until removed)
    source: Mapped[str] = mapped_column(String(8), default="manual")
    actor_name: Mapped[str] = mapped_column(String(128), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class MemberStats(Base):
    """Order aggregates and RFM per member, kept by the order consumer and the nightly RFM job."""

    __tablename__ = "member_stats"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    orders_count: Mapped[int] = mapped_column(Integer, default=0)
    spend_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    spend_12m_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    first_order_at: Mapped[datetime | None] = mapped_column(default=None)
    last_order_at: Mapped[datetime | None] = mapped_column(default=None)
    channels: Mapped[list[Any]] = mapped_column(default=list)
    # Paid minus refunded per calendar month (Asia/Shanghai), {"2026-11": fen}, the last 13 months:
    # spend_12m_fen is their sum over the current and the 11 previous months, so it decays nightly
    # without reading the orders again.
    spend_by_month: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # POS and click & collect orders per store, {"<location id>": count}: the preferred store.
    store_orders: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The latest order numbers counted (record_order is a no-op for them: replayed events).
    recent_orders: Mapped[list[Any]] = mapped_column(default=list)
    # 1..5 each (quintiles over all members with orders), and the segment they map to.
    r_score: Mapped[int] = mapped_column(Integer, default=0)
    f_score: Mapped[int] = mapped_column(Integer, default=0)
    m_score: Mapped[int] = mapped_column(Integer, default=0)
    segment: Mapped[str] = mapped_column(String(24), default="")
    scored_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConsumerCursor(Base):
    """How far a member-center consumer has read the outbox."""

    __tablename__ = "member_consumer_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
