"""The demo loader against a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import io
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy.orm import Session

from zhongtai.auth import service as auth_service
from zhongtai.catalog import service as catalog_service
from zhongtai.channels import service as channel_service
from zhongtai.db import Database
from zhongtai.demo.loader import ACTOR, DemoNotEmpty, DemoRefused, DemoSummary, load_demo
from zhongtai.demo.plan import DemoPlan, build_demo_plan
from zhongtai.inventory import service as inventory_service
from zhongtai.inventory.schemas import LocationIn
from zhongtai.settings import Settings

SEED = 7
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def load(db: Database, settings: Settings, path: Path, *, if_empty: bool = False) -> tuple[DemoSummary, str]:
    buffer = io.StringIO()
    summary = load_demo(
        db,
        seed=SEED,
        scale="small",
        if_empty=if_empty,
        console=Console(file=buffer, width=120),
        settings=settings,
        credentials_path=path,
    )
    return summary, buffer.getvalue()


def all_balances(session: Session, plan: DemoPlan) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(sku, location) -> (on hand, in transit, safety stock), read through the inventory service."""
    out = {}
    for loc in plan.network.locations:
        cursor = None
        while True:
            page = inventory_service.location_stock(session, ACTOR, loc.code, cursor=cursor, limit=200)
            for b in page.items:
                out[(b.sku_code, b.location_code)] = (b.on_hand, b.in_transit, b.safety_stock)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    return out


def todays_order_moves(session: Session, since: datetime) -> dict[tuple[str, str], int]:
    """(sku, location) -> on-hand change from today's live orders (sales and returns since
    ``since``) and the demo's sample purchase orders received today (receipts referencing a PO);
    the two years of history end before today, at the stock plan."""
    out: dict[tuple[str, str], int] = {}
    for kind in ("sale", "return", "receipt"):
        cursor = None
        while True:
            page = inventory_service.list_movements(session, ACTOR, type=kind, since=since, cursor=cursor, limit=200)
            for m in page.items:
                if kind == "receipt" and not (m.reference_id or "").startswith("PO"):
                    continue
                key = (m.sku_code, m.location_code)
                out[key] = out.get(key, 0) + m.on_hand_delta
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    return out


def fingerprint(session: Session) -> tuple[int, int, int, int]:
    return (
        catalog_service.count_skus(session),
        len(inventory_service.list_locations(session, ACTOR, limit=500).items),
        inventory_service.stock_summary(session, ACTOR).on_hand_units,
        auth_service.audit_since(session, EPOCH),
    )


def test_small_demo_loads_consistently_and_only_once(db: Database, settings: Settings, tmp_path: Path) -> None:
    # given an empty database and the small plan for the seed
    plan = build_demo_plan(SEED, "small")
    credentials = tmp_path / "var" / "demo-credentials.txt"

    # when the demo is loaded
    started = datetime.now(UTC)
    summary, printed = load(db, settings, credentials)

    # then everything in the plan is there, counted by the services themselves
    assert summary.loaded
    with db.transaction(write=False) as s:
        assert catalog_service.count_skus(s) == len(plan.catalog.skus)
        assert catalog_service.count_skus(s, lifecycle="draft") == sum(
            1 for k in plan.catalog.skus if k.lifecycle == "draft"
        )
        assert len(channel_service.list_channels(s)) == 6
        locations = inventory_service.list_locations(s, ACTOR, limit=500).items
        assert len(locations) == len(plan.network.locations)
        assert sum(1 for loc in locations if loc.type == "store") == len(plan.network.stores)
        users = auth_service.list_users(s, cursor=None, limit=200).items
        planned = {u.username for u in plan.network.users}
        assert planned <= {u.username for u in users}
        # Beyond the plan's users: the stores' shopping guides the member demo binds members to.
        assert {u.role for u in users if u.username not in planned} <= {"guide"}

        # stock: balances equal the ledger, and equal what the plan meant (give or take what
        # today's live orders shipped or took back)
        assert inventory_service.check_ledger(s) == []
        balances = all_balances(s, plan)
        live = todays_order_moves(s, started)
        assert live
        expected_on_hand = plan.stock.expected_on_hand()
        for key in expected_on_hand.keys() | live.keys():
            assert balances.get(key, (0, 0, 0))[0] == expected_on_hand.get(key, 0) + live.get(key, 0), key
        for line in plan.stock.safety_stock:
            assert balances[(line.sku_code, line.location_code)][2] == line.quantity
        shipped = [t for t in plan.stock.transfers if t.status == "shipped"]
        assert shipped
        for t in shipped:
            for tl in t.lines:
                assert balances[(tl.sku_code, t.dest_code)][1] >= tl.quantity
                for serial in tl.serials:
                    (unit,) = inventory_service.find_serial(s, ACTOR, serial)
                    assert (unit.state, unit.location_code) == ("in_transit", t.dest_code)
        summary_figures = inventory_service.stock_summary(s, ACTOR)
        assert summary_figures.below_safety_count == summary.counts["below_safety_stock"] > 0
        assert summary_figures.on_hand_units == sum(expected_on_hand.values()) + sum(live.values())

        # the printed and saved credentials work
        assert summary.api_key is not None
        integrator = auth_service.principal_from_api_key(s, summary.api_key)
        assert integrator is not None
        assert integrator.role == "integrator"
        manager = auth_service.login(s, "manager_sh", settings.demo_password, max_age_s=60)
        assert manager is not None
        ids = inventory_service.location_ids_by_codes(s, ["S-SH01", "S-SH02"])
        assert manager.principal.store_ids == frozenset(ids.values())
        s.rollback()  # the login wrote a session; keep the fingerprint below about the demo
    assert summary.api_key in printed
    assert "manager_sh" in printed
    text = credentials.read_text(encoding="utf-8")
    assert summary.api_key in text
    assert settings.demo_password in text
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600

    # when it is loaded again with --if-empty, then nothing changes
    with db.transaction(write=False) as s:
        before = fingerprint(s)
    again, printed_again = load(db, settings, tmp_path / "second.txt", if_empty=True)
    assert not again.loaded
    assert "nothing loaded" in printed_again
    assert not (tmp_path / "second.txt").exists()
    with db.transaction(write=False) as s:
        assert fingerprint(s) == before


def test_a_database_with_locations_is_not_loaded_into(db: Database, settings: Settings, tmp_path: Path) -> None:
    # given a database where an operator already created a location
    with db.transaction() as s:
        inventory_service.create_location(s, ACTOR, LocationIn(code="MY-DC", name="自有仓", type="central_dc"))
        before = fingerprint(s)

    # when the demo is loaded without --if-empty, then it refuses and writes nothing
    with pytest.raises(DemoNotEmpty):
        load(db, settings, tmp_path / "c.txt")
    # and with --if-empty it quietly does nothing
    summary, _ = load(db, settings, tmp_path / "c.txt", if_empty=True)
    assert not summary.loaded
    with db.transaction(write=False) as s:
        assert fingerprint(s) == before
    assert not (tmp_path / "c.txt").exists()


def test_production_refuses_the_demo(db: Database, tmp_path: Path) -> None:
    production = Settings(env="production", secret_key="x" * 40, database_url="postgresql://u@db/zt")
    with pytest.raises(DemoRefused):
        load_demo(db, seed=SEED, scale="small", if_empty=True, console=None, settings=production)
    with db.transaction(write=False) as s:
        assert fingerprint(s) == (0, 0, 0, 0)
