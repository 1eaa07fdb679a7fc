"""Loads the demo retailer through the services, exactly as an operator would build it.

Every row goes through a service verb (validation and audit included); the demo never touches a
model or a repository (an import-linter contract says so). The one exception is the two years of
order history and the stock ledger behind it (``history_loader``): tens of thousands of finished
orders would take half an hour through the order service, so they are inserted in bulk, already
consistent (the ledger check below still runs over them); today's live orders go through the
order service again (``live_orders``). See ``docs/demo.md``. The whole load is one transaction:
a load that fails half way leaves nothing behind, so ``--if-empty`` never mistakes a broken load
for a finished one.

The catalog goes in through ``create_spu`` / ``create_sku`` with the attribute definitions loaded
once, which is what the catalog's ``import_rows`` does per row, minus a round trip through
spreadsheet text. What keeps the full demo fast on SQLite is the order (safety stock before the
receipts, so each receipt line finds its balance row) and one autoflush switch (see ``stock``).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from zhongtai.analytics.lake import Lake
from zhongtai.auth import service as auth_service
from zhongtai.auth.principal import Principal
from zhongtai.catalog import service as catalog_service
from zhongtai.catalog.schemas import CategoryNode
from zhongtai.channels import service as channel_service
from zhongtai.db import Database, utcnow
from zhongtai.demo import (
    forecast_data,
    history_loader,
    live_orders,
    member_loader,
    replenishment_data,
    service_loader,
    touchpoint_data,
    touchpoint_loader,
)
from zhongtai.demo.catalog_data import CatalogPlan, Scale
from zhongtai.demo.network_data import NetworkPlan
from zhongtai.demo.order_history import OrderHistory, beijing_date, build_order_history
from zhongtai.demo.plan import SCALES, DemoPlan, build_demo_plan
from zhongtai.demo.stock_data import OPENING_BALANCE_REASON
from zhongtai.demo.stock_history import build_stock_history
from zhongtai.errors import Conflict, PermissionDenied, ValidationFailed
from zhongtai.inventory import service as inventory_service
from zhongtai.inventory.schemas import LocationIn, StockLineIn
from zhongtai.settings import PROJECT_ROOT, Settings

ACTOR = Principal.system("demo-loader")
DEFAULT_CREDENTIALS_PATH = PROJECT_ROOT / "var" / "demo-credentials.txt"


class DemoNotEmpty(Conflict):
    code = "demo_not_empty"
    title = "The database already has locations or SKUs"


class DemoRefused(PermissionDenied):
    code = "demo_refused"
    title = "The demo is not loaded into production"


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    display_name: str
    role: str
    store_codes: tuple[str, ...]
    # False: the user existed before the load and keeps its own password.
    created: bool


@dataclass(frozen=True, slots=True)
class DemoSummary:
    loaded: bool
    seed: int
    scale: str
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    users: tuple[DemoUser, ...] = ()
    password: str = field(default="", repr=False)
    api_key: str | None = field(default=None, repr=False)
    # A store camera system's ``touchpoint`` key and the touchpoint it posts for.
    touchpoint_key: str | None = field(default=None, repr=False)
    touchpoint_key_code: str | None = None
    credentials_path: Path | None = None


def load_demo(
    db: Database,
    *,
    seed: int = 42,
    scale: str = "full",
    if_empty: bool = False,
    console: Console | None = None,
    settings: Settings,
    credentials_path: Path | None = None,
    history: bool = True,
    today: date | None = None,
) -> DemoSummary:
    """Loads the demo for ``seed`` at ``scale`` (small | full) into an empty database.

    ``if_empty``: when any location or SKU exists, do nothing (``make run`` calls it every time).
    Without it, a non-empty database is a ``DemoNotEmpty`` error: the demo's codes would clash.

    ``history``: two years of orders on every channel ending yesterday (``today``: the load's
    date in Beijing unless given), the stock ledger that goes with them and a few dozen live
    orders in every state (see ``order_history``). Without it the stock is one opening receipt
    per SKU × location, as an operator would key it in, and there are no orders.
    """
    out = console or Console(quiet=True)
    if settings.is_production:
        # Six users with one published password would be an open door.
        raise DemoRefused("ZHONGTAI_ENV is production: the demo retailer (known passwords) is not loaded")
    if scale not in SCALES:
        raise ValidationFailed(f"scale is one of {', '.join(SCALES)}, got {scale!r}")
    started = time.perf_counter()
    plan = build_demo_plan(seed, _scale(scale))
    with db.transaction() as session:
        # Checked inside the write transaction: on SQLite its lock serialises two loads started at
        # once; on PostgreSQL the second one fails on the first one's unique codes.
        if _has_data(session):
            if if_empty:
                out.print("[yellow]demo: the database already has data; nothing loaded[/yellow]")
                return DemoSummary(False, seed, scale, time.perf_counter() - started)
            raise DemoNotEmpty(
                "the database already has locations or SKUs; load the demo into an empty database "
                "(or pass --if-empty to skip)"
            )
        loader = _Loader(session, plan, settings.demo_password, out)
        day = today or beijing_date(utcnow())
        # The members' generation and stitching is pure and the slowest part: it runs in another
        # process while the catalog, the stock and the orders are written.
        stitching = member_loader.BackgroundStitch(seed, plan.scale, day) if history else None
        try:
            with loader.progress(history=history):
                loader.reference_data()
                loader.catalog()
                loader.safety_stock()
                if history:
                    loader.history_stock(day)
                else:
                    loader.stock()
                loader.transfers()
                if history:
                    loader.history_orders()
                    loader.members(stitching)
                    loader.live_orders()
                    loader.service()
                    loader.counts["forecast_events"] = forecast_data.load_planning(session, ACTOR, day)
                    loader.counts |= replenishment_data.load_replenishment(session, ACTOR, plan)
                    loader.touchpoints(day)
        finally:
            if stitching is not None:
                stitching.close()
        mismatches = inventory_service.check_ledger(session)
        if mismatches:  # the services broke an invariant; refuse to commit a corrupt demo
            raise RuntimeError(f"demo stock does not match its ledger: {mismatches[:5]}")
        below_safety = inventory_service.stock_summary(session, ACTOR).below_safety_count
        counts = loader.counts | {"below_safety_stock": below_safety}
    if history:  # after the commit: the sink reads what the transaction wrote
        counts |= _sync_lake(db, settings, out)
    summary = DemoSummary(
        loaded=True,
        seed=seed,
        scale=scale,
        seconds=time.perf_counter() - started,
        counts=counts,
        users=tuple(loader.users),
        password=settings.demo_password,
        api_key=loader.api_key,
        touchpoint_key=loader.touchpoint_key,
        touchpoint_key_code=loader.touchpoint_key_code,
        credentials_path=credentials_path or DEFAULT_CREDENTIALS_PATH,
    )
    assert summary.credentials_path is not None
    write_credentials(summary, summary.credentials_path)
    print_summary(out, summary)
    return summary


def _sync_lake(db: Database, settings: Settings, out: Console) -> dict[str, int]:
    """The dashboards' lake filled from what the load committed (see ``touchpoint_loader``)."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(), console=out) as progress:
        task = progress.add_task("分析数据湖 analytics lake (full sync)", total=1)
        counts = touchpoint_loader.sync_lake(db, Lake.for_settings(settings), tz=settings.default_timezone)
        progress.advance(task)
    return counts


def _scale(scale: str) -> Scale:
    return "small" if scale == "small" else "full"


def _has_data(session: Session) -> bool:
    if inventory_service.list_locations(session, ACTOR, limit=1).items:
        return True
    return catalog_service.count_skus(session) > 0


class _Loader:
    def __init__(self, session: Session, plan: DemoPlan, password: str, out: Console) -> None:
        self.session = session
        self.plan = plan
        self.password = password
        self.out = out
        self.counts: dict[str, int] = {}
        self.users: list[DemoUser] = []
        self.api_key: str | None = None
        self.touchpoint_key: str | None = None
        self.touchpoint_key_code: str | None = None
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self.order_history: OrderHistory | None = None

    # ------------------------------------------------------------ progress

    @contextmanager
    def progress(self, *, history: bool = False) -> Iterator[None]:
        catalog, network, stock = self.plan.catalog, self.plan.network, self.plan.stock
        steps: dict[str, tuple[str, int | None]] = {
            "reference": ("渠道、门店与用户 channels, locations, users", _reference_steps(catalog, network)),
            "catalog": ("商品 catalog", len(catalog.spus) + 2 * len(catalog.skus)),
            "safety": ("安全库存 safety stock", len(stock.safety_stock) + len(stock.channel_safety)),
            "stock": ("期初库存与调拨 opening stock, transfers", len(stock.receipts) + len(stock.transfers)),
        }
        if history:
            steps["generate"] = ("生成两年订单 generating two years of orders", 2)
            # Totals known once the history is generated.
            steps["stock"] = ("库存流水与调拨 stock ledger, transfers", None)
            steps["orders"] = ("历史订单 order history", None)
            steps["members"] = ("会员与统一身份 members (OneID)", member_loader.STEPS)
            steps["live"] = ("今日订单 today's orders", sum(n for _, n in live_orders.scenario_counts(self.plan.scale)))
            steps["service"] = ("智能客服与对话 customer service, conversations", None)
            steps["touchpoints"] = ("全触点与事件 touchpoints, events", touchpoint_loader.STEPS)
            order = (
                "reference", "catalog", "safety", "generate", "stock", "orders", "members", "live", "service",
                "touchpoints",
            )  # fmt: skip
            steps = {k: steps[k] for k in order}
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.out,
        ) as progress:
            self._progress = progress
            self._tasks = {key: progress.add_task(label, total=total) for key, (label, total) in steps.items()}
            yield
        self._progress = None

    def _advance(self, task: str, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._tasks[task], n)

    def _total(self, task: str, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._tasks[task], total=total)

    def _count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    # ------------------------------------------------------------ phases

    def reference_data(self) -> None:
        s, catalog, network = self.session, self.plan.catalog, self.plan.network
        missing = set(channel_service.unknown_codes(s, [c.code for c in network.channels]))
        for ch in network.channels:
            if ch.code in missing:
                channel_service.create_channel(
                    s,
                    ACTOR,
                    code=ch.code,
                    name=ch.name,
                    name_en=ch.name_en,
                    kind=ch.kind,
                    platform=ch.platform,
                    adapter=ch.adapter,
                )
            self._count("channels")
            self._advance("reference")

        brands = {b.code for b in catalog_service.list_brands(s)}
        for b in catalog.brands:
            if b.code not in brands:
                catalog_service.create_brand(s, ACTOR, code=b.code, name=b.name, name_en=b.name_en)
            self._count("brands")
            self._advance("reference")

        categories = _category_codes(catalog_service.category_tree(s))
        for c in catalog.categories:
            if c.code not in categories:
                catalog_service.create_category(
                    s,
                    ACTOR,
                    code=c.code,
                    name=c.name,
                    name_en=c.name_en,
                    parent_code=c.parent_code,
                    sort_order=c.sort_order,
                )
            self._count("categories")
            self._advance("reference")

        attributes = catalog_service.attribute_specs(s)
        for a in catalog.attributes:
            if a.code not in attributes:
                catalog_service.define_attribute(
                    s,
                    ACTOR,
                    code=a.code,
                    name=a.name,
                    name_en=a.name_en,
                    kind=a.kind,
                    level=a.level,
                    unit=a.unit,
                    options=a.options,
                )
            self._count("attributes")
            self._advance("reference")

        for loc in network.locations:  # DCs come before the stores they supply
            inventory_service.create_location(
                s,
                ACTOR,
                LocationIn(
                    code=loc.code,
                    name=loc.name,
                    name_en=loc.name_en,
                    type=loc.type,
                    region=loc.region,
                    province=loc.province,
                    city=loc.city,
                    address=loc.address,
                    latitude=loc.latitude,
                    longitude=loc.longitude,
                    timezone=loc.timezone,
                    opening_hours=loc.opening_hours_dict(),
                    parent_dc_code=loc.parent_code,
                ),
            )
            self._count("locations")
            self._count(f"locations_{loc.type}")
            self._advance("reference")

        store_ids = inventory_service.location_ids_by_codes(s, [loc.code for loc in network.stores])
        for u in network.users:
            created = True
            try:
                auth_service.create_user(
                    s,
                    ACTOR,
                    username=u.username,
                    display_name=u.display_name,
                    password=self.password,
                    role=u.role,
                    store_ids=[store_ids[c] for c in u.store_codes],
                    locale=u.locale,
                )
            except ValidationFailed as exc:
                # An administrator created this user before loading the demo: keep theirs.
                if not any(p.field == "body.username" and p.code == "taken" for p in exc.errors):
                    raise
                created = False
            self.users.append(DemoUser(u.username, u.display_name, u.role, u.store_codes, created))
            self._count("users")
            self._advance("reference")

        for k in network.api_keys:
            issued = auth_service.create_api_key(s, ACTOR, name=k.name, role=k.role, channel_code=k.channel_code)
            self.api_key = issued.secret
            self._count("api_keys")
            self._advance("reference")

    def catalog(self) -> None:
        s, catalog = self.session, self.plan.catalog
        specs = catalog_service.attribute_specs(s)  # loaded once, not once per row
        prices: dict[str, dict[str, int]] = defaultdict(dict)
        for cp in catalog.channel_prices:
            prices[cp.sku_code][cp.channel_code] = cp.price_fen
        skus_of: dict[str, list[str]] = defaultdict(list)
        spu_state: dict[str, str] = {}
        for spu in catalog.spus:
            catalog_service.create_spu(
                s,
                ACTOR,
                code=spu.code,
                name=spu.name,
                name_en=spu.name_en,
                category_code=spu.category_code,
                brand_code=spu.brand_code,
                description=spu.description,
                selling_points=spu.selling_points,
                parameters=dict(spu.parameters),
                tags=spu.tags,
                specs=specs,
            )
            spu_state[spu.code] = "draft"
            self._count("spus")
            self._advance("catalog")
        for sku in catalog.skus:
            catalog_service.create_sku(
                s,
                ACTOR,
                spu_code=sku.spu_code,
                code=sku.code,
                name=sku.name,
                name_en=sku.name_en,
                sale_attributes=dict(sku.sale_attributes),
                list_price_fen=sku.list_price_fen,
                sale_price_fen=sku.sale_price_fen,
                unit_cost_fen=sku.unit_cost_fen,
                serial_tracked=sku.serial_tracked,
                tags=sku.tags,
                weight_g=sku.weight_g,
                barcodes=sku.barcodes,
                channel_prices=prices.get(sku.code),
                lifecycle=sku.lifecycle,
                specs=specs,
            )
            # The first SKU to go on sale launches its product (see the catalog service).
            if sku.lifecycle == "on_sale":
                spu_state[sku.spu_code] = "on_sale"
            skus_of[sku.spu_code].append(sku.code)
            self._count("skus")
            self._count(f"skus_{sku.lifecycle}")
            self._advance("catalog")
        self._count("channel_prices", len(catalog.channel_prices))

        # Withdrawn products were on sale once: draft -> on_sale -> off_sale, as in real life.
        for spu in catalog.spus:
            if spu.lifecycle != "draft" and spu_state[spu.code] == "draft":
                catalog_service.change_spu_lifecycle(s, ACTOR, spu.code, "on_sale")
            if spu.lifecycle == "off_sale":
                catalog_service.change_spu_lifecycle(s, ACTOR, spu.code, "off_sale")

        links: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"accessory": [], "related": []})
        for ln in catalog.links:
            links[ln.sku_code][ln.kind].append(ln.linked_sku_code)
        for sku in catalog.skus:
            if sku.code in links:
                by_kind = links[sku.code]
                catalog_service.set_sku_links(
                    s, ACTOR, sku.code, accessories=by_kind["accessory"], related=by_kind["related"]
                )
            self._advance("catalog")
        self._count("sku_links", len(catalog.links))

    def stock(self) -> None:
        s, stock = self.session, self.plan.stock
        by_location: dict[str, list[StockLineIn]] = defaultdict(list)
        for r in stock.receipts:
            by_location[r.location_code].append(
                StockLineIn(sku_code=r.sku_code, quantity=r.quantity, serials=list(r.serials))
            )
        # Autoflush off: each receipt line would otherwise flush the previous line's ledger row and
        # serial numbers on its own (half the load's time); ``receive_stock`` flushes once at its
        # end and reads only rows it wrote with Core statements. ``check_ledger`` runs before the
        # commit all the same.
        with s.no_autoflush:
            for location_code, lines in by_location.items():
                inventory_service.receive_stock(
                    s,
                    ACTOR,
                    location_code=location_code,
                    lines=lines,
                    reference=f"OB-{location_code}",
                    reason=OPENING_BALANCE_REASON,
                )
                self._advance("stock", len(lines))
        self._count("receipt_lines", len(stock.receipts))
        self._count("units_received", sum(r.quantity for r in stock.receipts))
        self._count("units_on_hand", sum(r.quantity for r in stock.receipts))
        self._count("serial_numbers", sum(len(r.serials) for r in stock.receipts))

    def history_stock(self, today: date) -> None:
        """Instead of ``stock``: two years of orders generated, and the stock ledger that goes
        with them written in bulk; it ends at the same balances and serials as ``stock``."""
        plan = self.plan
        orders = build_order_history(plan.seed, plan.catalog, plan.network, plan.stock, today)
        self._advance("generate")
        ledger = build_stock_history(orders, plan.catalog, plan.network, plan.stock)
        self._advance("generate")
        self.order_history = orders
        self._total("stock", len(ledger.movements) + len(ledger.serials) + len(plan.stock.transfers))
        self._total("orders", len(orders.orders))
        counts = history_loader.write_stock_history(self.session, ledger, lambda n: self._advance("stock", n))
        for key, n in counts.items():
            self._count(key, n)
        # What the operator's opening receipts would have been: the stock the demo starts with.
        self._count("receipt_lines", len(plan.stock.receipts))
        self._count("units_on_hand", sum(r.quantity for r in plan.stock.receipts))
        self._count("serial_numbers", sum(len(r.serials) for r in plan.stock.receipts))
        self._count("history_returns_scrapped", ledger.returns_scrapped)

    def history_orders(self) -> None:
        assert self.order_history is not None, "history_stock first"
        counts = history_loader.write_order_history(
            self.session, self.order_history, lambda n: self._advance("orders", n)
        )
        for key, n in counts.items():
            self._count(f"history_{key}", n)

    def members(self, stitching: member_loader.BackgroundStitch | None = None) -> None:
        """The people behind the orders as members: their records on every channel stitched into
        one identity graph, and what hangs on it (see ``member_loader``)."""
        assert self.order_history is not None, "history_stock first"
        load = member_loader.load_members(
            self.session,
            ACTOR,
            self.plan,
            self.order_history,
            password=self.password,
            now=utcnow(),
            advance=lambda n: self._advance("members", n),
            stitched=stitching,
        )
        for key, n in load.counts().items():
            self._count(key, n)

    def live_orders(self) -> None:
        assert self.order_history is not None, "history_stock first"
        live = live_orders.LiveOrders(self.session, ACTOR, self.plan, self.order_history, utcnow())
        result = live.run(live_orders.scenario_counts(self.plan.scale), lambda n: self._advance("live", n))
        self._count("live_orders", result.total)
        self._count("live_orders_failed", len(result.failed))
        for problem in result.failed[:5]:
            self.out.print(f"[yellow]demo: a live order was left out: {problem}[/yellow]")

    def service(self) -> None:
        """The knowledge base published, the channels' settings and six weeks of conversations
        played through the bot (see ``service_loader``)."""
        load = service_loader.load_service(
            self.session,
            ACTOR,
            seed=self.plan.seed,
            scale=self.plan.scale,
            now=utcnow(),
            advance=lambda n: self._advance("service", n),
            total=lambda n: self._total("service", n),
        )
        for key, n in load.counts().items():
            self._count(key, n)
        for problem in load.failed[:5]:
            self.out.print(f"[yellow]demo: a conversation was left out: {problem}[/yellow]")

    def touchpoints(self, today: date) -> None:
        """The touchpoint registry and the last months of its events, heartbeats and rejections,
        consistent with the orders and members (see ``touchpoint_loader``)."""
        assert self.order_history is not None, "history_stock first"
        load = touchpoint_loader.load_touchpoints(
            self.session,
            ACTOR,
            self.plan,
            self.order_history,
            today=today,
            now=utcnow(),
            advance=lambda n: self._advance("touchpoints", n),
        )
        self.counts |= load.counts
        self.touchpoint_key, self.touchpoint_key_code = load.api_key, load.api_key_touchpoint

    def safety_stock(self) -> None:
        """Before the receipts: setting a safety stock creates the balance row, so that the
        receipt that follows updates it in one statement instead of three."""
        s, stock = self.session, self.plan.stock
        for line in stock.safety_stock:
            inventory_service.set_safety_stock(
                s, ACTOR, location_code=line.location_code, sku_code=line.sku_code, quantity=line.quantity
            )
            self._advance("safety")
        self._count("safety_stock_lines", len(stock.safety_stock))
        for rule in stock.channel_safety:
            inventory_service.set_channel_safety_stock(
                s,
                ACTOR,
                location_code=rule.location_code,
                channel_code=rule.channel_code,
                sku_code=rule.sku_code,
                quantity=rule.quantity,
            )
            self._advance("safety")
        self._count("channel_safety_rules", len(stock.channel_safety))

    def transfers(self) -> None:
        s, stock = self.session, self.plan.stock
        for t in stock.transfers:
            created = inventory_service.create_transfer(
                s,
                ACTOR,
                source_location_code=t.source_code,
                dest_location_code=t.dest_code,
                lines=[
                    StockLineIn(sku_code=ln.sku_code, quantity=ln.quantity, serials=list(ln.serials)) for ln in t.lines
                ],
                note=t.note,
            )
            if t.status in ("shipped", "received"):
                inventory_service.ship_transfer(s, ACTOR, created.code)
            if t.status == "received":
                inventory_service.receive_transfer(s, ACTOR, created.code)
            self._count(f"transfers_{t.status}")
            self._advance("stock")
        self._count("transfers", len(stock.transfers))


def _reference_steps(catalog: CatalogPlan, network: NetworkPlan) -> int:
    return (
        len(network.channels)
        + len(catalog.brands)
        + len(catalog.categories)
        + len(catalog.attributes)
        + len(network.locations)
        + len(network.users)
        + len(network.api_keys)
    )


def _category_codes(nodes: list[CategoryNode]) -> set[str]:
    codes: set[str] = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        codes.add(node.code)
        stack.extend(node.children)
    return codes


# ---------------------------------------------------------------- credentials


def credentials_text(summary: DemoSummary) -> str:
    lines = [
        "# Zhongtai demo credentials, written by `zhongtai demo load`",
        f"# seed {summary.seed}, scale {summary.scale}, loaded {utcnow():%Y-%m-%d %H:%M} UTC",
        "# Console: http://127.0.0.1:8000/ (sign in with a username below)",
        "",
        f"{'username':<12} {'password':<12} {'role':<14} stores",
    ]
    for u in summary.users:
        password = summary.password if u.created else "(unchanged)"
        lines.append(f"{u.username:<12} {password:<12} {u.role:<14} {' '.join(u.store_codes)}".rstrip())
    lines += [
        "",
        "# Integrator API key (Authorization: Bearer <key>). It is shown once; revoke it in the",
        "# console or with the API when you are done.",
        f"ZHONGTAI_DEMO_API_KEY={summary.api_key or ''}",
        "",
    ]
    if summary.touchpoint_key:
        lines += [
            f"# Touchpoint key of {summary.touchpoint_key_code}: POST /api/v1/events and heartbeats",
            f"ZHONGTAI_DEMO_TOUCHPOINT_KEY={summary.touchpoint_key}",
            "",
        ]
    return "\n".join(lines)


def write_credentials(summary: DemoSummary, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Owner-only from the first byte: the file holds a live API key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(credentials_text(summary))
    path.chmod(0o600)


def print_summary(out: Console, summary: DemoSummary) -> None:
    c = summary.counts
    out.print(
        f"[green]demo loaded[/green] (seed {summary.seed}, {summary.scale}) in {summary.seconds:.1f} s: "
        f"{c.get('skus', 0)} SKUs in {c.get('spus', 0)} products, {c.get('locations_store', 0)} stores, "
        f"{c.get('locations', 0)} locations, {c.get('units_on_hand', 0):,} units "
        f"({c.get('serial_numbers', 0):,} serial numbers), {c.get('transfers', 0)} transfers, "
        f"{c.get('below_safety_stock', 0)} lines below safety stock"
    )
    if c.get("history_orders"):
        out.print(
            f"order history: {c['history_orders']:,} orders ({c.get('history_order_lines', 0):,} lines, "
            f"{c.get('history_returns', 0):,} returns) over two years, "
            f"{c.get('history_movements', 0):,} stock movements"
        )
    if c.get("members"):
        out.print(
            f"members (OneID): {c.get('member_records', 0):,} records from every channel "
            f"({c.get('member_sightings', 0):,} sightings with the orders' buyers) stitched into "
            f"{c['members']:,} members ({c.get('members_merged', 0):,} merged by the matcher), "
            f"{c.get('member_identifiers', 0):,} identifiers, "
            f"{c.get('member_identifiers_quarantined', 0)} quarantined (store phones), "
            f"{c.get('member_review_pairs', 0):,} pairs for review ({c.get('member_review_queued', 0):,} queued); "
            f"{c.get('member_orders_linked', 0):,} orders linked, {c.get('member_points_entries', 0):,} points "
            f"entries, {c.get('guides_created', 0)} guides created"
        )
    if c.get("service_conversations"):
        out.print(
            f"customer service: knowledge base v{c.get('service_kb_version', 0)} "
            f"({c.get('service_subintents', 0)} sub-intents), {c['service_conversations']:,} conversations "
            f"({c.get('service_messages', 0):,} messages): {c.get('service_self_resolved', 0):,} resolved by the bot, "
            f"{c.get('service_agent_closed', 0):,} by agents, {c.get('service_abandoned', 0):,} abandoned, "
            f"{c.get('service_queued', 0)} waiting in the queue, {c.get('service_rated', 0):,} rated"
        )
    if c.get("touchpoints"):
        out.print(
            f"touchpoints: {c['touchpoints']} registered ({c.get('touchpoints_planned', 0)} planned), "
            f"{c.get('touchpoint_events', 0):,} events over {touchpoint_data.WINDOW_DAYS} days "
            f"({c.get('touchpoint_member_events', 0):,} attributed to members), "
            f"{c.get('touchpoint_heartbeats', 0):,} heartbeats, {c.get('touchpoint_rejections', 0):,} rejected; "
            f"lake: {c.get('lake_events', 0):,} events, {c.get('lake_sales', 0):,} sales lines"
        )
    table = Table(title="演示账号 demo users", show_lines=False)
    for column in ("username", "password", "role", "stores"):
        table.add_column(column)
    for u in summary.users:
        table.add_row(u.username, summary.password if u.created else "(unchanged)", u.role, " ".join(u.store_codes))
    out.print(table)
    out.print(f"integrator API key: [bold]{summary.api_key}[/bold]")
    if summary.touchpoint_key:
        out.print(f"touchpoint API key ({summary.touchpoint_key_code}): [bold]{summary.touchpoint_key}[/bold]")
    out.print(f"saved to {summary.credentials_path}")
