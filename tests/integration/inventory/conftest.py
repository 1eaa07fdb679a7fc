"""A small network for inventory tests: a DC in Shanghai, two stores, three SKUs, two channels."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import event

from tests.factories import make_catalog_basics, make_catalog_sku, make_catalog_spu, make_location
from zhongtai.db import Database
from zhongtai.inventory import service as inventory


@dataclass
class Net:
    dc: int
    store_a: int
    store_b: int


@pytest.fixture
def net(db: Database) -> Net:
    # Given the catalog basics (channels web and jd), SKUs CASE (plain), PHONE (serial-tracked), TV
    make_catalog_basics(db)
    make_catalog_spu(db, "P1")
    make_catalog_sku(db, "CASE", lifecycle="on_sale")
    make_catalog_sku(db, "PHONE", lifecycle="on_sale", serial_tracked=True)
    make_catalog_sku(db, "TV", lifecycle="on_sale")
    # and a DC plus two stores in Shanghai (People's Square, Lujiazui) with coordinates
    dc = make_location(db, "DC-SH", "central_dc", city="上海", latitude=31.0, longitude=121.2)
    a = make_location(db, "S-A", "store", city="上海", latitude=31.2304, longitude=121.4737, parent_dc_code="DC-SH")
    b = make_location(db, "S-B", "store", city="上海", latitude=31.2397, longitude=121.4998)
    return Net(dc=dc, store_a=a, store_b=b)


def assert_ledger_balanced(db: Database) -> None:
    with db.transaction(write=False) as s:
        assert inventory.check_ledger(s) == []


class QueryCounter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.count = 0

    def __enter__(self) -> QueryCounter:
        event.listen(self.db.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.db.engine, "before_cursor_execute", self._on)

    def _on(self, *args: object) -> None:
        self.count += 1


@pytest.fixture
def act_as(client, db: Database):  # type: ignore[no-untyped-def]
    """``act_as("mgr_a", "store_manager", [store_id])``: the client's API calls run as that user.

    Store-scoped roles are for people (no API keys), so the caller is swapped in through the app's
    principal dependency instead of logging in through the console.
    """
    from tests.factories import make_user
    from zhongtai.auth import service as auth_service
    from zhongtai.http import _principal

    def use(username: str, role: str, store_ids: list[int] | None = None) -> None:
        user_id = make_user(db, username, role, store_ids)
        with db.transaction(write=False) as s:
            principal = auth_service.user_principal(s, auth_service.get_user(s, user_id))
        client.app.dependency_overrides[_principal] = lambda: principal

    yield use
    client.app.dependency_overrides.clear()
