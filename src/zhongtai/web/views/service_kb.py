"""Customer service in the console: knowledge base editor, trainer and metrics.

Reading needs ``service:read`` (the knowledge base, the metrics); editing and publishing the
knowledge base and the trainer need ``service:write``. Every change is a CSRF-protected form
calling one verb of ``service.kb`` / ``service.trainer`` as the logged-in person; a refused change
rolls back and shows the form again with every bad field next to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from zhongtai.auth.permissions import Perm
from zhongtai.channels import service as channels_service
from zhongtai.errors import Conflict, DomainError, FieldProblem, NotFound, ValidationFailed
from zhongtai.service import kb, metrics, trainer
from zhongtai.service.knowledge import ACTIONS, CHANNEL_KINDS, SCENES, SLOTS
from zhongtai.service.schemas_kb import AnswerOut, ImportResultOut, SubIntentOut
from zhongtai.service.schemas_metrics import DailyMetricsOut, MetricsFigures, PeriodMetricsOut
from zhongtai.service.schemas_trainer import ClusterOut, NewSubIntentIn
from zhongtai.web import charts
from zhongtai.web.page import Console, ConsoleForm, PageContext, form_fields, render, with_done

router = APIRouter(include_in_schema=False)

METRICS_DAYS = 14
QUICK_RANGES = (7, 14, 30, 90)
TOP_UNANSWERED = 20
# Satisfaction 1..5: red to green.
SCORE_COLOURS = ("#ef4444", "#f97316", "#f59e0b", "#84cc16", "#22c55e")


def channel_names(ctx: PageContext) -> dict[str, str]:
    return {c.code: ctx.name_of(c) for c in channels_service.list_channels(ctx.session)}


# ================================================================ formatting


def pct(value: Decimal | None) -> str:
    """0.81234 -> '81.2%'."""
    return "—" if value is None else f"{float(value) * 100:.1f}%"


def duration(ctx: PageContext, seconds: float | None) -> str:
    """95.0 -> '1分35秒' / '1m 35s'; under a minute in seconds."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    if minutes == 0:
        return ctx.t("sc.seconds", s=secs)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return ctx.t("sc.hours_minutes", h=hours, m=minutes)
    return ctx.t("sc.minutes_seconds", m=minutes, s=secs)


@dataclass(frozen=True, slots=True)
class Kpi:
    key: str
    value: str
    hint: str
    delta: str
    # good | bad | flat | none: whether the change is for the better
    tone: str
    accent: str
    href: str = ""


def _tone(change: float, lower_is_better: bool = False) -> str:
    if abs(change) < 1e-9:
        return "flat"
    better = change < 0 if lower_is_better else change > 0
    return "good" if better else "bad"


def _rate_kpi(
    ctx: PageContext, key: str, now: Decimal | None, before: Decimal | None, hint: str, accent: str, *, lower: bool
) -> Kpi:
    if now is None or before is None:
        return Kpi(key, pct(now), hint, ctx.t("sc.metrics.no_previous"), "none", accent)
    change = (float(now) - float(before)) * 100
    return Kpi(key, pct(now), hint, ctx.t("sc.metrics.pp", d=f"{change:+.1f}"), _tone(change, lower), accent)


def kpis(ctx: PageContext, period: PeriodMetricsOut) -> list[Kpi]:
    """The five headline tiles with their change against the previous period."""
    now, before = period.total, period.previous
    out = [
        _rate_kpi(
            ctx,
            "self_resolution",
            now.self_resolution_rate,
            before.self_resolution_rate,
            ctx.t("sc.metrics.self_hint", n=now.self_resolved, d=now.closed),
            "accent-ok",
            lower=False,
        ),
        _rate_kpi(
            ctx,
            "intent_hit",
            now.intent_hit_rate,
            before.intent_hit_rate,
            ctx.t("sc.metrics.hit_hint", n=now.answered_messages, d=now.bot_messages),
            "",
            lower=False,
        ),
        _rate_kpi(
            ctx,
            "handoff",
            now.handoff_rate,
            before.handoff_rate,
            ctx.t("sc.metrics.handoff_hint", n=now.handed_off, d=now.conversations),
            "accent-warn",
            lower=True,
        ),
    ]
    mean = "—" if now.satisfaction_mean is None else f"{now.satisfaction_mean:.2f}"
    if now.satisfaction_mean is None or before.satisfaction_mean is None:
        delta, tone = ctx.t("sc.metrics.no_previous"), "none"
    else:
        change = float(now.satisfaction_mean - before.satisfaction_mean)
        delta, tone = ctx.t("sc.metrics.points", d=f"{change:+.2f}"), _tone(change)
    out.append(Kpi("satisfaction", mean, ctx.t("sc.metrics.ratings_hint", n=now.ratings), delta, tone, "accent-violet"))
    if before.conversations:
        change = (now.conversations - before.conversations) / before.conversations * 100
        delta, tone = ctx.t("sc.metrics.relative", d=f"{change:+.1f}"), "flat" if abs(change) < 1e-9 else "info"
    else:
        delta, tone = ctx.t("sc.metrics.no_previous"), "none"
    out.append(
        Kpi(
            "conversations",
            f"{now.conversations:,}",
            ctx.t("sc.metrics.messages_hint", n=f"{now.customer_messages:,}"),
            delta,
            tone,
            "",
        )
    )
    return out


def queue_tiles(ctx: PageContext, now: MetricsFigures, before: MetricsFigures) -> list[Kpi]:
    """The queue's smaller tiles: waits, SLA breaches, first response, customers who gave up."""

    def seconds_delta(a: float | None, b: float | None) -> tuple[str, str]:
        if a is None or b is None:
            return ctx.t("sc.metrics.no_previous"), "none"
        if abs(a - b) < 0.5:
            return ctx.t("sc.metrics.flat"), "flat"
        return ("+" if a >= b else "−") + duration(ctx, abs(a - b)), _tone(a - b, lower_is_better=True)

    wait_delta, wait_tone = seconds_delta(now.wait_p50_s, before.wait_p50_s)
    first_delta, first_tone = seconds_delta(now.first_response_p50_s, before.first_response_p50_s)
    breach_share = pct(metrics.rate(now.sla_breaches, now.accepted))
    return [
        Kpi(
            "wait",
            duration(ctx, now.wait_p50_s),
            ctx.t("sc.metrics.p95", v=duration(ctx, now.wait_p95_s)),
            wait_delta,
            wait_tone,
            "",
        ),
        Kpi(
            "first_response",
            duration(ctx, now.first_response_p50_s),
            ctx.t("sc.metrics.p95", v=duration(ctx, now.first_response_p95_s)),
            first_delta,
            first_tone,
            "",
        ),
        Kpi(
            "sla",
            f"{now.sla_breaches:,}",
            ctx.t("sc.metrics.sla_hint", share=breach_share, n=now.accepted),
            "",
            "none",
            "accent-bad" if now.sla_breaches else "accent-ok",
        ),
        Kpi(
            "abandoned",
            f"{now.abandoned_in_queue:,}",
            ctx.t("sc.metrics.abandoned_hint", n=now.handed_off),
            "",
            "none",
            "accent-bad" if now.abandoned_in_queue else "",
        ),
    ]


# ================================================================ metrics


def _parse_day(raw: str, name: str, problems: list[FieldProblem]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(FieldProblem(name, "date_parsing", raw))
        return None


def metrics_period(ctx: PageContext) -> tuple[date, date, str | None, list[FieldProblem]]:
    """The filters of the metrics page: start, end (default: the last 14 days), channel."""
    q = ctx.request.query_params
    today = datetime.now(ZoneInfo(ctx.settings.default_timezone)).date()
    problems: list[FieldProblem] = []
    end = _parse_day(q.get("end", ""), "end", problems) or today
    start = _parse_day(q.get("start", ""), "start", problems) or end - timedelta(days=METRICS_DAYS - 1)
    if start > end:
        problems.append(FieldProblem("end", "before_start", ""))
        start, end = end - timedelta(days=METRICS_DAYS - 1), end
    if (end - start).days + 1 > metrics.MAX_DAYS:
        problems.append(FieldProblem("start", "too_long", ""))
        start = end - timedelta(days=metrics.MAX_DAYS - 1)
    return start, end, q.get("channel") or None, problems


@router.get("/service/metrics")
def metrics_page(ctx: Console) -> Response:
    ctx.require(Perm.SERVICE_READ)
    tz = ctx.settings.default_timezone
    start, end, channel, problems = metrics_period(ctx)
    names = channel_names(ctx)
    if channel and channel not in names:
        problems.append(FieldProblem("channel", "unknown_channel", channel))
        channel = None
    period = metrics.period_metrics(ctx.session, ctx.principal, start=start, end=end, channel_code=channel, tz=tz)
    daily = metrics.daily_metrics(ctx.session, ctx.principal, start=start, end=end, channel_code=channel, tz=tz)
    top = metrics.top_unanswered(
        ctx.session, ctx.principal, start=start, end=end, channel_code=channel, limit=TOP_UNANSWERED, tz=tz
    )
    colours = {code: charts.PALETTE[i % len(charts.PALETTE)] for i, code in enumerate(sorted(names))}
    return render(
        ctx,
        "service/metrics.html",
        period=period,
        start=start,
        end=end,
        channel=channel or "",
        channels=sorted(names.items(), key=lambda kv: kv[0]),
        names=names,
        problems=problems,
        kpis=kpis(ctx, period),
        queue=queue_tiles(ctx, period.total, period.previous),
        rates_chart=_rates_chart(ctx, period),
        volume_chart=_volume_chart(ctx, period, daily, names, colours),
        channel_chart=_channel_chart(ctx, period, names, colours, start, end),
        score_chart=_score_chart(ctx, period.total),
        quick=[
            (
                n,
                ctx.url(
                    "/service/metrics",
                    start=(end - timedelta(days=n - 1)).isoformat(),
                    end=end.isoformat(),
                    channel=channel,
                ),
            )
            for n in QUICK_RANGES
        ],
        days=(end - start).days + 1,
        top=top,
        pct=pct,
        duration=lambda s: duration(ctx, s),
        can_train=ctx.can(Perm.SERVICE_WRITE),
    )


def _rates_chart(ctx: PageContext, period: PeriodMetricsOut) -> str:
    """Self-resolution, hand-off and intent hit rates per day (days with closed conversations)."""
    days = [d for d in period.by_day if d.closed]
    return charts.line_chart(
        [d.day.strftime("%m-%d") for d in days],
        [
            charts.Series(
                ctx.t("sc.metrics.kpi.self_resolution"),
                [float(d.self_resolution_rate or 0) * 100 for d in days],
                color=charts.PALETTE[7],
            ),
            charts.Series(
                ctx.t("sc.metrics.kpi.handoff"),
                [float(d.handoff_rate or 0) * 100 for d in days],
                color=charts.PALETTE[2],
            ),
            charts.Series(
                ctx.t("sc.metrics.kpi.intent_hit"),
                [float(d.intent_hit_rate or 0) * 100 for d in days],
                color=charts.PALETTE[0],
            ),
        ],
        title=ctx.t("sc.metrics.rates_chart"),
        width=760,
        height=260,
        value_format=lambda v: f"{v:.0f}%",
        empty_message=ctx.t("sc.metrics.empty"),
    )


def _volume_chart(
    ctx: PageContext,
    period: PeriodMetricsOut,
    daily: Sequence[DailyMetricsOut],
    names: dict[str, str],
    colours: dict[str, str],
) -> str:
    """Conversations per day, stacked by channel."""
    days = [d.day for d in period.by_day]
    codes = sorted({r.channel_code for r in daily if r.channel_code}, key=lambda c: (c not in names, c))
    index = {(r.day, r.channel_code): r.conversations for r in daily}
    return charts.stacked_bar_chart(
        [d.strftime("%m-%d") for d in days],
        [
            charts.Series(names.get(code, code), [index.get((d, code), 0) for d in days], color=colours.get(code))
            for code in codes
        ],
        title=ctx.t("sc.metrics.volume_chart"),
        width=760,
        height=240,
        empty_message=ctx.t("sc.metrics.empty"),
    )


def _channel_chart(
    ctx: PageContext,
    period: PeriodMetricsOut,
    names: dict[str, str],
    colours: dict[str, str],
    start: date,
    end: date,
) -> str:
    rows = [c for c in period.by_channel if c.self_resolution_rate is not None]
    return charts.hbar_chart(
        [
            charts.Datum(
                names.get(c.channel_code, c.channel_code),
                float(c.self_resolution_rate or 0) * 100,
                color=colours.get(c.channel_code),
                href=ctx.url("/service/metrics", start=start.isoformat(), end=end.isoformat(), channel=c.channel_code),
            )
            for c in rows
        ],
        title=ctx.t("sc.metrics.channel_chart"),
        width=520,
        value_format=lambda v: f"{v:.1f}%",
        empty_message=ctx.t("sc.metrics.empty"),
    )


def _score_chart(ctx: PageContext, total: MetricsFigures) -> str:
    if not total.ratings:
        return charts.bar_chart([], title=ctx.t("sc.metrics.score_chart"), empty_message=ctx.t("sc.metrics.no_ratings"))
    return charts.bar_chart(
        [
            charts.Datum(ctx.t("sc.metrics.stars", n=score), n, color=SCORE_COLOURS[score - 1])
            for score, n in enumerate(total.satisfaction_distribution, start=1)
        ],
        title=ctx.t("sc.metrics.score_chart"),
        width=420,
        height=220,
        empty_message=ctx.t("sc.metrics.no_ratings"),
    )


# ================================================================ the knowledge base

MAX_KB_UPLOAD_BYTES = 5 * 1024 * 1024
KB_FORMATS = ("yaml", "csv")
KB_DONE = ("published", "restored", "imported", "saved", "created", "deleted")
_SKU_SPLIT = re.compile(r"[\s,，;；、]+")
_ROW_FIELD = re.compile(r"^answers-(\d+)-(channel|scene|text|cards|links|remove)$")


@dataclass(frozen=True, slots=True)
class Problem:
    """A refused field, translated, shown next to its input."""

    field: str
    text: str
    detail: str


def problems_of(ctx: PageContext, error: DomainError, *, rows: Sequence[int] = ()) -> list[Problem]:
    """The service's field paths (``body.answers.1.cards.0``) as the form's names
    (``answers-<row>-cards``); ``rows`` maps the n-th variant sent to its form row."""
    out = []
    for p in error.errors:
        parts = [x for x in p.field.split(".") if x not in ("body", "snapshot")]
        name = parts[0] if parts else "form"
        if name == "answers" and len(parts) >= 2 and parts[1].isdigit():
            index = int(parts[1])
            row = rows[index] if index < len(rows) else index
            leaf = parts[2] if len(parts) >= 3 else "text"
            name = f"answers-{row}-{leaf}"
        out.append(Problem(name, ctx.t.maybe("sc.problem", p.code) or p.code, p.message))
    if not out:
        key = f"sc.error.{error.code}"
        out.append(Problem("form", ctx.t(key) if ctx.t.has(key) else error.title, error.detail))
    return out


def _done(value: str) -> str:
    return value if value in KB_DONE else ""


def _channel_options(ctx: PageContext) -> list[tuple[str, str]]:
    """Where an answer variant applies: every channel, a kind of channel, or one channel."""
    out = [("", ctx.t("sc.kb.every_channel"))]
    out += [(kind, ctx.t.maybe("sc.kind", kind)) for kind in CHANNEL_KINDS]
    out += [(code, f"{name} ({code})") for code, name in sorted(channel_names(ctx).items())]
    return out


def _matches(ctx: PageContext, q: str) -> set[str] | None:
    """Sub-intent codes whose code, names, examples or answers contain ``q`` (case-insensitive);
    None without a search."""
    needle = q.strip().lower()
    if not needle:
        return None
    draft = kb.draft_kb(ctx.session, enabled_only=False)
    found = set()
    for sub in draft.subintents.values():
        hay = [sub.code, sub.name, sub.name_en, sub.intent_name, sub.scenario_name, *sub.examples]
        hay += [a.text for a in sub.answers]
        if any(needle in h.lower() for h in hay):
            found.add(sub.code)
    return found


def _kb_page(
    ctx: PageContext,
    *,
    import_result: ImportResultOut | None = None,
    import_problems: list[Problem] | None = None,
    publish_problems: list[Problem] | None = None,
    status_code: int = 200,
) -> Response:
    q = ctx.request.query_params
    search = q.get("q", "").strip()[:64]
    tree = kb.tree(ctx.session)
    matches = _matches(ctx, search)
    shown = []
    for scenario in tree.scenarios:
        intents = [
            (intent, [u for u in intent.subintents if matches is None or u.code in matches])
            for intent in scenario.intents
        ]
        if matches is not None:
            intents = [(i, subs) for i, subs in intents if subs]
            if not intents:
                continue
        shown.append((scenario, intents, sum(len(subs) for _, subs in intents)))
    changes = kb.diff(ctx.session)
    trial = None
    trial_problems: list[Problem] = []
    question = q.get("try", "").strip()
    try_channel = q.get("try_channel", "")
    if question:
        try:
            trial = kb.try_question(ctx.session, question, channel_code=try_channel)
        except (ValidationFailed, Conflict) as error:
            trial_problems = problems_of(ctx, error)
    versions = kb.versions(ctx.session, limit=12)
    return render(
        ctx,
        "service/kb.html",
        status_code=status_code,
        tree=tree,
        shown=shown,
        search=search,
        match_count=None if matches is None else len(matches),
        diff=changes,
        marks={**{c: "added" for c in changes.added}, **{c: "changed" for c in changes.changed}},
        versions=versions,
        latest=versions[0] if versions else None,
        question=question,
        try_channel=try_channel,
        trial=trial,
        trial_problems=trial_problems,
        channels=sorted(channel_names(ctx).items()),
        import_result=import_result,
        import_problems=import_problems or [],
        publish_problems=publish_problems or [],
        can_write=ctx.can(Perm.SERVICE_WRITE),
        done=_done(q.get("done", "")),
        done_values={k: q.get(k, "") for k in ("version", "seconds", "examples", "created", "updated", "deleted")},
    )


@router.get("/service/kb")
def kb_page(ctx: Console) -> Response:
    ctx.require(Perm.SERVICE_READ)
    return _kb_page(ctx)


@router.get("/service/kb/export")
def kb_export(ctx: Console, format: str = "yaml") -> Response:
    ctx.require(Perm.SERVICE_READ)
    fmt = format if format in KB_FORMATS else "yaml"
    data = kb.export_kb(ctx.session, fmt)
    stamp = datetime.now(ZoneInfo(ctx.settings.default_timezone)).strftime("%Y%m%d-%H%M")
    media = "application/yaml; charset=utf-8" if fmt == "yaml" else "text/csv; charset=utf-8"
    return Response(
        data,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="knowledge-base-{stamp}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/service/kb/import")
async def kb_import(ctx: ConsoleForm) -> Response:
    ctx.require(Perm.SERVICE_WRITE)
    form = await ctx.request.form()
    upload = form.get("file")
    mode = str(form.get("mode") or "merge")
    dry_run = form.get("dry_run") is not None
    problems: list[Problem] = []
    data = b""
    fmt = ""
    if not isinstance(upload, UploadFile) or not upload.filename:
        problems.append(Problem("file", ctx.t("sc.kb.import_no_file"), ""))
    else:
        name = upload.filename.lower()
        fmt = "csv" if name.endswith(".csv") else "yaml" if name.endswith((".yaml", ".yml")) else ""
        if not fmt:
            problems.append(Problem("file", ctx.t("sc.kb.import_bad_format"), upload.filename))
        data = await upload.read(MAX_KB_UPLOAD_BYTES + 1)
        if len(data) > MAX_KB_UPLOAD_BYTES:
            problems.append(Problem("file", ctx.t("sc.kb.import_too_large"), ""))
    if problems:
        return _kb_page(ctx, import_problems=problems, status_code=422)
    try:
        result = kb.import_kb(ctx.session, ctx.principal, data, fmt, mode=mode, dry_run=dry_run)
    except ValidationFailed as error:
        ctx.session.rollback()
        return _kb_page(ctx, import_problems=problems_of(ctx, error), status_code=422)
    if dry_run:
        # Nothing was written: the page shows what the import would do.
        return _kb_page(ctx, import_result=result)
    target = ctx.url("/service/kb", created=result.created, updated=result.updated, deleted=result.deleted)
    return RedirectResponse(with_done(target, "imported"), status_code=303)


@router.post("/service/kb/publish")
async def kb_publish(ctx: ConsoleForm) -> Response:
    ctx.require(Perm.SERVICE_WRITE)
    fields = await form_fields(ctx)
    back = "/service/trainer" if fields.get("back") == "trainer" else "/service/kb"
    try:
        version = kb.publish(ctx.session, ctx.principal, note=fields.get("note", "").strip())
    except (ValidationFailed, Conflict) as error:
        ctx.session.rollback()
        problems = problems_of(ctx, error)
        if back == "/service/trainer":
            return _trainer_page(ctx, publish_problems=problems, status_code=422)
        return _kb_page(ctx, publish_problems=problems, status_code=422)
    target = ctx.url(back, version=version.version, seconds=f"{version.train_seconds:.1f}", examples=version.examples)
    return RedirectResponse(with_done(target, "published"), status_code=303)


@router.post("/service/kb/versions/{version}/restore")
async def kb_restore(version: int, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.SERVICE_WRITE)
    try:
        kb.restore(ctx.session, ctx.principal, version)
    except (ValidationFailed, NotFound) as error:
        ctx.session.rollback()
        return _kb_page(ctx, publish_problems=problems_of(ctx, error), status_code=error.status)
    return RedirectResponse(with_done(ctx.url("/service/kb", version=version), "restored"), status_code=303)


# ---------------------------------------------------------------- one sub-intent


@dataclass
class VariantRow:
    row: int
    channel: str = ""
    scene: str = ""
    text: str = ""
    cards: str = ""
    links: str = ""


def _variant_rows(answers: Sequence[AnswerOut]) -> list[VariantRow]:
    return [
        VariantRow(
            row=i,
            channel=a.channel,
            scene=a.scene,
            text=a.text,
            cards=", ".join(str(c.get("sku", "")) for c in a.cards),
            links="\n".join(f"{link.get('title', '')} | {link.get('url', '')}" for link in a.links),
        )
        for i, a in enumerate(answers)
    ]


def parse_links(raw: str) -> list[dict[str, str]]:
    """One link a line: "标题 | https://..." (or "标题 https://...", or the address alone)."""
    links = []
    for line in raw.splitlines():
        line = line.strip()
        if not line:
            continue
        if "|" in line:
            title, _, url = line.partition("|")
        else:
            head, _, last = line.rpartition(" ")
            title, url = (head, last) if last.lower().startswith(("http://", "https://")) else (line, "")
        title, url = title.strip(), url.strip()
        links.append({"title": title or url, "url": url})
    return links


@dataclass
class SubIntentForm:
    """What the editor posted, as the service wants it and as the page shows it back."""

    values: dict[str, str]
    slots: list[str]
    examples: list[str]
    rows: list[VariantRow]
    # The form row of each variant sent to the service, in order.
    sent_rows: list[int]
    answers: list[dict[str, Any]]

    def changes(self) -> dict[str, Any]:
        return {
            "name": self.values.get("name", ""),
            "name_en": self.values.get("name_en", ""),
            "intent_code": self.values.get("intent_code") or None,
            "action": self.values.get("action", "answer"),
            "slots": self.slots,
            "examples": self.examples,
            "enabled": self.values.get("enabled") == "on",
            "answers": self.answers,
        }


async def read_subintent_form(ctx: PageContext) -> SubIntentForm:
    form = await ctx.request.form()
    values = {k: str(form.getlist(k)[-1]) for k in form if k != "csrf_token"}
    slots = [str(s) for s in form.getlist("slots")]
    examples = [line.strip() for line in values.get("examples", "").splitlines() if line.strip()]
    by_row: dict[int, dict[str, str]] = {}
    for key, value in values.items():
        match = _ROW_FIELD.match(key)
        if match:
            by_row.setdefault(int(match.group(1)), {})[match.group(2)] = value
    rows, sent, answers = [], [], []
    for row in sorted(by_row):
        cells = by_row[row]
        variant = VariantRow(
            row=row,
            channel=cells.get("channel", ""),
            scene=cells.get("scene", ""),
            text=cells.get("text", "").strip(),
            cards=cells.get("cards", "").strip(),
            links=cells.get("links", "").strip(),
        )
        if cells.get("remove") or not (variant.text or variant.cards or variant.links):
            continue  # removed, or the blank row left empty
        rows.append(variant)
        sent.append(row)
        answers.append(
            {
                "text": variant.text,
                "channel": variant.channel,
                "scene": variant.scene,
                "cards": [{"sku": c} for c in _SKU_SPLIT.split(variant.cards) if c],
                "links": parse_links(variant.links),
            }
        )
    return SubIntentForm(values, slots, examples, rows, sent, answers)


def _intent_options(ctx: PageContext) -> list[tuple[str, str]]:
    return [(i.code, f"{ctx.name_of(s)} / {ctx.name_of(i)}") for s in kb.tree(ctx.session).scenarios for i in s.intents]


def _editor(
    ctx: PageContext,
    *,
    sub: SubIntentOut | None,
    values: dict[str, str],
    slots: Sequence[str],
    examples: Sequence[str],
    rows: list[VariantRow],
    problems: Sequence[Problem] = (),
    status_code: int = 200,
) -> Response:
    next_row = max((r.row for r in rows), default=-1) + 1
    return render(
        ctx,
        "service/kb_subintent.html",
        status_code=status_code,
        sub=sub,
        is_new=sub is None,
        values=values,
        slots=list(slots),
        examples="\n".join(examples),
        example_count=len(examples),
        rows=[*rows, VariantRow(row=next_row)],
        next_row=next_row + 1,
        problems=list(problems),
        errors={p.field: p for p in problems},
        row_errors={p.field.split("-")[1] for p in problems if p.field.startswith("answers-")},
        actions=ACTIONS,
        all_slots=SLOTS,
        scenes=SCENES,
        channel_options=_channel_options(ctx),
        intents=_intent_options(ctx),
        can_write=ctx.can(Perm.SERVICE_WRITE),
        done=_done(ctx.request.query_params.get("done", "")),
    )


# A path of its own: "new" is a valid sub-intent code.
NEW_SUBINTENT = "/service/kb/new-subintent"


@router.get(NEW_SUBINTENT)
def new_subintent_page(ctx: Console) -> Response:
    ctx.require(Perm.SERVICE_WRITE)
    values = {"intent_code": ctx.request.query_params.get("intent", ""), "action": "answer", "enabled": "on"}
    return _editor(ctx, sub=None, values=values, slots=[], examples=[], rows=[])


@router.post(NEW_SUBINTENT)
async def new_subintent_create(ctx: ConsoleForm) -> Response:
    ctx.require(Perm.SERVICE_WRITE)
    posted = await read_subintent_form(ctx)
    changes = posted.changes()
    try:
        created = kb.create_subintent(
            ctx.session,
            ctx.principal,
            intent_code=changes["intent_code"] or "",
            code=posted.values.get("code", "").strip(),
            name=changes["name"],
            name_en=changes["name_en"],
            action=changes["action"],
            slots=changes["slots"],
            examples=changes["examples"],
            enabled=changes["enabled"],
            answers=changes["answers"],
        )
    except (ValidationFailed, Conflict) as error:
        ctx.session.rollback()
        return _refused_edit(ctx, None, posted, error)
    return RedirectResponse(with_done(f"/service/kb/subintents/{created.code}", "created"), status_code=303)


@router.get("/service/kb/subintents/{code}")
def subintent_page(code: str, ctx: Console) -> Response:
    ctx.require(Perm.SERVICE_READ)
    sub = kb.subintent_detail(ctx.session, code)
    values = {
        "code": sub.code,
        "name": sub.name,
        "name_en": sub.name_en,
        "intent_code": sub.intent_code,
        "action": sub.action,
        "enabled": "on" if sub.enabled else "",
    }
    return _editor(ctx, sub=sub, values=values, slots=sub.slots, examples=sub.examples, rows=_variant_rows(sub.answers))


@router.post("/service/kb/subintents/{code}")
async def subintent_save(code: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.SERVICE_WRITE)
    posted = await read_subintent_form(ctx)
    try:
        kb.update_subintent(ctx.session, ctx.principal, code, posted.changes())
    except (ValidationFailed, Conflict) as error:
        ctx.session.rollback()
        return _refused_edit(ctx, kb.subintent_detail(ctx.session, code), posted, error)
    return RedirectResponse(with_done(f"/service/kb/subintents/{code}", "saved"), status_code=303)


def _refused_edit(ctx: PageContext, sub: SubIntentOut | None, posted: SubIntentForm, error: DomainError) -> Response:
    """The editor again with what was typed and every problem next to its field."""
    return _editor(
        ctx,
        sub=sub,
        values=posted.values,
        slots=posted.slots,
        examples=posted.examples,
        rows=posted.rows,
        problems=problems_of(ctx, error, rows=posted.sent_rows),
        status_code=422,
    )


@router.post("/service/kb/subintents/{code}/delete")
async def subintent_delete(code: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.SERVICE_WRITE)
    kb.delete_subintent(ctx.session, ctx.principal, code)
    return RedirectResponse(with_done("/service/kb", "deleted"), status_code=303)


# ================================================================ the trainer

TRAINER_CLUSTERS = 50
TRAINER_SAMPLES = 8
TRAINER_DONE = ("assigned", "created", "ignored", "published")


@dataclass
class Wording:
    """One wording of a cluster's questions: asked ``len(ids)`` times, ticked or unticked at once."""

    text: str
    ids: list[int]
    channels: list[str]
    guess: str | None
    confidence: float | None
    subintent_code: str | None

    @property
    def value(self) -> str:
        return ",".join(str(i) for i in self.ids)


def wordings(cluster: ClusterOut) -> list[Wording]:
    """The cluster's questions with identical wordings together, most asked first."""
    by_text: dict[str, Wording] = {}
    for item in cluster.items:
        w = by_text.get(item.text)
        if w is None:
            w = by_text[item.text] = Wording(item.text, [], [], item.guess, item.confidence, item.subintent_code)
        w.ids.append(item.id)
        if item.channel_code not in w.channels:
            w.channels.append(item.channel_code)
        if item.confidence is not None and (w.confidence is None or item.confidence > w.confidence):
            w.guess, w.confidence = item.guess, item.confidence
    return sorted(by_text.values(), key=lambda w: (-len(w.ids), min(w.ids)))


@dataclass
class ClusterFailure:
    """A refused verb on one cluster: its problems and what was typed, shown on that cluster."""

    cluster: str
    problems: list[Problem]
    values: dict[str, str]


def _trainer_page(
    ctx: PageContext,
    *,
    failure: ClusterFailure | None = None,
    publish_problems: list[Problem] | None = None,
    status_code: int = 200,
) -> Response:
    q = ctx.request.query_params
    status = q.get("status", "open")
    status = status if status in trainer.STATUSES else "open"
    search = q.get("q", "").strip()[:64]
    found = trainer.clusters(ctx.session, ctx.principal, status=status, limit=TRAINER_CLUSTERS)
    if search:
        needle = metrics.question_key(search)
        found = [c for c in found if any(needle in metrics.question_key(i.text) for i in c.items)]
    tree = kb.tree(ctx.session)
    subintents = [
        (u.code, f"{ctx.name_of(u)} · {ctx.name_of(i)}")
        for s in tree.scenarios
        for i in s.intents
        for u in i.subintents
    ]
    done = q.get("done", "")
    return render(
        ctx,
        "service/trainer.html",
        status_code=status_code,
        clusters=[(c, wordings(c)) for c in found],
        status=status,
        statuses=trainer.STATUSES,
        search=search,
        questions=sum(c.size for c in found),
        cluster_count=len(found),
        subintents=subintents,
        intents=_intent_options(ctx),
        diff=kb.diff(ctx.session),
        latest=next(iter(kb.versions(ctx.session, limit=1)), None),
        failure=failure,
        publish_problems=publish_problems or [],
        samples=TRAINER_SAMPLES,
        can_write=ctx.can(Perm.SERVICE_WRITE),
        done=done if done in TRAINER_DONE else "",
        done_values={k: q.get(k, "") for k in ("n", "code", "version", "seconds", "examples", "skipped")},
    )


@router.get("/service/trainer")
def trainer_page(ctx: Console) -> Response:
    ctx.require(Perm.SERVICE_WRITE)
    return _trainer_page(ctx)


async def _trainer_verb(ctx: PageContext, verb: str) -> Response:
    ctx.require(Perm.SERVICE_WRITE)
    form = await ctx.request.form()
    values = {k: str(form.getlist(k)[-1]) for k in form if k not in ("csrf_token", "item_ids")}
    # A ticked wording carries the ids of every question asked in those words.
    ids = [int(p) for v in form.getlist("item_ids") if isinstance(v, str) for p in v.split(",") if p.strip().isdigit()]
    back = {k: v for k, v in (("status", values.get("status", "")), ("q", values.get("q", ""))) if v}
    try:
        if verb == "ignore":
            ignored = trainer.ignore(ctx.session, ctx.principal, ids)
            done: dict[str, Any] = {"n": len(ignored.ignored), "skipped": len(ignored.skipped)}
        else:
            new = None
            if verb == "create":
                new = NewSubIntentIn(
                    intent_code=values.get("intent_code", ""),
                    code=values.get("code", "").strip(),
                    name=values.get("name", "").strip(),
                    name_en=values.get("name_en", "").strip(),
                    answer_text=values.get("answer_text", "").strip(),
                )
            result = trainer.assign(
                ctx.session,
                ctx.principal,
                ids,
                subintent_code=values.get("subintent_code", "").strip() if new is None else None,
                new_subintent=new,
            )
            done = {"n": len(result.assigned), "code": result.subintent_code, "skipped": len(result.skipped)}
    except (ValidationFailed, Conflict) as error:
        ctx.session.rollback()
        failure = ClusterFailure(values.get("cluster", ""), problems_of(ctx, error), values)
        return _trainer_page(ctx, failure=failure, status_code=error.status)
    label = {"ignore": "ignored", "create": "created"}.get(verb, "assigned")
    return RedirectResponse(with_done(ctx.url("/service/trainer", **back, **done), label), status_code=303)


@router.post("/service/trainer/assign")
async def trainer_assign(ctx: ConsoleForm) -> Response:
    return await _trainer_verb(ctx, "assign")


@router.post("/service/trainer/create")
async def trainer_create(ctx: ConsoleForm) -> Response:
    return await _trainer_verb(ctx, "create")


@router.post("/service/trainer/ignore")
async def trainer_ignore(ctx: ConsoleForm) -> Response:
    return await _trainer_verb(ctx, "ignore")
