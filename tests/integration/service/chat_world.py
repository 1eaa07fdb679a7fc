"""A small retailer for the dialogue tests: the order tests' world (DCs, stores, channels web / jd /
tmall / pos, phones and a case) plus what customer service needs: phone parameters (screen,
battery, warranty), the case as the phones' accessory, serial-tracked stock with realistic
serials, two members (one VIP) and orders in every state, and the real knowledge-base packs
loaded and published.

Publishing trains the classifier (seconds); the first test of a process publishes through
``kb.publish`` and later ones reuse that version's snapshot and model bytes (the same packs and
the same catalog give the same model), inserted as the version row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from tests.factories import SYSTEM, receive
from tests.integration.orders.world import build, web_order
from zhongtai.db import Database, utcnow
from zhongtai.members.identifiers import IdentifierIn, IdKind
from zhongtai.orders.schemas import PickIn, PickLineIn, ShipIn

SERIALS = ["C02XK1ABJG5H", "F17ZQ8MNP2KD", "G5TW9A3CXB12"]
ALICE_PHONE = "13912345678"
BOB_PHONE = "13698761234"
ANON_PHONE = "13800138000"  # web_order's buyer

_published: dict[str, Any] = {}


@dataclass
class ChatWorld:
    alice: int  # member, orders below
    bob: int  # VIP member (tier "gold"), no orders
    orders: dict[str, str] = field(default_factory=dict)  # name -> order number


def _intake(db: Database, channel: str, body: dict[str, Any]) -> str:
    from zhongtai.orders import service as orders

    with db.transaction() as s:
        order = orders.intake(s, SYSTEM, channel, body).out.order
        assert order is not None
        return order.number


def _ship(
    db: Database,
    number: str,
    *,
    carrier: str = "SF",
    tracking: str = "SF1234567890",
    serials: list[str] | None = None,
    deliver: bool = False,
    days_ago: int = 0,
) -> None:
    from zhongtai.orders import service as orders
    from zhongtai.orders.models import Fulfilment, Order

    with db.transaction() as s:
        order = orders.get_order(s, SYSTEM, number)
        f = order.fulfilments[0]
        pick = PickIn(lines=[PickLineIn(line_no=1, serials=serials)]) if serials else PickIn()
        orders.start_picking(s, SYSTEM, f.number, pick)
        orders.ship(s, SYSTEM, f.number, ShipIn(carrier=carrier, tracking_no=tracking))
        if deliver:
            orders.deliver(s, SYSTEM, f.number)
        if days_ago:
            # Back-date the shipment (tests of ETAs, return windows, warranties and care messages).
            at = utcnow() - timedelta(days=days_ago)
            s.flush()
            s.execute(
                update(Fulfilment)
                .where(Fulfilment.number == f.number)
                .values(shipped_at=at, delivered_at=at if deliver else None)
            )
            values: dict[str, Any] = {"shipped_at": at}
            if deliver:
                values["delivered_at"] = at
            s.execute(update(Order).where(Order.number == number).values(**values))


def build_chat_world(db: Database, *, publish: bool = True) -> ChatWorld:
    from zhongtai.catalog import service as catalog
    from zhongtai.members import identity
    from zhongtai.members.models import Member
    from zhongtai.orders import service as orders

    build(db)
    with db.transaction() as s:
        catalog.define_attribute(
            s, SYSTEM, code="battery", name="电池容量", kind="number", unit="mAh", name_en="Battery"
        )
        catalog.define_attribute(s, SYSTEM, code="warranty_months", name="保修期", kind="number", unit="月")
        catalog.update_spu(s, SYSTEM, "P1", {"parameters": {"screen_size": 6.1, "battery": 4500}})
        catalog.update_spu(
            s, SYSTEM, "P2", {"parameters": {"screen_size": 6.7, "battery": 5000, "warranty_months": 24}}
        )
        catalog.set_sku_links(s, SYSTEM, "P1-BLK", accessories=["CASE-1"], related=[])
    receive(db, "S-SH-01", "P1-SN", 3, serials=SERIALS)
    with db.transaction() as s:
        alice = identity.enrol(
            s, SYSTEM, phone=IdentifierIn(IdKind.PHONE, "+86" + ALICE_PHONE), channel_code="web", name="王丽"
        ).member.id
        bob = identity.enrol(
            s, SYSTEM, phone=IdentifierIn(IdKind.PHONE, "+86" + BOB_PHONE), channel_code="web", name="赵强"
        ).member.id
        s.execute(update(Member).where(Member.id == bob).values(tier="gold"))
    world = ChatWorld(alice=alice, bob=bob)
    alice_buyer = {"buyer": {"phone": ALICE_PHONE, "name": "王丽"}}
    world.orders["routed"] = _intake(db, "web", web_order("A1", ("P1-BLK", 1), **alice_buyer))
    world.orders["shipped"] = _intake(db, "web", web_order("A2", ("P1-BLK", 1), **alice_buyer))
    _ship(db, world.orders["shipped"], days_ago=1)
    world.orders["delivered"] = _intake(db, "web", web_order("A3", ("P1-BLK", 2), ("CASE-1", 1), **alice_buyer))
    _ship(db, world.orders["delivered"], deliver=True, days_ago=2)
    world.orders["serial"] = _intake(db, "web", web_order("A4", ("P1-SN", 1), **alice_buyer))
    _ship(db, world.orders["serial"], serials=[SERIALS[0]], deliver=True, days_ago=400)
    # An anonymous buyer's order (phone 13800138000) and one of another member's.
    world.orders["anon"] = _intake(db, "web", web_order("B1", ("CASE-1", 1)))
    with db.transaction() as s:
        orders.assign_members(s, {world.orders[k]: alice for k in ("routed", "shipped", "delivered", "serial")})
    if publish:
        publish_kb(db)
    return world


def publish_kb(db: Database) -> None:
    """The shipped packs into the draft and a published version (see the module docstring)."""
    from zhongtai.service import kb
    from zhongtai.service.models import ServiceKbVersion

    with db.transaction() as s:
        kb.load_packs(s, SYSTEM)
        if not _published:
            out = kb.publish(s, SYSTEM, note="tests")
            s.flush()
            row = s.query(ServiceKbVersion).filter_by(version=out.version).one()
            _published.update(snapshot=row.snapshot, model=row.model, subintents=row.subintents, examples=row.examples)
        else:
            s.add(
                ServiceKbVersion(
                    version=1,
                    snapshot=_published["snapshot"],
                    model=_published["model"],
                    subintents=_published["subintents"],
                    examples=_published["examples"],
                    note="tests (reused)",
                    published_by="tests",
                )
            )
