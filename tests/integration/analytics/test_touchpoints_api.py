"""The touchpoint health and maturity API: JSON figures from a hand-built lake, 422 naming every
bad parameter, the XLSX files read back, and who may read them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.factories import key_headers, make_key
from tests.unit.analytics import test_health, test_maturity
from zhongtai.db import Database
from zhongtai.settings import Settings

API = "/api/v1/analytics"


@pytest.fixture
def analyst(client: TestClient, db: Database) -> dict[str, str]:
    return key_headers(make_key(db, role="analyst"))


def lake_root(settings: Settings) -> Path:
    assert settings.analytics_dir is not None
    return Path(settings.analytics_dir)


def test_health_json(client: TestClient, settings: Settings, analyst: dict[str, str]) -> None:
    test_health.build(lake_root(settings))
    resp = client.get(f"{API}/touchpoints", params={"start": "2026-12-01", "end": "2026-12-01"}, headers=analyst)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    # the figures of tests/unit/analytics/test_health.py: 6 accepted, 3 rejected, matched 2 of 3
    assert (body["accepted"], body["rejected"], body["identified"], body["attributed"]) == (6, 3, 3, 2)
    assert body["valid_rate"] == pytest.approx(6 / 9)
    assert [t["code"] for t in body["touchpoints"]] == ["CAM", "GROUP", "SHELF", "WEB"]
    web = next(t for t in body["touchpoints"] if t["code"] == "WEB")
    assert web["latency_p50_ms"] == pytest.approx(250)
    assert web["daily"] == [4]
    assert body["rejection_reasons"][0] == {"code": "missing", "rejections": 2}
    assert {s["type"]: s["events"] for s in body["events_by_type"]} == {"online": [4], "offline": [2], "social": [0]}
    assert body["lake_empty"] is False

    by_store = client.get(
        f"{API}/touchpoints", params={"start": "2026-12-01", "end": "2026-12-01", "store": "10"}, headers=analyst
    )
    assert [t["code"] for t in by_store.json()["touchpoints"]] == ["CAM"]


def test_bad_parameters_are_422_naming_each(client: TestClient, settings: Settings, analyst: dict[str, str]) -> None:
    bad = client.get(f"{API}/touchpoints", params={"start": "yesterday", "store": "x"}, headers=analyst)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in bad.json()["errors"]} == {"start", "store"}
    bad = client.get(f"{API}/maturity", params={"as_of": "2026-13-01", "months": "99"}, headers=analyst)
    assert bad.status_code == 422
    assert {(e["field"], e["code"]) for e in bad.json()["errors"]} == {
        ("as_of", "date_parsing"),
        ("months", "out_of_range"),
    }
    future = client.get(f"{API}/maturity.xlsx", params={"as_of": "2999-01-01", "months": "x"}, headers=analyst)
    assert future.status_code == 422
    assert {(e["field"], e["code"]) for e in future.json()["errors"]} == {
        ("as_of", "in_future"),
        ("months", "int_parsing"),
    }


def test_maturity_json(client: TestClient, settings: Settings, analyst: dict[str, str]) -> None:
    test_maturity.build(lake_root(settings))
    resp = client.get(f"{API}/maturity", params={"as_of": "2026-11-30", "months": "3"}, headers=analyst)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [p["as_of"] for p in body["trend"]] == ["2026-09-30", "2026-10-31", "2026-11-30"]
    assert body["earlier"]["as_of"] == "2026-05-31"
    cur = {i["key"]: i for i in body["current"]["indicators"]}
    assert list(cur) == ["coverage", "connectivity", "quality", "extensibility", "cost_return"]
    # the hand-computed November of tests/unit/analytics/test_maturity.py
    assert cur["coverage"]["score"] == pytest.approx(100 * (0.5 * 4 / 7 + 0.25 / 3 + 0.25 * 2 / 4))
    assert cur["cost_return"]["formula"] == "ROI = ¥2,500.00 ÷ ¥1,500.00 = 1.67; 100 × min(1, ROI ÷ 10) = 16.7"
    revenue = next(c for c in cur["cost_return"]["components"] if c["key"] == "revenue")
    assert revenue == {"key": "revenue", "value": 250_000, "kind": "money", "of": None}
    assert [r["type"] for r in body["current"]["returns"]] == ["online", "offline"]
    assert [c["code"] for c in body["current"]["connections"]] == ["WEB", "CAM"]
    assert body["current"]["overall"] == pytest.approx(sum(i["score"] for i in cur.values()) / 5)
    assert body["trend"][-1]["scores"]["coverage"] == pytest.approx(cur["coverage"]["score"])


def test_xlsx_round_trip(client: TestClient, settings: Settings, analyst: dict[str, str]) -> None:
    test_health.build(lake_root(settings))
    resp = client.get(f"{API}/touchpoints.xlsx", params={"start": "2026-12-01", "end": "2026-12-01"}, headers=analyst)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(resp.content))
    assert book.sheetnames == ["filters", "touchpoints", "events_by_day", "rejection_reasons"]
    rows = list(book["touchpoints"].iter_rows(values_only=True))
    assert rows[0][:6] == ("code", "name", "type", "kind", "state", "uptime")
    web = next(r for r in rows[1:] if r[0] == "WEB")
    header = list(rows[0])
    assert web[header.index("accepted")] == 4
    assert web[header.index("valid_rate")] == pytest.approx(0.8)
    assert web[header.index("state")] == "down"
    assert list(book["rejection_reasons"].iter_rows(values_only=True))[1] == ("missing", 2)

    test_maturity.build(lake_root(settings))  # replaces the registry; November's sales are unaffected
    resp = client.get(f"{API}/maturity.xlsx", params={"as_of": "2026-11-30", "months": "2"}, headers=analyst)
    assert resp.status_code == 200
    book = load_workbook(io.BytesIO(resp.content))
    assert book.sheetnames == ["filters", "indicators", "components", "trend", "connections", "returns"]
    returns = list(book["returns"].iter_rows(values_only=True))
    # money in yuan: online 200,000 fen -> 2,000.00
    assert returns[1][:5] == ("online", 1, 1, 2000.0, 1000.0)
    trend = list(book["trend"].iter_rows(values_only=True))
    assert [str(r[0])[:10] for r in trend[1:]] == ["2026-10-31", "2026-11-30"]


def test_reading_needs_analytics_read(client: TestClient, db: Database) -> None:
    integrator = key_headers(make_key(db, role="integrator", name="pos"))
    assert client.get(f"{API}/touchpoints", headers=integrator).status_code == 403
    assert client.get(f"{API}/maturity", headers=integrator).status_code == 403
    assert client.get(f"{API}/maturity").status_code == 401
