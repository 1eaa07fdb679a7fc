"""The member and store-traffic console pages in zh-CN and en over hand-built lakes (figures:
``tests/unit/analytics/test_funnel.py`` and ``test_traffic.py``), their XLSX downloads, the
empty-lake notice, bad parameters listed on the page and a store manager's scope."""

from __future__ import annotations

import io
import re
from pathlib import Path

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.integration.web.seed import Shop
from tests.unit.analytics.test_funnel import build_member_lake
from tests.unit.analytics.test_traffic import build_traffic_lake
from zhongtai.settings import Settings

MEMBERS = "/analytics/members?start=2026-11-01&end=2026-11-30&window=30"
TRAFFIC = "/analytics/traffic?start=2026-11-02&end=2026-11-03"


def lake_root(settings: Settings) -> Path:
    assert settings.analytics_dir is not None
    return Path(settings.analytics_dir)


def stores(shop: Shop) -> tuple[int, int, int]:
    return shop.store_a, shop.store_b, shop.store_c


def test_members_page_in_both_languages(
    client: TestClient, admin: dict[str, str], settings: Settings, shop: Shop
) -> None:
    build_member_lake(lake_root(settings), stores(shop))

    page = client.get(MEMBERS)

    assert page.status_code == 200
    html = page.text
    for text in ("会员看板", "京东 4A 会员漏斗", "阶段流转"):
        assert text in html
    assert 'id="lake-empty"' not in html
    for panel in ("growth-new", "growth-cumulative", "funnel", "transitions", "funnel-rules", "segments", "rfm-grid"):
        assert f'id="{panel}"' in html
    kpi = dict(re.findall(r'data-kpi="(\w+)">\s*<div class="label">[^<]*</div>\s*<div class="value">([^<]*)<', html))
    # 12 members, 3 new, 3 buyers, 1 of 3 bought twice, 14000 of 19000 fen from members.
    assert kpi == {
        "total_members": "12",
        "new_members": "3",
        "active_buyers": "3",
        "repeat_rate": "33.3%",
        "member_share": "73.7%",
    }
    # Funnel: reached aware+ 8, appeal+ 5, act+ 3, advocate 2; the matrix's diagonal 3 / 1 / 0 / 0 / 1.
    reached = re.findall(r'data-stage="(\w+)".*?title="(\d+)"', html, re.S)
    assert reached == [("aware", "8"), ("appeal", "5"), ("act", "3"), ("advocate", "2")]
    moves = re.findall(r'<div class="n">(\d+)</div>', html)
    assert moves == ["4", "5", "3"]
    assert "62.5%" in html  # appeal / aware = 5 / 8
    assert '<tr data-segment="champions">' in html
    assert "重要价值客户" in html
    assert "¥466.67" in html  # champions' average spend 46667 fen

    client.get("/lang/en?next=/")
    en = client.get(MEMBERS).text
    for text in ("JD 4A member funnel", "Stage transitions", "Champions"):
        assert text in en
    assert "会员看板" not in en


def test_members_xlsx_has_translated_sheets(
    client: TestClient, admin: dict[str, str], settings: Settings, shop: Shop
) -> None:
    build_member_lake(lake_root(settings), stores(shop))

    resp = client.get(MEMBERS.replace("/members?", "/members.xlsx?"))

    assert resp.status_code == 200
    book = load_workbook(io.BytesIO(resp.content))
    assert book.sheetnames == ["filters", "指标", "会员增长", "RFM分层", "RxF分布", "4A漏斗", "阶段流转"]
    funnel = list(book["4A漏斗"].iter_rows(values_only=True))
    assert funnel[0] == ("阶段", "会员数", "达到及以上", "转化率")
    assert funnel[2][:3] == ("认知", 3, 8)
    about = {row[0]: row[1] for row in book["filters"].iter_rows(values_only=True)}
    assert about["4A 回溯窗口"] == "30 天"


def test_traffic_page_in_both_languages(
    client: TestClient, admin: dict[str, str], settings: Settings, shop: Shop
) -> None:
    build_traffic_lake(lake_root(settings), stores(shop))

    html = client.get(TRAFFIC).text

    assert "门店客流" in html
    assert "进店转化率" in html
    for panel in ("by-day", "by-hour", "dwell", "demographics", "stores", "definitions"):
        assert f'id="{panel}"' in html
    kpi = dict(re.findall(r'data-kpi="(\w+)">\s*<div class="label">[^<]*</div>\s*<div class="value">([^<]*)<', html))
    # 9 visitors, 4 buyers (44.4 %), 8999 / 7 s = 21.4 min, 12500 / 9 fen = ¥13.89 per visitor.
    assert kpi == {
        "visitors": "9",
        "buyers": "4",
        "conversion": "44.4%",
        "dwell": "21.4 分钟",
        "sales_per_visitor": "¥13.89",
    }
    assert re.findall(r'<tr data-store="([\w-]+)"', html) == ["S-SH01", "S-SH02", "S-BJ01"]
    by_visitors = client.get(TRAFFIC + "&sort=visitors").text
    assert re.findall(r'<tr data-store="([\w-]+)"', by_visitors) == ["S-SH01", "S-SH02", "S-BJ01"]
    by_dwell = client.get(TRAFFIC + "&sort=dwell").text
    # A 1500 s, B 999.7 s, C none
    assert re.findall(r'<tr data-store="([\w-]+)"', by_dwell) == ["S-SH01", "S-SH02", "S-BJ01"]

    client.get("/lang/en?next=/")
    en = client.get(TRAFFIC).text
    for text in ("Store traffic", "Sales per visitor", "21.4 min"):
        assert text in en
    assert "Shanghai 1" in en


def test_traffic_xlsx(client: TestClient, admin: dict[str, str], settings: Settings, shop: Shop) -> None:
    build_traffic_lake(lake_root(settings), stores(shop))

    resp = client.get(TRAFFIC.replace("/traffic?", "/traffic.xlsx?"))

    assert resp.status_code == 200
    book = load_workbook(io.BytesIO(resp.content))
    rows = list(book["门店"].iter_rows(values_only=True))
    assert rows[0][:4] == ("门店编码", "门店", "进店访客", "进店次数")
    assert rows[1][:3] == ("S-SH01", "上海一店", 5)


def test_an_empty_lake_says_so(client: TestClient, admin: dict[str, str]) -> None:
    for path in (MEMBERS, TRAFFIC):
        html = client.get(path).text
        assert 'id="lake-empty"' in html
        assert "数据仓库中还没有数据" in html


def test_bad_parameters_are_listed_on_the_page(client: TestClient, admin: dict[str, str], settings: Settings) -> None:
    build_member_lake(lake_root(settings))

    html = client.get("/analytics/members?start=2026-02-30&window=2").text

    assert "部分筛选条件无效" in html
    assert "回溯窗口应为 7–365 天" in html
    assert "日期格式应为" in html


def test_a_store_manager_sees_only_their_stores(
    client: TestClient, manager: dict[str, str], settings: Settings, shop: Shop
) -> None:
    build_traffic_lake(lake_root(settings), stores(shop))

    html = client.get(TRAFFIC).text

    assert re.findall(r'<tr data-store="([\w-]+)"', html) == ["S-SH01", "S-SH02"]
    assert 'data-kpi="visitors"' in html
    assert re.search(r'data-kpi="visitors">\s*<div class="label">[^<]*</div>\s*<div class="value">8<', html)
    outside = client.get(TRAFFIC + f"&store={shop.store_c}").text
    assert "不在您的门店范围内" in outside
    assert client.get("/analytics/members").status_code == 200
