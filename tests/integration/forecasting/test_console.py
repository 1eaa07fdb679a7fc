"""The forecast pages in the console: they render in Chinese and English, the chart shows the
quantile band and events, edits go through CSRF forms, and store managers see only their stores."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi.testclient import TestClient

from tests.factories import SYSTEM, console_login, make_user
from tests.integration.forecasting.conftest import Shop, days_back, make_shop
from zhongtai.db import Database
from zhongtai.forecasting import accuracy, calendar, service

LAST = date(2026, 11, 29)


def _forecast_in_place(db: Database) -> Shop:
    """Two weeks of sales at both Shanghai stores and Beijing, a recorded forecast for the week
    after, an event in view and one scored week."""
    shop = make_shop(db)
    for day in days_back(LAST, 14):
        shop.sell("S-SH-01", "P1-BLK", 2, day)
        shop.sell("S-BJ-01", "CASE-1", 1, day)
    rows = []
    for sku, store, level in (("P1-BLK", "S-SH-01", 2.0), ("CASE-1", "S-BJ-01", 1.0)):
        for i in range(-7, 7):
            day = LAST + timedelta(days=1 + i)
            rows.append(
                service.ForecastRow(shop.skus[sku], shop.locations[store], day, level, level / 2, level, level * 2)
            )
    with db.transaction() as s:
        service.record_forecast(s, SYSTEM, rows, params={"source": "test"})
        calendar.create_event(
            s,
            SYSTEM,
            {
                "code": "double12",
                "name_zh": "双十二",
                "name_en": "Double 12",
                "kind": "double12",
                "start_day": date(2026, 12, 1),
                "end_day": date(2026, 12, 3),
                "uplift_bp": 3000,
            },
        )
        accuracy.compute_week(s, SYSTEM, LAST - timedelta(days=6))
    return shop


def test_every_forecast_page_renders_in_chinese_and_english_for_a_planner(client: TestClient, db: Database) -> None:
    # given a forecast in place and an ops planner logged in
    _forecast_in_place(db)
    make_user(db, "planner", "ops")
    console_login(client, "planner")
    pages = [
        "/forecasts",
        "/forecasts/series?sku=P1-BLK&location=S-SH-01",
        "/forecasts/events",
        "/forecasts/events?year=2026",
        "/forecasts/events/double12",
        "/forecasts/accuracy",
        "/forecasts/accuracy?level=category",
        "/forecasts/accuracy?level=location",
    ]
    for lang, words in (
        ("zh-CN", ("需求预测", "活动日历", "预测准确率")),
        ("en", ("Demand forecasts", "Event calendar", "Forecast accuracy")),
    ):
        client.cookies.set("lang", lang)
        # when every page is opened
        bodies = {}
        for path in pages:
            resp = client.get(path)
            assert resp.status_code == 200, (path, resp.text[:400])
            bodies[path] = resp.text
        # then they speak the language, and the chart carries the band, the mean and the event
        assert words[0] in bodies["/forecasts"]
        assert words[1] in bodies["/forecasts/events"]
        assert words[2] in bodies["/forecasts/accuracy"]
        chart = bodies["/forecasts/series?sku=P1-BLK&location=S-SH-01"]
        assert 'class="band"' in chart
        assert 'class="mean"' in chart
        assert ("Double 12" if lang == "en" else "双十二") in chart
        assert "run-now" in bodies["/forecasts"]
        assert "P1-BLK" in bodies["/forecasts"]
        assert "S-BJ-01" in bodies["/forecasts"]


def test_an_event_is_created_and_edited_through_the_console_forms(client: TestClient, db: Database) -> None:
    make_shop(db)
    make_user(db, "planner", "ops")
    csrf = console_login(client, "planner")["X-CSRF-Token"]
    form = {
        "csrf_token": csrf,
        "code": "store-day",
        "name_zh": "店庆",
        "name_en": "Store day",
        "kind": "custom",
        "start_day": "2026-12-20",
        "end_day": "2026-12-21",
        "scope": "location",
        "scope_code": "S-SH-01",
        "uplift_pct": "25",
        "notes": "",
    }
    bad = client.post(
        "/forecasts/events", data=form | {"code": "bad-day", "end_day": "2026-12-01", "scope_code": "NOPE"}
    )
    assert bad.status_code == 422
    assert "end_day" in bad.text
    assert "scope_code" in bad.text
    created = client.post("/forecasts/events", data=form, follow_redirects=False)
    assert created.status_code == 303
    edited = client.post("/forecasts/events/store-day", data=form | {"uplift_pct": "40"}, follow_redirects=False)
    assert edited.status_code == 303
    with db.transaction(write=False) as s:
        event = calendar.get_event(s, "store-day")
        assert (event.uplift_bp, event.scope_code, event.updated_by) == (4000, "S-SH-01", "planner")
    missing_csrf = client.post("/forecasts/events/store-day/delete", data={})
    assert missing_csrf.status_code == 403


def test_a_store_manager_sees_only_their_stores_and_cannot_run_or_edit(client: TestClient, db: Database) -> None:
    # given a forecast for a Shanghai and a Beijing store, and the manager of the two Shanghai stores
    shop = _forecast_in_place(db)
    make_user(db, "li.na", "store_manager", [shop.locations["S-SH-01"], shop.locations["S-SH-02"]])
    csrf = console_login(client, "li.na")["X-CSRF-Token"]
    # when they open the forecast list, another store's chart, the accuracy and try to run
    listing = client.get("/forecasts")
    other = client.get("/forecasts/series?sku=CASE-1&location=S-BJ-01")
    api_other = client.get("/api/v1/forecasts/series", params={"sku": "CASE-1", "location": "S-BJ-01"})
    acc = client.get("/api/v1/forecasts/accuracy", params={"level": "location"})
    overall = client.get("/api/v1/forecasts/accuracy")
    run = client.post("/forecasts/run", data={"csrf_token": csrf})
    # then only their store is visible, Beijing is "not found", and writes are refused
    assert listing.status_code == 200
    assert "S-SH-01" in listing.text
    assert "S-BJ-01" not in listing.text
    assert "run-now" not in listing.text
    assert other.status_code == 404
    assert api_other.status_code == 404
    assert {r["location_code"] for r in acc.json()} == {"S-SH-01"}
    assert overall.json() == []
    assert run.status_code == 403


def test_every_value_the_forecast_pages_translate_by_name_exists_in_both_languages() -> None:
    import json

    from zhongtai.web.i18n import LOCALES_DIR
    from zhongtai.web.views import forecasting as views

    families = {
        "events.kind": calendar.KINDS,
        "events.scope": calendar.SCOPES,
        "accuracy.level": views.ACCURACY_LEVELS,
        "forecast.status": ("running", "succeeded", "failed"),
        "forecast.done": ("created", "saved", "deleted", "already_running"),
        "nav": ("forecasts", "forecast_events", "forecast_accuracy"),
    }
    for locale in ("zh-CN", "en"):
        messages = json.loads((LOCALES_DIR / f"{locale}.json").read_text(encoding="utf-8"))
        missing = [f"{p}.{v}" for p, values in families.items() for v in values if f"{p}.{v}" not in messages]
        assert missing == [], locale
