"""Screenshots of every console page, for the docs and for reviewing the look.

    python docs/screenshots.py [var/zhongtai.db] [--out docs/screenshots]

Serves the app (``zhongtai.live_server``, a free 127.0.0.1 port) against a *copy* of the given
SQLite database (or against a database URL as it is), logs in as the admin and as a store manager, and drives
Debian's Chromium through Playwright (``apt-get install chromium fonts-noto-cjk``; never
``playwright install``). One PNG per page lands in the output folder. The run uploads a small
catalog file to show a job page, so it never touches the original SQLite file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
# This checkout's package, whichever one the interpreter has installed.
sys.path.insert(0, str(ROOT / "src"))

from zhongtai.live_server import serve_in_subprocess  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# One good row and two bad ones: the job page then shows its per-row error report.
SAMPLE_IMPORT = (
    "spu_code,spu_name,category_code,sku_code,sku_name,list_price,sale_price\n"
    "SHOT-SPU,截图示例商品,__no_such_category__,SHOT-1,截图示例 SKU,99.00,89.00\n"
    "SHOT-SPU,截图示例商品,__no_such_category__,SHOT-2,截图示例 SKU 2,abc,89.00\n"
)


def shoot(page: Page, out: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def login(page: Page, base: str, username: str, password: str) -> bool:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return not page.url.startswith(f"{base}/login")


def logout(page: Page) -> None:
    page.click("form[action='/logout'] button")
    page.wait_for_load_state("networkidle")


def best_sku(page: Page) -> str | None:
    """The SKU on the first catalog page with the most available units (a rich detail page)."""
    code: str | None = page.evaluate(
        """() => {
            let best = null, most = -1;
            for (const row of document.querySelectorAll('#sku-table tbody tr')) {
              const code = row.querySelector('.sku-cell small')?.textContent?.trim();
              const cells = row.querySelectorAll('td.num');
              const units = cells.length > 1 ? parseInt(cells[1].textContent.replace(/[^0-9]/g, '') || '0') : 0;
              if (code && units > most) { best = code; most = units; }
            }
            return best;
        }"""
    )
    return code


def admin_tour(page: Page, base: str, out: Path, tmp: Path) -> None:
    shoot(page, out, "01-home")
    page.goto(f"{base}/catalog")
    shoot(page, out, "02-catalog")
    code = best_sku(page)
    if code:
        page.goto(f"{base}/catalog/skus/{code}")
        shoot(page, out, "03-sku")
        origin = page.evaluate(
            "() => [...document.querySelectorAll('#n-from option')]"
            ".map(o => o.value).find(v => v.startsWith('S-')) || ''"
        )
        if origin:
            page.goto(f"{base}/catalog/skus/{code}?near={origin}&radius_km=50")
            shoot(page, out, "04-sku-near")
    page.goto(f"{base}/locations")
    shoot(page, out, "05-locations")
    first_store = page.eval_on_selector("a[href^='/locations/S']", "a => a ? a.getAttribute('href') : ''")
    if first_store:
        page.goto(f"{base}{first_store}")
        shoot(page, out, "06-location")
    page.goto(f"{base}/stock/movements")
    shoot(page, out, "07-movements")
    page.goto(f"{base}/imports")
    shoot(page, out, "08-imports")
    sample = tmp / "catalog-sample.csv"
    sample.write_text(SAMPLE_IMPORT, encoding="utf-8")
    page.set_input_files("#catalog-file", str(sample))
    with page.expect_navigation():
        page.click("form[action='/imports/catalog'] button[type=submit]")
    if "/jobs/" not in page.url:
        shoot(page, out, "09-job-upload-failed")
        raise SystemExit(f"the catalog upload did not start a job: {page.url}")
    page.wait_for_selector("text=/错误报告|Error report/", timeout=30_000)
    shoot(page, out, "09-job")
    page.goto(f"{base}/admin/users")
    shoot(page, out, "10-users")
    page.goto(f"{base}/admin/api-keys")
    page.fill("#k-name", "截图演示密钥")
    page.click("form[action='/admin/api-keys'] button[type=submit]")
    shoot(page, out, "11-api-keys")
    page.goto(f"{base}/admin/audit")
    shoot(page, out, "12-audit")
    page.goto(f"{base}/lang/en?next=/")
    shoot(page, out, "13-home-en")
    if code:
        page.goto(f"{base}/catalog/skus/{code}")
        shoot(page, out, "14-sku-en")
    page.goto(f"{base}/lang/zh-CN?next=/")


def manager_tour(page: Page, base: str, out: Path) -> None:
    shoot(page, out, "21-manager-home")
    page.goto(f"{base}/locations")
    shoot(page, out, "22-manager-locations")
    page.goto(f"{base}/locations/DC-WH")
    shoot(page, out, "23-manager-out-of-scope")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "database",
        nargs="?",
        default=str(ROOT / "var" / "zhongtai.db"),
        help="SQLite file (copied first) or a database URL; default: the demo's var/zhongtai.db",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--admin", default="admin")
    parser.add_argument("--manager", default="manager_sh")
    parser.add_argument("--password", default=os.environ.get("ZHONGTAI_DEMO_PASSWORD", "demo1234"))
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if "://" in args.database:
            url = args.database
        else:
            copy = tmp / "screenshots.db"
            shutil.copy(args.database, copy)
            url = f"sqlite:///{copy}"
        with ExitStack() as stack:
            # Background jobs run in the web process: the tour uploads a catalog file and waits for its job.
            env = {"ZHONGTAI_RUN_WORKER": "true", "ZHONGTAI_WORKER_POLL_S": "0.2"}
            try:
                base = stack.enter_context(serve_in_subprocess(url, env=env))
            except RuntimeError as exc:
                raise SystemExit(f"the server did not start: {exc}") from exc
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
                page.goto(f"{base}/login")
                shoot(page, args.out, "00-login")
                if not login(page, base, args.admin, args.password):
                    raise SystemExit(f"cannot log in as {args.admin}")
                admin_tour(page, base, args.out, tmp)
                logout(page)
                if login(page, base, args.manager, args.password):
                    manager_tour(page, base, args.out)
                else:
                    print(f"  (no store manager {args.manager!r}: skipped their pages)")
                browser.close()


if __name__ == "__main__":
    main()
