"""The closed loop: forecast -> suggestion -> approved PO -> receipt -> stock up, with the audit
trail; suggestions equal the policy's own numbers; allocation when the DC is short; auto-approval;
over-receipt refused with nothing written."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import select

from tests.factories import SYSTEM
from tests.integration.replenishment.conftest import World, record_flat_forecast
from zhongtai.auth.models import AuditEntry
from zhongtai.db import Database
from zhongtai.inventory import service as inventory
from zhongtai.replenishment import service
from zhongtai.replenishment.errors import OverReceipt
from zhongtai.replenishment.policy import DemandForecast, PolicyParams, StockPosition, suggest
from zhongtai.replenishment.schemas import POFromSuggestionsIn, ReceiveIn, ReceiveLineIn, SuggestionOut, SupplierTermsIn

Z90 = 1.2815515655446004


def _on_hand(db: Database, location: str, sku: str) -> int:
    with db.transaction(write=False) as s:
        page = inventory.location_stock(s, SYSTEM, location, limit=500)
    return next((b.on_hand for b in page.items if b.sku_code == sku), 0)


def _suggestions(db: Database, kind: str) -> list[SuggestionOut]:
    with db.transaction(write=False) as s:
        return service.list_suggestions(s, SYSTEM, kind=kind, limit=500).items


def _run(db: Database) -> service.RunResult:
    with db.transaction() as s:
        return service.run_suggestions(s, SYSTEM)


def test_forecast_to_suggestion_to_po_to_receipt_raises_stock_with_an_audit_trail(db: Database, world: World) -> None:
    # Given a forecast of CASE at both stores (3/day and 2/day) and nothing for the DC itself
    record_flat_forecast(
        db,
        world.first_day,
        {(world.sku_case, world.store_a): (3.0, 1.0, 5.0), (world.sku_case, world.store_b): (2.0, 1.0, 3.0)},
    )
    # When the suggestion run goes
    result = _run(db)
    # Then each store gets a transfer suggestion from its DC equal to the policy's own answer
    store_params = PolicyParams(review_period_days=7, service_level=0.95, lead_time_days=2.0, lead_time_sd_days=0.5)
    expected_a = suggest(StockPosition(5), DemandForecast.flat(3.0, 9, (5.0 - 1.0) / (2 * Z90)), store_params)
    transfers = {s.location_code: s for s in _suggestions(db, kind="transfer")}
    assert set(transfers) == {"S-A", "S-B"}
    a = transfers["S-A"]
    assert (a.quantity, a.order_up_to, a.safety_stock, a.on_hand) == (
        expected_a.quantity,
        expected_a.order_up_to,
        expected_a.safety_stock,
        5,
    )
    assert a.source_code == "RDC-1"
    assert a.status == "proposed"
    assert [r["code"] for r in a.reasons][:1] == ["forecast"]
    # and the DC gets a purchase suggestion over its stores' demand (variances add), with the
    # supplier's lead time, MOQ and case pack
    sd = math.sqrt(((5.0 - 1.0) / (2 * Z90)) ** 2 + ((3.0 - 1.0) / (2 * Z90)) ** 2)
    dc_forecast = DemandForecast((5.0,) * 17, (5.0 - Z90 * sd,) * 17, (5.0 + Z90 * sd,) * 17)
    dc_params = PolicyParams(review_period_days=7, lead_time_days=10.0, lead_time_sd_days=2.0, moq=20, case_pack=12)
    expected_dc = suggest(StockPosition(100), dc_forecast, dc_params)
    (purchase,) = _suggestions(db, kind="purchase")
    assert purchase.location_code == "RDC-1"
    assert purchase.source_code == "SUP-1"
    assert (purchase.quantity, purchase.order_up_to, purchase.safety_stock) == (
        expected_dc.quantity,
        expected_dc.order_up_to,
        expected_dc.safety_stock,
    )
    assert purchase.quantity % 12 == 0
    assert purchase.quantity >= 20
    assert result.counts["suggestions"] == 3

    # When a planner approves it, orders it, approves and sends the PO and the goods arrive
    with db.transaction() as s:
        service.approve_suggestion(s, SYSTEM, purchase.id)
    with db.transaction() as s:
        (po,) = service.create_purchase_orders(s, SYSTEM, POFromSuggestionsIn())
    assert po.status == "draft"
    assert po.units == purchase.quantity
    assert po.total_fen == purchase.quantity * 1_500
    with db.transaction() as s:
        service.approve_purchase_order(s, SYSTEM, po.number)
        service.send_purchase_order(s, SYSTEM, po.number)
    with db.transaction() as s:
        out = service.receive_purchase_order(
            s, SYSTEM, po.number, ReceiveIn(lines=[ReceiveLineIn(sku_code="CASE", quantity=purchase.quantity)])
        )
    # Then stock is up by exactly that, the PO is received, the movements name the PO
    assert out.status == "received"
    assert out.received_fen == po.total_fen
    assert _on_hand(db, "RDC-1", "CASE") == 100 + purchase.quantity
    with db.transaction(write=False) as s:
        moves = inventory.list_movements(s, SYSTEM, reference=po.number).items
        assert [(m.type, m.on_hand_delta, m.location_code) for m in moves] == [("receipt", purchase.quantity, "RDC-1")]
        assert out.receipts[0].movement_ids == [m.id for m in moves]
        # and every step left an audit row
        actions = set(s.scalars(select(AuditEntry.action)))
        assert {
            "replenishment.suggest.start",
            "replenishment.suggest.finish",
            "suggestion.approve",
            "purchase_order.create",
            "purchase_order.add_suggestions",
            "purchase_order.approve",
            "purchase_order.send",
            "purchase_order.receive",
            "stock.receive",
        } <= actions
        assert inventory.check_ledger(s) == []
    # and the suggestion is ordered on that PO
    with db.transaction(write=False) as s:
        again = service.get_suggestion(s, SYSTEM, purchase.id)
    assert again.status == "ordered"
    assert again.purchase_order_number == po.number

    # When the run goes again, the open PO no longer counts as a need: it is stock received now
    _run(db)
    with db.transaction(write=False) as s:
        old = service.get_suggestion(s, SYSTEM, transfers["S-B"].id)
    assert old.status == "superseded"


def test_a_short_dc_allocates_by_need_and_approval_makes_an_allocation_transfer(db: Database, world: World) -> None:
    # Given stores that need far more than the DC's 100 units
    record_flat_forecast(
        db,
        world.first_day,
        {(world.sku_case, world.store_a): (20.0, 18.0, 22.0), (world.sku_case, world.store_b): (10.0, 9.0, 11.0)},
    )
    # When the run goes
    _run(db)
    # Then the two transfer suggestions share exactly the DC's 100 units, in proportion to need
    rows = {s.location_code: s for s in _suggestions(db, kind="transfer")}
    assert sum(r.quantity for r in rows.values()) == 100
    for r in rows.values():
        assert r.quantity < r.needed_quantity
        assert r.reasons[-1]["code"] == "allocation"
        assert r.reasons[-1]["dc_available"] == 100
    share_a = rows["S-A"].needed_quantity * 100 / (rows["S-A"].needed_quantity + rows["S-B"].needed_quantity)
    assert abs(rows["S-A"].quantity - share_a) <= 1
    # When S-A's suggestion is approved
    with db.transaction() as s:
        out = service.approve_suggestion(s, SYSTEM, rows["S-A"].id)
    # Then a draft inventory transfer DC -> S-A exists with a link saying it was an allocation
    assert out.status == "ordered"
    assert out.transfer_code
    with db.transaction(write=False) as s:
        t = inventory.get_transfer(s, SYSTEM, out.transfer_code)
        links = service.list_transfer_links(s, SYSTEM).items
    assert (t.source_location_code, t.dest_location_code, t.status) == ("RDC-1", "S-A", "draft")
    assert t.lines[0].quantity == rows["S-A"].quantity
    assert [(lk.transfer_code, lk.kind) for lk in links] == [(out.transfer_code, "allocation")]


def test_auto_approval_rules() -> None:
    # value rule alone
    assert (
        service.auto_rule(
            value_fen=900, quantity=10, last_quantity=None, max_fen=1000, max_change_pct=None, supplier_opt_in=False
        )
        == "value_and_change"
    )
    assert (
        service.auto_rule(
            value_fen=1100, quantity=10, last_quantity=None, max_fen=1000, max_change_pct=None, supplier_opt_in=False
        )
        == ""
    )
    # value and change: a first order, or a jump, goes to a person
    assert (
        service.auto_rule(
            value_fen=900, quantity=10, last_quantity=None, max_fen=1000, max_change_pct=20, supplier_opt_in=False
        )
        == ""
    )
    assert (
        service.auto_rule(
            value_fen=900, quantity=12, last_quantity=10, max_fen=1000, max_change_pct=20, supplier_opt_in=False
        )
        == "value_and_change"
    )
    assert (
        service.auto_rule(
            value_fen=900, quantity=13, last_quantity=10, max_fen=1000, max_change_pct=20, supplier_opt_in=False
        )
        == ""
    )
    # vendor-managed terms approve whatever the value
    assert (
        service.auto_rule(
            value_fen=10**9, quantity=1, last_quantity=None, max_fen=None, max_change_pct=None, supplier_opt_in=True
        )
        == "supplier_opt_in"
    )


def test_supplier_opt_in_auto_approves_into_an_approved_po(db: Database, world: World) -> None:
    # Given vendor-managed terms for CASE and store demand
    with db.transaction() as s:
        service.set_supplier_terms(
            s,
            SYSTEM,
            SupplierTermsIn(
                supplier_code="SUP-1",
                sku_code="CASE",
                lead_time_days=10,
                moq=20,
                case_pack=12,
                unit_cost_fen=1_500,
                preferred=True,
                auto_approve=True,
            ),
        )
    record_flat_forecast(db, world.first_day, {(world.sku_case, world.store_a): (6.0, 4.0, 8.0)})
    # When the run goes
    result = _run(db)
    # Then the DC's purchase suggestion is approved by the rule and already on an approved PO
    (purchase,) = _suggestions(db, kind="purchase")
    assert (purchase.status, purchase.auto_rule) == ("ordered", "supplier_opt_in")
    assert purchase.purchase_order_number is not None
    with db.transaction(write=False) as s:
        po = service.get_purchase_order(s, SYSTEM, purchase.purchase_order_number)
    assert po.status == "approved"
    assert po.approved_by == "auto:supplier_opt_in"
    assert result.counts["purchase_orders"] == 1
    assert result.counts["auto_approved"] == 1
    # and the store transfer, with no rule in its policy, waits for a person
    (transfer,) = _suggestions(db, kind="transfer")
    assert transfer.status == "proposed"


def test_over_receipt_is_refused_naming_each_line_and_nothing_is_written(db: Database, world: World) -> None:
    # Given a sent PO for 24 CASE
    from zhongtai.replenishment.schemas import POIn, POLineIn

    with db.transaction() as s:
        po = service.create_purchase_order(
            s,
            SYSTEM,
            POIn(supplier_code="SUP-1", dest_location_code="RDC-1", lines=[POLineIn(sku_code="CASE", quantity=24)]),
        )
        service.approve_purchase_order(s, SYSTEM, po.number)
        service.send_purchase_order(s, SYSTEM, po.number)
    with db.transaction() as s:
        service.receive_purchase_order(
            s, SYSTEM, po.number, ReceiveIn(lines=[ReceiveLineIn(sku_code="CASE", quantity=10)])
        )
    # When 20 more arrive (only 14 are still expected)
    with pytest.raises(OverReceipt) as caught, db.transaction() as s:
        service.receive_purchase_order(
            s, SYSTEM, po.number, ReceiveIn(lines=[ReceiveLineIn(sku_code="CASE", quantity=20)])
        )
    # Then the error names the line, and stock and the PO are as before
    assert [(e.field, e.code) for e in caught.value.errors] == [("body.lines.0.quantity", "over_receipt")]
    assert _on_hand(db, "RDC-1", "CASE") == 110
    with db.transaction(write=False) as s:
        out = service.get_purchase_order(s, SYSTEM, po.number)
    assert out.status == "partially_received"
    assert out.received_units == 10
    assert len(out.receipts) == 1


def test_a_serial_tracked_sku_is_received_with_its_serials(db: Database, world: World) -> None:
    from zhongtai.replenishment.schemas import POIn, POLineIn

    with db.transaction() as s:
        po = service.create_purchase_order(
            s,
            SYSTEM,
            POIn(supplier_code="SUP-1", dest_location_code="S-A", lines=[POLineIn(sku_code="PHONE", quantity=2)]),
        )
        service.approve_purchase_order(s, SYSTEM, po.number)
        service.send_purchase_order(s, SYSTEM, po.number)
    line = ReceiveLineIn(sku_code="PHONE", quantity=2, serials=["IMEI-1", "IMEI-2"])
    with db.transaction() as s:
        out = service.receive_purchase_order(s, SYSTEM, po.number, ReceiveIn(lines=[line]))
    assert out.status == "received"
    assert out.receipts[0].lines[0].serials == ["IMEI-1", "IMEI-2"]
    assert _on_hand(db, "S-A", "PHONE") == 2
