"""The demo's replenishment set-up, through the replenishment service as a planner would key it in.

* Supplier terms for every demo SKU: home appliances from SUP-YQFS, accessories from SUP-SNSZ,
  phones and computers from SUP-YQDG; lead times 5-21 days with a
  10-30 % standard deviation, MOQ and case pack by unit cost (cheap goods come in cases of 12 or 24).
  Drawn from the demo seed, so the same seed gives the same terms.
* Default policies: stores review weekly at 95 %, auto-approving transfers worth up to 2,000 yuan
  within 25 % of the last approved quantity; DCs review weekly at 97 %.
* A suggestion run over whatever forecast is in place (the forecasting demo's run, if loaded).
* Three purchase orders to show the states: one sent, one partially received, one received
  (the receipts post ``receipt`` movements, so the ledger stays consistent).
"""

from __future__ import annotations

import random
from decimal import Decimal

from sqlalchemy.orm import Session

from zhongtai.auth.principal import Principal
from zhongtai.demo.catalog_data import SkuSpec
from zhongtai.demo.plan import DemoPlan
from zhongtai.replenishment import service
from zhongtai.replenishment.schemas import POIn, PolicyIn, POLineIn, ReceiveIn, ReceiveLineIn, SupplierTermsIn

APPLIANCES = "SUP-YQFS"
ACCESSORIES = "SUP-SNSZ"
DEVICES = "SUP-YQDG"


APPLIANCE_CATEGORIES = frozenset(
    {"smart_toilet", "smart_toilet_seat", "washer_dryer", "air_purifier", "robot_vacuum", "rice_cooker", "hair_dryer",
     "filter", "vacuum_kit"}
)  # fmt: skip
ACCESSORY_CATEGORIES = frozenset(
    {"phone_case", "screen_protector", "charger", "mouse", "keyboard", "earphones", "laptop_bag", "monitor_stand"}
)


def supplier_for(sku: SkuSpec) -> str:
    if sku.category_code in APPLIANCE_CATEGORIES:
        return APPLIANCES
    if sku.category_code in ACCESSORY_CATEGORIES:
        return ACCESSORIES
    return DEVICES


def terms_for(sku: SkuSpec, rng: random.Random) -> SupplierTermsIn:
    lead = rng.randint(5, 21)
    sd = round(lead * rng.uniform(0.1, 0.3), 1)
    cheap = sku.unit_cost_fen < 20_000  # under 200 yuan: sold by the case
    case_pack = rng.choice((12, 24)) if cheap else (1 if sku.unit_cost_fen > 300_000 else rng.choice((2, 4)))
    moq = case_pack * (2 if cheap else rng.choice((2, 5)))
    return SupplierTermsIn(
        supplier_code=supplier_for(sku),
        sku_code=sku.code,
        lead_time_days=Decimal(lead),
        lead_time_sd_days=Decimal(str(sd)),
        moq=moq,
        case_pack=case_pack,
        unit_cost_fen=sku.unit_cost_fen,
        preferred=True,
    )


def load_replenishment(session: Session, actor: Principal, plan: DemoPlan) -> dict[str, int]:
    rng = random.Random(plan.seed * 7919 + 5)
    skus = [s for s in plan.catalog.skus if s.lifecycle != "draft"]
    for sku in skus:
        service.set_supplier_terms(session, actor, terms_for(sku, rng))
    service.set_policy(
        session,
        actor,
        PolicyIn(
            location_type="store",
            review_period_days=7,
            service_level=Decimal("0.95"),
            auto_approve_max_fen=200_000,
            auto_approve_max_change_pct=25,
        ),
    )
    for dc_type in ("regional_dc", "central_dc"):
        service.set_policy(
            session, actor, PolicyIn(location_type=dc_type, review_period_days=7, service_level=Decimal("0.97"))
        )
    # No suggestion run here: the demo's forecast is queued as a job, and the replenishment
    # schedule runs the suggestions as soon as that forecast has succeeded (the closed loop).
    pos = _sample_orders(session, actor, plan, skus, rng)
    return {"supplier_terms": len(skus), "purchase_orders": pos}


def _sample_orders(session: Session, actor: Principal, plan: DemoPlan, skus: list[SkuSpec], rng: random.Random) -> int:
    """A sent PO, a partially received one and a received one, to the regional DCs."""
    dcs = [loc.code for loc in plan.network.of_type("regional_dc")] or [
        loc.code for loc in plan.network.of_type("central_dc")
    ]
    plain = [s for s in skus if not s.serial_tracked]
    if not dcs or len(plain) < 3:
        return 0
    made = 0
    for i, final in enumerate(("sent", "partially_received", "received")):
        picks = rng.sample(plain, 3)
        supplier = supplier_for(picks[0])
        lines = [
            POLineIn(sku_code=s.code, quantity=rng.choice((24, 48, 96))) for s in picks if supplier_for(s) == supplier
        ]
        po = service.create_purchase_order(
            session,
            actor,
            POIn(supplier_code=supplier, dest_location_code=dcs[i % len(dcs)], lines=lines, note="demo"),
        )
        service.approve_purchase_order(session, actor, po.number)
        service.send_purchase_order(session, actor, po.number)
        if final != "sent":
            half = final == "partially_received"
            received = [
                ReceiveLineIn(sku_code=ln.sku_code, quantity=ln.quantity // 2 if half else ln.quantity) for ln in lines
            ]
            service.receive_purchase_order(session, actor, po.number, ReceiveIn(lines=received, note="demo"))
        made += 1
    return made
