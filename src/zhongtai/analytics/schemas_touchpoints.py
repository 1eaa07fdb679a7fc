"""What the touchpoint health and maturity endpoints return. Rates are fractions (0.8125 =
81.25 %), None when their denominator is zero; scores are 0–100; money is integer fen."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from zhongtai.analytics.health import HealthReport
from zhongtai.analytics.maturity import MaturityReport, Snapshot


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TouchpointHealthOut(_Out):
    touchpoint_id: int
    code: str
    name: str
    name_en: str
    type: str = Field(description="online | offline | commercial | social")
    kind: str
    channel_code: str | None
    location_id: int | None
    registry_status: str = Field(description="planned | active | paused | retired")
    heartbeat_interval_s: int
    expected_intervals: int = Field(description="complete heartbeat intervals expected in the period")
    up_intervals: int = Field(description="of those, intervals with an ok or degraded heartbeat")
    uptime: float | None = Field(description="up_intervals / expected_intervals (active touchpoints only)")
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    last_heartbeat_at: datetime | None
    state: str = Field(description="healthy | late | down | never, as of now")
    accepted: int = Field(description="events accepted in the period")
    rejected: int = Field(description="events rejected in the period")
    valid_rate: float | None = Field(description="accepted / (accepted + rejected)")
    identified: int = Field(description="events carrying a member identifier")
    attributed: int = Field(description="identified events matched to a member")
    match_rate: float | None = Field(description="attributed / identified")
    freshness_p95_s: float | None = Field(description="95th percentile of received_at - occurred_at")
    daily: list[int] = Field(description="events per day of the period")


class TypeSeriesOut(BaseModel):
    type: str
    events: list[int]


class ReasonOut(BaseModel):
    code: str
    rejections: int


class HealthOut(_Out):
    start: date
    end: date
    now: datetime
    days: list[date]
    by_state: dict[str, int]
    expected_intervals: int
    up_intervals: int
    uptime: float | None
    accepted: int
    rejected: int
    valid_rate: float | None
    identified: int
    attributed: int
    match_rate: float | None
    freshness_p95_s: float | None
    previous_accepted: int = Field(description="events accepted in the equally long period before")
    previous_valid_rate: float | None
    lake_empty: bool
    touchpoints: list[TouchpointHealthOut]
    events_by_type: list[TypeSeriesOut]
    rejection_reasons: list[ReasonOut] = Field(description="the 10 most frequent rejection codes")

    @classmethod
    def of(cls, report: HealthReport) -> HealthOut:
        return cls.model_validate(
            {
                **{k: getattr(report, k) for k in cls.model_fields if k not in _HEALTH_NESTED},
                "touchpoints": [TouchpointHealthOut.model_validate(t) for t in report.touchpoints],
                "events_by_type": [TypeSeriesOut(type=t, events=list(v)) for t, v in report.events_by_type.items()],
                "rejection_reasons": [ReasonOut(code=c, rejections=n) for c, n in report.rejection_reasons],
            }
        )


_HEALTH_NESTED = {"touchpoints", "events_by_type", "rejection_reasons"}


class ComponentOut(_Out):
    key: str
    value: float | None
    kind: str = Field(description="rate (0-1) | count | days | money (fen) | ratio")
    of: int | None = Field(description="the denominator of a count")


class IndicatorOut(_Out):
    key: str = Field(description="coverage | connectivity | quality | extensibility | cost_return")
    score: float = Field(description="0-100")
    components: list[ComponentOut]
    formula: str = Field(description="the formula with this month's numbers")


class ConnectionOut(_Out):
    touchpoint_id: int
    code: str
    name: str
    name_en: str
    kind: str
    type: str
    created_at: datetime
    first_event_at: datetime
    days: float = Field(description="days from registration to the first event")


class TypeReturnOut(_Out):
    type: str
    touchpoints: int
    orders: int
    revenue_fen: int
    cost_fen: int
    roi: float | None


class SnapshotOut(BaseModel):
    as_of: date
    month: str
    overall: float
    indicators: list[IndicatorOut]
    factors: list[str] = Field(description="production factors covered by an active touchpoint")
    connections: list[ConnectionOut]
    returns: list[TypeReturnOut] = Field(description="return on cost per touchpoint type")

    @classmethod
    def of(cls, snap: Snapshot) -> SnapshotOut:
        return cls(
            as_of=snap.as_of,
            month=snap.month,
            overall=snap.overall,
            indicators=[
                IndicatorOut(
                    key=i.key,
                    score=i.score,
                    components=[ComponentOut.model_validate(c) for c in i.components],
                    formula=i.formula,
                )
                for i in snap.indicators
            ],
            factors=list(snap.factors),
            connections=[ConnectionOut.model_validate(c) for c in snap.connections],
            returns=[TypeReturnOut.model_validate(r) for r in snap.returns],
        )


class TrendPointOut(BaseModel):
    as_of: date
    overall: float
    scores: dict[str, float]


class MaturityOut(BaseModel):
    as_of: date
    months: int
    lake_empty: bool
    current: SnapshotOut
    earlier: SnapshotOut = Field(description="six months before (month-end)")
    trend: list[TrendPointOut] = Field(description="the indicators at each of the last months' ends")

    @classmethod
    def of(cls, report: MaturityReport) -> MaturityOut:
        return cls(
            as_of=report.as_of,
            months=report.months,
            lake_empty=report.lake_empty,
            current=SnapshotOut.of(report.current),
            earlier=SnapshotOut.of(report.earlier),
            trend=[
                TrendPointOut(as_of=s.as_of, overall=s.overall, scores={i.key: i.score for i in s.indicators})
                for s in report.trend
            ],
        )
