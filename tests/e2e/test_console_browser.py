"""A person in a real browser: log in, find a product, see where it is in stock.

Serves the app (``zhongtai.live_server``) on a free 127.0.0.1 port over a temporary SQLite database
and drives Debian's Chromium through Playwright. Skipped when Chromium is missing, unless
ZHONGTAI_REQUIRE_E2E=1 (CI), where a missing browser is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.factories import PASSWORD, make_user
from tests.integration.web.seed import seed_shop
from zhongtai.db import Base, Database
from zhongtai.live_server import serve_in_subprocess
from zhongtai.models_registry import import_all_models

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.e2e


def _require_browser() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("ZHONGTAI_REQUIRE_E2E") == "1":
        pytest.fail(f"{CHROMIUM} is missing and ZHONGTAI_REQUIRE_E2E=1 (apt-get install -y chromium)")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _require_browser()
    import_all_models()
    path = tmp_path_factory.mktemp("e2e") / "console.db"
    db = Database(f"sqlite:///{path}")
    Base.metadata.create_all(db.engine)
    seed_shop(db)
    make_user(db, "ops.chen", "ops")
    db.dispose()
    with ExitStack() as stack:
        try:
            base = stack.enter_context(serve_in_subprocess(f"sqlite:///{path}", env={"ZHONGTAI_ENV": "test"}))
        except RuntimeError as exc:
            pytest.fail(str(exc))
        yield base


def test_log_in_find_a_sku_and_see_its_stock(served: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="zh-CN")
            # A page behind the login sends the browser to the form, and back after it
            page.goto(f"{served}/catalog")
            expect(page).to_have_url(f"{served}/login?next=%2Fcatalog")
            page.fill("#username", "ops.chen")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{served}/catalog")
            expect(page.locator("h1")).to_have_text("商品中心")
            # Search the catalog and open the phone
            page.fill("#c-q", "X1-BLK")
            page.click("form[role=search] button[type=submit]")
            page.click("#sku-table a:has-text('云启 X1 曜石黑 256GB')")
            expect(page).to_have_url(f"{served}/catalog/skus/X1-BLK-256")
            # Its stock across the network, with totals, and the map
            table = page.locator("#stock-table")
            expect(table).to_be_visible()
            for code, available in (("DC-WH", "120"), ("S-SH01", "8"), ("S-SH02", "3"), ("S-BJ01", "5")):
                expect(table.locator("tr", has_text=code)).to_contain_text(available)
            expect(table.locator("tfoot")).to_contain_text("136")
            expect(page.locator("svg.map-chart")).to_be_visible()
            # Which stores near Nanjing Road have it, nearest first
            page.select_option("#n-from", "S-SH01")
            page.select_option("#n-radius", "10")
            page.click("#near button[type=submit]")
            rows = page.locator("#near table tbody tr")
            expect(rows).to_have_count(2)
            expect(rows.nth(0)).to_contain_text("上海南京东路店")
            # The English switch keeps the page
            page.click(".lang-switch a:has-text('EN')")
            expect(page.locator("#stock")).to_contain_text("Stock by location")
        finally:
            browser.close()
