from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.factories import console_login, make_user
from tests.integration.web.seed import Shop, seed_shop
from zhongtai.db import Database


@pytest.fixture
def shop(db: Database) -> Shop:
    return seed_shop(db)


@pytest.fixture
def admin(client: TestClient, db: Database, shop: Shop) -> dict[str, str]:
    """The client, logged in as an admin over a seeded shop; returns the CSRF header."""
    make_user(db, "boss", "admin")
    return console_login(client, "boss")


@pytest.fixture
def manager(client: TestClient, db: Database, shop: Shop) -> dict[str, str]:
    """The client, logged in as the manager of the two Shanghai stores (not Beijing)."""
    make_user(db, "li.na", "store_manager", [shop.store_a, shop.store_b])
    return console_login(client, "li.na")


def csrf_of(headers: dict[str, str]) -> str:
    return headers["X-CSRF-Token"]
