"""What every console page knows: who is looking (session cookie only), in which language,
and how to render a template for them.

Console pages never accept an API key: machines use ``/api/v1``, people use the console, and a
key pasted into a browser must not open pages. Every form carries the session's CSRF token, and
``console_form`` refuses a POST without it.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy.orm import Session

from zhongtai.auth import service as auth_service
from zhongtai.auth.permissions import Perm, Role
from zhongtai.auth.principal import Principal
from zhongtai.errors import PermissionDenied, Unauthenticated
from zhongtai.http import DbSession, get_settings_dep
from zhongtai.observability import request_id_var
from zhongtai.settings import Settings
from zhongtai.web import formatting
from zhongtai.web.i18n import LANG_COOKIE, Translator, pick_locale

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "svg"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = formatting.money
    env.filters["number"] = formatting.number
    env.filters["km"] = formatting.distance_km
    env.filters["svg"] = Markup  # charts.py escapes every text it places
    return env


ENV = _env()


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str
    href: str
    icon: str
    perm: Perm
    section: str


NAV: tuple[NavItem, ...] = (
    NavItem("home", "/", "home", Perm.CONSOLE, "overview"),
    NavItem("catalog", "/catalog", "box", Perm.CATALOG_READ, "operations"),
    NavItem("locations", "/locations", "pin", Perm.INVENTORY_READ, "operations"),
    NavItem("movements", "/stock/movements", "ledger", Perm.INVENTORY_READ, "operations"),
    NavItem("imports", "/imports", "upload", Perm.JOBS_READ, "operations"),
    NavItem("orders", "/orders", "receipt", Perm.ORDERS_READ, "orders"),
    NavItem("fulfilment_queue", "/fulfilment-queue", "truck", Perm.ORDERS_FULFIL, "orders"),
    NavItem("returns", "/returns", "return", Perm.ORDERS_READ, "orders"),
    NavItem("exceptions", "/exceptions", "alert", Perm.ORDERS_MANAGE, "orders"),
    NavItem("members", "/members", "member", Perm.MEMBERS_READ, "members"),
    NavItem("member_review", "/members/review", "merge", Perm.MEMBERS_MANAGE, "members"),
    NavItem("tag_rules", "/members/tag-rules", "tag", Perm.MEMBERS_MANAGE, "members"),
    NavItem("forecasts", "/forecasts", "chart", Perm.PLANNING_READ, "planning"),
    NavItem("forecast_events", "/forecasts/events", "calendar", Perm.PLANNING_READ, "planning"),
    NavItem("forecast_accuracy", "/forecasts/accuracy", "target", Perm.PLANNING_READ, "planning"),
    NavItem("repl_suggestions", "/replenishment/suggestions", "inbox", Perm.PLANNING_READ, "planning"),
    NavItem("repl_purchase_orders", "/replenishment/purchase-orders", "receipt", Perm.PLANNING_READ, "planning"),
    NavItem("repl_transfers", "/replenishment/transfers", "truck", Perm.PLANNING_READ, "planning"),
    NavItem("service_agent", "/service/agent", "chat", Perm.SERVICE_AGENT, "service"),
    NavItem("service_kb", "/service/kb", "book", Perm.SERVICE_READ, "service"),
    NavItem("service_trainer", "/service/trainer", "target", Perm.SERVICE_WRITE, "service"),
    NavItem("service_metrics", "/service/metrics", "chart", Perm.SERVICE_READ, "service"),
    NavItem("analytics_sales", "/analytics/sales", "chart", Perm.ANALYTICS_READ, "analytics"),
    NavItem("analytics_inventory", "/analytics/inventory", "box", Perm.ANALYTICS_READ, "analytics"),
    NavItem("analytics_members", "/analytics/members", "member", Perm.ANALYTICS_READ, "analytics"),
    NavItem("analytics_traffic", "/analytics/traffic", "store", Perm.ANALYTICS_READ, "analytics"),
    NavItem("analytics_touchpoints", "/analytics/touchpoints", "target", Perm.ANALYTICS_READ, "analytics"),
    NavItem("analytics_maturity", "/analytics/maturity", "target", Perm.ANALYTICS_READ, "analytics"),
    NavItem("touchpoints", "/touchpoints", "globe", Perm.ANALYTICS_READ, "analytics"),
    NavItem("users", "/admin/users", "users", Perm.USERS_MANAGE, "admin"),
    NavItem("api_keys", "/admin/api-keys", "key", Perm.APIKEYS_MANAGE, "admin"),
    NavItem("audit", "/admin/audit", "shield", Perm.AUDIT_READ, "admin"),
)


@dataclass
class PageContext:
    request: Request
    session: Session
    settings: Settings
    principal: Principal
    display_name: str
    t: Translator
    # Store names for the top bar's scope chip; filled in by views that know them.
    scope_names: list[str] = field(default_factory=list)

    @property
    def locale(self) -> str:
        return self.t.locale

    @property
    def csrf_token(self) -> str:
        return self.principal.csrf_token or ""

    def can(self, perm: Perm | str) -> bool:
        return self.principal.can(Perm(perm))

    def require(self, perm: Perm) -> None:
        self.principal.require(perm)

    def nav(self) -> list[tuple[str, list[NavItem]]]:
        sections: dict[str, list[NavItem]] = {}
        for item in NAV:
            if self.principal.can(item.perm):
                sections.setdefault(item.section, []).append(item)
        return list(sections.items())

    def active(self, item: NavItem) -> bool:
        path = self.request.url.path
        if item.href == "/":
            return path == "/"
        if item.href == "/catalog":
            return path.startswith("/catalog")
        if item.href == "/imports":
            return path.startswith("/imports") or path.startswith("/jobs")
        if item.href == "/forecasts":
            # The runs and the pair chart; the calendar and accuracy have their own entries.
            return path == "/forecasts" or path == "/forecasts/series"
        if item.href == "/members":
            # The card and search; the review queue and tag rules have their own entries.
            return path == "/members" or (
                path.startswith("/members/") and not path.startswith(("/members/review", "/members/tag-rules"))
            )
        return path == item.href or path.startswith(item.href + "/")

    # ------------------------------------------------------------- formatting, in this locale
    def money(self, fen: int | None, currency: str = "CNY") -> str:
        return formatting.money(fen, currency)

    def money_compact(self, fen: int | None, currency: str = "CNY") -> str:
        return formatting.money_compact(fen, currency, self.locale)

    def number_compact(self, value: int | None) -> str:
        return formatting.number_compact(value, self.locale)

    def time(self, value: Any, tz: str | None = None, seconds: bool = False) -> str:
        return formatting.local_time(value, tz or self.settings.default_timezone, seconds=seconds)

    def name_of(self, obj: Any) -> str:
        """``name_en`` in English when there is one, else the Chinese ``name``."""
        if self.locale == "en":
            english = getattr(obj, "name_en", "") or (obj.get("name_en") if isinstance(obj, Mapping) else "")
            if english:
                return str(english)
        return str(getattr(obj, "name", None) or (obj.get("name") if isinstance(obj, Mapping) else "") or "")

    def url(self, path: str, **params: Any) -> str:
        """``path`` with the non-empty ``params`` as a query string."""
        query = {k: v for k, v in params.items() if v not in (None, "")}
        return f"{path}?{urlencode(query, doseq=True)}" if query else path

    def url_with(self, **changes: Any) -> str:
        """This page's URL with some query parameters changed (filters, next page)."""
        params: dict[str, Any] = dict(self.request.query_params)
        params.update(changes)
        return self.url(self.request.url.path, **params)

    def lang_switch_url(self, locale: str) -> str:
        here = self.request.url.path + (f"?{self.request.url.query}" if self.request.url.query else "")
        return f"/lang/{locale}?next={quote(here, safe='')}"

    @property
    def role_label(self) -> str:
        return self.t(f"role.{self.principal.role.value}")

    @property
    def is_store_scoped(self) -> bool:
        return self.principal.is_store_scoped


def _console_principal(request: Request, session: Session, settings: Settings) -> Principal:
    token = request.cookies.get(settings.session_cookie)
    if not token:
        raise Unauthenticated("log in to the console")
    principal = auth_service.principal_from_session_token(session, token)
    if principal is None:
        raise Unauthenticated("console session expired; log in again")
    return principal


def locale_of(request: Request, settings: Settings, user_locale: str | None = None) -> str:
    return pick_locale(request.cookies.get(LANG_COOKIE), user_locale, settings.default_locale)


def build_context(request: Request, session: Session, settings: Settings, principal: Principal) -> PageContext:
    t = Translator(locale_of(request, settings, principal.locale))
    user = auth_service.get_user(session, principal.id) if principal.id is not None else None
    ctx = PageContext(
        request=request,
        session=session,
        settings=settings,
        principal=principal,
        display_name=user.display_name if user else principal.name,
        t=t,
    )
    from zhongtai.web.views import lookups

    if principal.is_store_scoped:
        ctx.scope_names = lookups.scope_names(ctx)
    return ctx


def console_page(
    request: Request, session: DbSession, settings: Annotated[Settings, Depends(get_settings_dep)]
) -> PageContext:
    """The dependency of every console page: a logged-in person allowed to use the console."""
    principal = _console_principal(request, session, settings)
    ctx = build_context(request, session, settings, principal)
    # The error page renders inside the frame when it knows who is looking.
    request.state.console = ctx
    principal.require(Perm.CONSOLE)
    return ctx


def context_for_error(request: Request, session: Session, settings: Settings) -> PageContext | None:
    """The frame for an error page outside any console route (an unknown path), if logged in."""
    token = request.cookies.get(settings.session_cookie)
    principal = auth_service.principal_from_session_token(session, token) if token else None
    if principal is None or not principal.can(Perm.CONSOLE):
        return None
    return build_context(request, session, settings, principal)


async def console_form(ctx: Annotated[PageContext, Depends(console_page)]) -> PageContext:
    """A console page receiving a form: the form must carry this session's CSRF token."""
    form = await ctx.request.form()
    sent = form.get("csrf_token")
    expected = ctx.csrf_token
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise PermissionDenied("missing or wrong CSRF token; reload the page", extra={"reason": "csrf"})
    return ctx


async def form_fields(ctx: PageContext) -> dict[str, str]:
    """A posted form's fields (the last value of each), without the CSRF token."""
    form = await ctx.request.form()
    return {key: str(form.getlist(key)[-1]) for key in form if key != "csrf_token"}


def with_done(url: str, done: str) -> str:
    """``url`` with ``done=<what was done>`` (the page shows it as a notice after a POST redirect)."""
    path, _, query = url.partition("?")
    params = [(k, v) for k, v in parse_qsl(query) if k != "done"] + [("done", done)]
    return f"{path}?{urlencode(params)}"


Console = Annotated[PageContext, Depends(console_page)]
ConsoleForm = Annotated[PageContext, Depends(console_form)]


def render(
    ctx: PageContext | None,
    template: str,
    *,
    status_code: int = 200,
    request: Request | None = None,
    t: Translator | None = None,
    headers: Mapping[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """Renders ``template`` with the page context (``ctx``) or, before login, a bare translator."""
    translator = ctx.t if ctx else t
    assert translator is not None, "render() needs a page context or a translator"
    html = ENV.get_template(template).render(
        ctx=ctx,
        t=translator,
        locale=translator.locale,
        request=ctx.request if ctx else request,
        request_id=request_id_var.get() or "",
        **values,
    )
    response = HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
    # Pages show stock and personal data: never cached by a shared proxy or the back button.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def safe_next(value: str | None) -> str:
    """Only paths on this site: no scheme, no ``//host``, no backslash tricks."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def role_choices(t: Translator) -> list[tuple[str, str]]:
    return [(r.value, t(f"role.{r.value}")) for r in Role]


def options(t: Translator, prefix: str, values: Iterable[str]) -> list[tuple[str, str]]:
    return [(v, t.maybe(prefix, v)) for v in values]
