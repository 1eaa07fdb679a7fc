"""Reservations per second through the real HTTP API, next to pgbench's TPC-B on the same server.

    python bench/inventory_reserve.py [--clients 32] [--seconds 20] [--workers 2]

Uses ``ZHONGTAI_DATABASE_URL`` when it points at PostgreSQL: a scratch database
``zt_bench_<pid>`` is created on that server and dropped at the end (pgbench runs in it too).
Otherwise a temporary SQLite file (pgbench is skipped). The schema is fresh; SKUs, locations,
stock and an integrator API key are seeded through the service verbs; ``zhongtai serve``
(``zhongtai.live_server``) serves with ``--workers`` uvicorn processes on a free loopback port;
N client threads (one HTTP connection each) reserve 1-3 random lines of 1-2 units until the time
is up. Prints the figures and writes ``bench/results/inventory_reserve.json``.

The ratio (reservations/s ÷ pgbench TPS) makes the figure comparable across machines: a TPC-B
transaction is five statements; a reservation is an authenticated HTTP request that validates its
lines and holds stock with conditional UPDATEs inside one transaction.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from zhongtai.auth import service as auth_service  # noqa: E402
from zhongtai.auth.principal import Principal  # noqa: E402
from zhongtai.catalog import service as catalog  # noqa: E402
from zhongtai.channels import service as channels  # noqa: E402
from zhongtai.db import Base, Database  # noqa: E402
from zhongtai.inventory import service as inventory  # noqa: E402
from zhongtai.inventory.schemas import LocationIn, StockLineIn  # noqa: E402
from zhongtai.live_server import serve_in_subprocess  # noqa: E402
from zhongtai.models_registry import import_all_models  # noqa: E402

SYSTEM = Principal.system("bench")
RESULTS = ROOT / "bench" / "results" / "inventory_reserve.json"
LOCATIONS = [
    ("DC-E", "central_dc", "上海"),
    ("DC-S", "regional_dc", "广州"),
    ("S-1", "store", "上海"),
    ("S-2", "store", "北京"),
]


def _pg_urls(url: str, name: str) -> tuple[str, str]:
    """(maintenance database URL, scratch database URL) on the same server."""
    base = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)
    head, _, tail = base.partition("?")
    server = head.rsplit("/", 1)[0]
    query = f"?{tail}" if tail else ""
    return f"{server}/postgres{query}", f"{server}/{name}{query}"


def _admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def seed(db: Database, skus: int, units: int) -> str:
    Base.metadata.create_all(db.engine)
    with db.transaction() as s:
        channels.create_channel(s, SYSTEM, code="web", name="官网", kind="web_shop")
        catalog.create_category(s, SYSTEM, code="3c", name="数码")
        catalog.create_spu(s, SYSTEM, code="BENCH", name="基准商品", category_code="3c")
        for i in range(skus):
            catalog.create_sku(
                s,
                SYSTEM,
                spu_code="BENCH",
                code=f"SKU{i:04d}",
                name=f"SKU {i}",
                list_price_fen=19_900,
                sale_price_fen=15_900,
                unit_cost_fen=9_900,
                lifecycle="on_sale",
            )
        for code, kind, city in LOCATIONS:
            inventory.create_location(s, SYSTEM, LocationIn(code=code, name=code, type=kind, city=city))  # type: ignore[arg-type]
    for code, _, _ in LOCATIONS:
        with db.transaction() as s:
            lines = [StockLineIn(sku_code=f"SKU{i:04d}", quantity=units) for i in range(skus)]
            inventory.receive_stock(s, SYSTEM, location_code=code, lines=lines, reason="bench stock")
    with db.transaction() as s:
        return auth_service.create_api_key(s, SYSTEM, name="bench", role="integrator", channel_code="web").secret


def drive(base: str, secret: str, clients: int, seconds: float, skus: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as warm:
        # One write first: the key's first use is recorded once, not by every client at once.
        line = {"sku_code": "SKU0000", "location_code": "S-1", "quantity": 1}
        first = warm.post("/api/v1/reservations", json={"reference": "warm-up", "lines": [line]})
        first.raise_for_status()
        warm.post(f"/api/v1/reservations/{first.json()['id']}/release").raise_for_status()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    statuses: list[dict[int, int]] = [{} for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(n: int) -> None:
        # The standard library's client, one keep-alive connection per client: a load generator
        # that shares two cores with the server must spend as little CPU as it can (httpx took
        # ~15 ms of CPU per request here, as much as the server itself).
        rnd = random.Random(n)
        parsed = urlsplit(base)
        conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=30)
        send_headers = {**headers, "Content-Type": "application/json"}
        start.wait()
        i = 0
        try:
            while time.monotonic() < deadline[0]:
                picks = [(rnd.randrange(skus), rnd.choice(LOCATIONS)[0]) for _ in range(rnd.randint(1, 3))]
                lines = {(f"SKU{s:04d}", loc): rnd.randint(1, 2) for s, loc in picks}
                body = {
                    "reference": f"B{n}-{i}",
                    "lines": [{"sku_code": s, "location_code": loc, "quantity": q} for (s, loc), q in lines.items()],
                }
                t0 = time.perf_counter()
                conn.request("POST", "/api/v1/reservations", body=json.dumps(body), headers=send_headers)
                resp = conn.getresponse()
                resp.read()
                latencies[n].append(time.perf_counter() - t0)
                statuses[n][resp.status] = statuses[n].get(resp.status, 0) + 1
                i += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.monotonic() + seconds
    began = deadline[0] - seconds
    start.wait()
    for t in threads:
        t.join(timeout=seconds + 60)
    # From the moment the clock started to the last answer (the last requests end past the deadline).
    elapsed = time.monotonic() - began
    all_lat = sorted(x for per in latencies for x in per)
    merged: dict[int, int] = {}
    for per in statuses:
        for k, v in per.items():
            merged[k] = merged.get(k, 0) + v
    ok = merged.get(201, 0)
    return {
        "reservations": ok,
        "requests": len(all_lat),
        "statuses": {str(k): v for k, v in sorted(merged.items())},
        "elapsed_s": round(elapsed, 3),
        "reservations_per_s": round(ok / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(statistics.median(all_lat) * 1000, 2) if all_lat else None,
        "p99_ms": round(all_lat[min(len(all_lat) - 1, int(len(all_lat) * 0.99))] * 1000, 2) if all_lat else None,
    }


def pgbench(url: str, clients: int, seconds: int) -> dict[str, Any]:
    exe = shutil.which("pgbench") or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)), None
    )
    if exe is None:
        return {"skipped": "pgbench not found"}
    subprocess.run([exe, "-i", "-s", "10", "-q", url], check=True, capture_output=True, timeout=600)
    run = subprocess.run(
        [exe, "-c", str(clients), "-j", "2", "-T", str(seconds), url],
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", run.stdout) or re.search(
        r"tps = ([\d.]+)", run.stdout
    )
    return {"tps": float(match.group(1)) if match else None, "output": run.stdout.strip().splitlines()[-3:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument("--units", type=int, default=1_000_000, help="stock per SKU and location")
    args = parser.parse_args()
    import_all_models()

    source = os.environ.get("ZHONGTAI_DATABASE_URL", "")
    is_pg = source.startswith(("postgresql", "postgres:"))
    scratch = f"zt_bench_{os.getpid()}"
    tmpdir = None
    if is_pg:
        admin_url, url = _pg_urls(source, scratch)
        _admin(admin_url, f'CREATE DATABASE "{scratch}"')
    else:
        tmpdir = tempfile.mkdtemp(prefix="zt_bench_")
        admin_url, url = "", f"sqlite:///{tmpdir}/bench.db"
    try:
        db = Database(url)
        t0 = time.monotonic()
        secret = seed(db, args.skus, args.units)
        db.dispose()
        print(
            f"seeded {args.skus} SKUs x {len(LOCATIONS)} locations in {time.monotonic() - t0:.1f}s"
            f" on {db.engine.dialect.name}"
        )
        # The server is stopped on leaving the block, before the ledger is checked.
        with serve_in_subprocess(url, workers=args.workers, env={"ZHONGTAI_ENV": "dev"}) as base:
            figures = drive(base, secret, args.clients, args.seconds, args.skus)
        check_db = Database(url)
        with check_db.transaction(write=False) as s:
            mismatches = inventory.check_ledger(s)
        check_db.dispose()
        print(
            f"reservations: {figures['reservations_per_s']}/s over {figures['elapsed_s']}s with {args.clients} clients "
            f"(p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms; statuses {figures['statuses']})"
        )
        print(f"ledger == balances: {not mismatches}")
        pg = pgbench(url, args.clients, int(args.seconds)) if is_pg else {"skipped": "SQLite: no pgbench"}
        tps = pg.get("tps")
        print(
            f"pgbench TPC-B (-s 10, -c {args.clients}, -j 2, -T {int(args.seconds)}):"
            f" {tps if tps else pg.get('skipped')} tps"
        )
        ratio = round(figures["reservations_per_s"] / tps, 3) if tps else None
        if ratio is not None:
            print(f"ratio reservations/s : pgbench tps = {ratio}")
        result = {
            "figures": {
                "reservations_per_s": figures["reservations_per_s"],
                "pgbench_tps": tps,
                "ratio": ratio,
                "p50_ms": figures["p50_ms"],
                "p99_ms": figures["p99_ms"],
            },
            "params": {
                "clients": args.clients,
                "seconds": args.seconds,
                "uvicorn_workers": args.workers,
                "skus": args.skus,
                "locations": len(LOCATIONS),
                "lines_per_reservation": "1-3",
                "units_per_line": "1-2",
                "cpus": os.cpu_count(),
            },
            "backend": db.engine.dialect.name,
            "detail": {**figures, "ledger_balanced": not mismatches, "pgbench": pg},
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    finally:
        if is_pg:
            _admin(admin_url, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        elif tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    main()
