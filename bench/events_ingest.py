"""Events per second through the real event API, batch latency, and how fresh the lake is.

    python bench/events_ingest.py [--database sqlite|postgres] [--pg-url URL] [--clients 8]
                                  [--seconds 30] [--sync-s 5] [--workers 2] [--probe-every 2]

A scratch database (a temporary SQLite file, or a new database on the PostgreSQL server of
``--pg-url``, dropped at the end) gets a small retailer through the service verbs
(``_orders.seed_network``: stores, 200 SKUs, the web channel), a web-shop touchpoint, a set of probe
touchpoints, a ``touchpoint`` API key that posts and an ``analyst`` key that reads. Then
``zhongtai serve`` (``--workers`` uvicorn processes, no background jobs) and ``zhongtai worker``
(the schedules, among them the analytics sink every ``--sync-s`` seconds, as
``ZHONGTAI_ANALYTICS_SYNC_S``) run side by side, as in production.

1. **Throughput**: ``--clients`` clients (one keep-alive connection each) post batches of 100 valid
   events back to back for ``--seconds``: page views, searches, product views, add-to-cart, coupons
   and store visits, a fifth of them with a member identifier. ``events_per_s`` = accepted events
   ÷ wall time; ``batch_p50_ms``/``batch_p95_ms``: the latency of one POST.
2. **Freshness**, during the same run: every ``--probe-every`` seconds one more batch of 100 goes to
   a probe touchpoint of its own; from its 200 response the prober polls
   ``GET /api/v1/analytics/events/summary?touchpoint=<probe>`` every 100 ms until the lake counts
   all 100. ``freshness_p95_s``: the 95th percentile of those delays (bounded below by the sync
   interval: a batch waits for the next sink run).

Prints the figures and writes ``bench/results/events_ingest.json`` (SQLite) or
``events_ingest_pg.json`` (PostgreSQL): ``{"figures": {...}, ...details}``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import http.client
import json

from _orders import DEFAULT_PG, SYSTEM, Client, percentile, scratch_database, seed_network, write_result
from zhongtai.auth import service as auth_service
from zhongtai.db import Database
from zhongtai.live_server import PACKAGE_PARENT, serve_in_subprocess
from zhongtai.touchpoints import service as touchpoints_service
from zhongtai.touchpoints.schemas import TouchpointIn

BATCH = 100
SOURCE = "TP-BENCH-WEB"
PROBES = 400


def _event(rnd: random.Random, k: int, prefix: str, skus: list[str], stores: list[str]) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(seconds=rnd.uniform(0, 5))).isoformat()
    sku = rnd.choice(skus)
    kind = rnd.random()
    base: dict[str, Any] = {"id": f"{prefix}-{k}", "at": at, "session_id": f"{prefix}-s{k // 20}"}
    if rnd.random() < 0.2:
        base["identifiers"] = [{"kind": "phone", "value": f"139{rnd.randrange(10**8):08d}"}]
    else:
        base["anonymous_id"] = f"dev-{rnd.randrange(10**9)}"
    if kind < 0.35:
        return {**base, "type": "page_view", "data": {"url": f"/p/{sku}", "page_type": "product"}}
    if kind < 0.5:
        return {
            **base,
            "type": "search",
            "data": {"query": f"手机 {rnd.randrange(50)}", "results": rnd.randrange(0, 40)},
        }
    if kind < 0.75:
        return {**base, "type": "product_view", "data": {"sku": sku, "price_fen": 19_900}}
    if kind < 0.85:
        return {**base, "type": "add_to_cart", "data": {"sku": sku, "quantity": rnd.randint(1, 3)}}
    if kind < 0.9:
        return {**base, "type": "coupon_received", "data": {"coupon": "CP-BENCH", "value_fen": 2000}}
    visitor = f"v{rnd.randrange(10**9)}"
    band = {"visitor": visitor, "gender": rnd.choice(["female", "male", "unknown"]), "age_band": "25-34"}
    return {**base, "type": "store_entry", "store": rnd.choice(stores), "data": band}


def _get(base: str, path: str, key: str) -> tuple[int, Any]:
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def setup(url: str) -> dict[str, Any]:
    db = Database(url)
    try:
        net = seed_network(db, skus=200)
        with db.transaction() as s:
            tp = TouchpointIn(code=SOURCE, name="基准商城埋点", type="online", kind="web_shop", channel_code="web")
            touchpoints_service.register_touchpoint(s, SYSTEM, tp.model_copy(update={"status": "active"}))
            for i in range(PROBES):
                probe = TouchpointIn(
                    code=f"TP-PROBE-{i:03d}", name=f"探针 {i}", type="online", kind="app", status="active"
                )
                touchpoints_service.register_touchpoint(s, SYSTEM, probe)
            writer = auth_service.create_api_key(s, SYSTEM, name="bench touchpoint", role="touchpoint").secret
            reader = auth_service.create_api_key(s, SYSTEM, name="bench reader", role="analyst").secret
    finally:
        db.dispose()
    return {"skus": net.skus, "stores": list(net.stores), "writer": writer, "reader": reader}


@contextmanager
def worker_process(url: str, env: dict[str, str]) -> Any:
    """``zhongtai worker`` over the same database (the schedules, the analytics sink among them)."""
    merged = {**os.environ, "ZHONGTAI_DATABASE_URL": url, "ZHONGTAI_LOG_LEVEL": "WARNING", **env}
    merged["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_PARENT), *filter(None, [os.environ.get("PYTHONPATH")])])
    proc = subprocess.Popen([sys.executable, "-m", "zhongtai.cli", "worker"], env=merged, start_new_session=True)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(base: str, world: dict[str, Any], clients: int, seconds: float, probe_every: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {world['writer']}"}
    stop = threading.Event()
    latencies: list[float] = []
    accepted = Counter[str]()
    statuses = Counter[int]()
    lock = threading.Lock()

    def client(k: int) -> None:
        rnd = random.Random(k)
        c = Client(base)
        n = 0
        while not stop.is_set():
            events = [_event(rnd, n * BATCH + i, f"c{k}", world["skus"], world["stores"]) for i in range(BATCH)]
            n += 1
            t0 = time.perf_counter()
            status, body = c.post("/api/v1/events", {"touchpoint": SOURCE, "events": events}, headers)
            elapsed = time.perf_counter() - t0
            with lock:
                statuses[status] += 1
                latencies.append(elapsed)
                if status == 200:
                    accepted["accepted"] += body["accepted"]
                    accepted["rejected"] += body["rejected"]
                    accepted["duplicates"] += body["duplicates"]
        c.close()

    delays: list[float] = []
    unfinished: list[str] = []

    def prober() -> None:
        rnd = random.Random(999)
        c = Client(base)
        i = 0
        while not stop.is_set() and i < PROBES:
            code = f"TP-PROBE-{i:03d}"
            events = [_event(rnd, j, f"p{i}", world["skus"], world["stores"]) for j in range(BATCH)]
            for e in events:
                e.pop("store", None)
                if e["type"] == "store_entry":
                    e["type"], e["data"] = "page_view", {"url": "/"}
            status, body = c.post("/api/v1/events", {"touchpoint": code, "events": events}, headers)
            sent = time.perf_counter()
            i += 1
            if status != 200 or body["accepted"] != BATCH:
                unfinished.append(f"{code}: {status} {body}")
                continue
            threading.Thread(target=watch, args=(code, sent), daemon=True).start()
            stop.wait(probe_every)
        c.close()

    def watch(code: str, sent: float) -> None:
        deadline = sent + 120
        while time.perf_counter() < deadline:
            status, body = _get(base, f"/api/v1/analytics/events/summary?touchpoint={code}", world["reader"])
            if status == 200 and body["total"] >= BATCH:
                with lock:
                    delays.append(time.perf_counter() - sent)
                return
            time.sleep(0.1)
        with lock:
            unfinished.append(f"{code}: not in the lake after 120 s")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    probe = threading.Thread(target=prober)
    started = time.perf_counter()
    for t in (*threads, probe):
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    probe.join()
    time.sleep(0)  # the watchers of the last probes finish on their own (daemon threads)
    grace = time.perf_counter() + 60
    while time.perf_counter() < grace and threading.active_count() > 1:
        time.sleep(0.2)
    lat = sorted(latencies)
    fresh = sorted(delays)
    return {
        "events_per_s": round(accepted["accepted"] / wall, 1),
        "batches": len(lat),
        "accepted": accepted["accepted"],
        "rejected": accepted["rejected"],
        "duplicates": accepted["duplicates"],
        "statuses": dict(statuses),
        "wall_s": round(wall, 2),
        "batch_p50_ms": round((percentile(lat, 0.5) or 0) * 1000, 1),
        "batch_p95_ms": round((percentile(lat, 0.95) or 0) * 1000, 1),
        "freshness_samples": len(fresh),
        "freshness_p50_s": round(percentile(fresh, 0.5) or 0, 2),
        "freshness_p95_s": round(percentile(fresh, 0.95) or 0, 2),
        "freshness_max_s": round(max(fresh, default=0), 2),
        "freshness_mean_s": round(statistics.fmean(fresh), 2) if fresh else None,
        "probe_problems": unfinished[:10],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--sync-s", type=float, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--probe-every", type=float, default=2.0)
    args = parser.parse_args()

    with scratch_database("sqlite" if args.database == "sqlite" else args.pg_url, "zt_events") as url:
        world = setup(url)
        lake = tempfile.mkdtemp(prefix="zt_events_lake_")
        env = {
            "ZHONGTAI_ENV": "dev",
            "ZHONGTAI_ANALYTICS_DIR": lake,
            "ZHONGTAI_ANALYTICS_SYNC_S": str(args.sync_s),
            "ZHONGTAI_DB_POOL_SIZE": "20",
        }
        with worker_process(url, env), serve_in_subprocess(url, workers=args.workers, env=env, timeout_s=240) as base:
            figures = run(base, world, args.clients, args.seconds, args.probe_every)
    result = {
        "figures": {"events_per_s": figures["events_per_s"], "freshness_p95_s": figures["freshness_p95_s"]},
        "database": args.database,
        "clients": args.clients,
        "seconds": args.seconds,
        "sync_s": args.sync_s,
        "workers": args.workers,
        "batch_size": BATCH,
        **figures,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path = write_result("events_ingest" if args.database == "sqlite" else "events_ingest_pg", result)
    print(json.dumps(result["figures"]), f"batch p50 {figures['batch_p50_ms']} ms, p95 {figures['batch_p95_ms']} ms")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
