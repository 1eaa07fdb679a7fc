"""Orders per second through the real intake API, latency at half that rate, and where an
order's time goes; next to pgbench's TPC-B on the same PostgreSQL server.

    python bench/order_intake.py [--database-url URL] [--workers 2] [--ramp 4,8,16,32]
                                 [--step-seconds 15] [--paced-seconds 30] [--profile-orders 100]

``--database-url`` names a PostgreSQL server (default postgresql://postgres@127.0.0.1:5432/...):
a fresh database ``zt_intake_<pid>`` is created on it and dropped at the end; ``sqlite`` uses a
temporary SQLite file (no pgbench then). The retailer is generated and seeded through the service
layer before the server starts (``_orders.seed_network``: a central DC, four regional DCs, 50
stores around 12 Chinese cities, 200 SKUs with stock), then ``zhongtai serve`` runs with
``--workers`` uvicorn processes (``serve_in_subprocess``).

1. Closed loop, ramped: N clients (one keep-alive connection each) each push a new order as soon as
   the last was answered, for ``--step-seconds`` at each N of ``--ramp``. Half are Zhongtai-shape
   orders on ``web``, half TOP-style trades on ``tmall``; 60 % one line, else 2-4; express 75 %,
   same-city 15 %, click & collect 10 %; all paid. The best committed (201) orders/s is the
   capacity.
2. Open loop at half that rate for ``--paced-seconds``: orders are due at fixed intervals and sent
   by a pool of 64 senders; latency is measured from when an order was due (a queue counts), so
   p50/p99 are not flattered by coordinated omission.
3. pgbench (``-i -s 10`` on a scratch database, then ``-c 8 -j 2 -T 20``), for the ratio.
4. Profile, in process (no HTTP): for each kind of intake, the SQL statements per call (a
   SQLAlchemy ``before_cursor_execute`` listener), the time spent in them, the wall time, the most
   frequent statements, and cProfile's top functions.

Prints the figures and writes ``bench/results/order_intake.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import queue
import re
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import event

from _orders import (
    SYSTEM,
    Client,
    Network,
    OrderMaker,
    percentile,
    pgbench,
    scratch_database,
    seed_network,
    write_result,
)
from zhongtai.db import Database
from zhongtai.inventory import service as inventory
from zhongtai.live_server import serve_in_subprocess
from zhongtai.orders import service
from zhongtai.orders.schemas import StatusUpdateIn

PUSH = "/api/v1/channels/{}/orders"


class Source:
    """Unique orders for many threads: (channel, body)."""

    def __init__(self, net: Network, seed: int, prefix: str) -> None:
        self.maker = OrderMaker(net, seed)
        self.prefix = prefix
        self.n = 0
        self.lock = threading.Lock()

    def next(self) -> tuple[str, dict[str, Any]]:
        with self.lock:
            self.n += 1
            n = self.n
            if n % 2:
                return "web", self.maker.zhongtai(f"{self.prefix}W{n:07d}")
            return "tmall", self.maker.marketplace(f"{self.prefix}T{n:07d}")


def _summary(lat: list[float], statuses: Counter[int], elapsed: float) -> dict[str, Any]:
    lat = sorted(lat)
    ok = statuses.get(201, 0)
    return {
        "orders": ok,
        "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "elapsed_s": round(elapsed, 2),
        "orders_per_s": round(ok / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(lat, 0.5) * 1000, 1) if lat else None,
        "p99_ms": round(percentile(lat, 0.99) * 1000, 1) if lat else None,
    }


def closed_loop(base: str, net: Network, clients: int, seconds: float, source: Source) -> dict[str, Any]:
    lat: list[list[float]] = [[] for _ in range(clients)]
    statuses: list[Counter[int]] = [Counter() for _ in range(clients)]
    errors: list[str] = []
    barrier = threading.Barrier(clients + 1)
    deadline = [0.0]

    def run(k: int) -> None:
        client = Client(base)
        barrier.wait()
        while time.monotonic() < deadline[0]:
            channel, body = source.next()
            t0 = time.perf_counter()
            code, out = client.post(PUSH.format(channel), body, {"Authorization": f"Bearer {net.keys[channel]}"})
            lat[k].append(time.perf_counter() - t0)
            statuses[k][code] += 1
            if code != 201 and len(errors) < 20:
                errors.append(f"{code} {str(out)[:200]}")
        client.close()

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.monotonic() + seconds
    began = time.monotonic()
    barrier.wait()
    for t in threads:
        t.join(timeout=seconds + 120)
    elapsed = time.monotonic() - began
    merged: Counter[int] = Counter()
    for c in statuses:
        merged.update(c)
    out = _summary([x for per in lat for x in per], merged, elapsed)
    out["clients"] = clients
    out["errors"] = errors[:5]
    return out


def open_loop(
    base: str, net: Network, rate: float, seconds: float, source: Source, senders: int = 64
) -> dict[str, Any]:
    """Orders due every 1/rate seconds; latency from the due time to the answer."""
    due: queue.SimpleQueue[float | None] = queue.SimpleQueue()
    lat: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    start = time.monotonic() + 0.5
    total = int(rate * seconds)
    for i in range(total):
        due.put(start + i / rate)
    for _ in range(senders):
        due.put(None)

    def run() -> None:
        client = Client(base)
        while (at := due.get()) is not None:
            delay = at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            channel, body = source.next()
            code, _ = client.post(PUSH.format(channel), body, {"Authorization": f"Bearer {net.keys[channel]}"})
            done = time.monotonic()
            with lock:
                lat.append(done - at)
                statuses[code] += 1
        client.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 300)
    elapsed = time.monotonic() - start
    out = _summary(lat, statuses, elapsed)
    out["target_rate"] = round(rate, 1)
    out["late_by_more_than_1s"] = sum(x > 1.0 for x in lat)
    return out


# ================================================================ profile


def _shape(sql: str) -> str:
    """A statement's shape: its verb and table (``SELECT orders``, ``UPDATE stock_balances``)."""
    s = " ".join(sql.split())
    verb = s.split(" ", 1)[0].upper()
    m = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", s, re.IGNORECASE)
    table = m.group(1) if m else "?"
    if verb == "SELECT" and " FOR UPDATE" in s.upper():
        verb = "SELECT…FOR UPDATE"
    return f"{verb} {table}"


def profile(url: str, net: Network, per_kind: int) -> dict[str, Any]:
    """SQL statements and time per intake, by kind, in process (the real service, no HTTP)."""
    db = Database(url)
    stats = {"n": 0, "sql_s": 0.0, "shapes": Counter()}
    started: dict[int, float] = {}

    @event.listens_for(db.engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        stats["n"] += 1
        stats["shapes"][_shape(statement)] += 1
        started[id(cursor)] = time.perf_counter()

    @event.listens_for(db.engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        stats["sql_s"] += time.perf_counter() - started.pop(id(cursor), time.perf_counter())

    maker = OrderMaker(net, 99)

    def one_line(ext: str, mode: str) -> dict[str, Any]:
        while True:
            body = maker.zhongtai(ext)
            if len(body["lines"]) == 1 and body["delivery_mode"] == mode:
                return body

    def multi_line(ext: str) -> dict[str, Any]:
        while True:
            body = maker.zhongtai(ext)
            if len(body["lines"]) >= 3 and body["delivery_mode"] == "express":
                return body

    def marketplace(ext: str) -> dict[str, Any]:
        return maker.marketplace(ext)

    kinds: dict[str, Any] = {
        "new: 1 line, express": lambda i: ("web", one_line(f"PX1-{i}", "express")),
        "new: 3-4 lines, express": lambda i: ("web", multi_line(f"PX3-{i}")),
        "new: 1 line, same_city": lambda i: ("web", one_line(f"PSC-{i}", "same_city")),
        "new: 1 line, click_collect": lambda i: ("web", one_line(f"PCC-{i}", "click_collect")),
        "new: marketplace trade": lambda i: ("tmall", marketplace(f"PMK-{i}")),
    }
    out: dict[str, Any] = {}
    prof = cProfile.Profile()
    kept: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    def measure(name: str, calls: list[Any]) -> None:
        n0, sql0, shapes0 = stats["n"], stats["sql_s"], Counter(stats["shapes"])
        walls = []
        for call in calls:
            t0 = time.perf_counter()
            prof.enable()
            with db.transaction() as s:
                call(s)
            prof.disable()
            walls.append(time.perf_counter() - t0)
        count = len(calls)
        shapes = Counter(stats["shapes"])
        shapes.subtract(shapes0)
        out[name] = {
            "calls": count,
            "statements_per_call": round((stats["n"] - n0) / count, 1),
            "sql_ms_per_call": round((stats["sql_s"] - sql0) * 1000 / count, 2),
            "wall_ms_per_call": round(statistics.mean(walls) * 1000, 2),
            "wall_p50_ms": round(statistics.median(walls) * 1000, 2),
            "top_statements_per_call": {k: round(v / count, 1) for k, v in shapes.most_common(12) if v > 0},
        }

    for name, make in kinds.items():
        bodies = [make(i) for i in range(per_kind)]
        kept[name] = bodies
        measure(name, [lambda s, c=c, b=b: service.intake(s, SYSTEM, c, b) for c, b in bodies])
    # The same deliveries again: a duplicate (nothing to do but answer).
    dupes = kept["new: 1 line, express"]
    measure("duplicate delivery", [lambda s, c=c, b=b: service.intake(s, SYSTEM, c, b) for c, b in dupes])
    # Unpaid orders, then the payment as a status-only message.
    unpaid = [("web", {**maker.zhongtai(f"PUP-{i}", status="created")}) for i in range(per_kind)]
    measure("new: unpaid (created)", [lambda s, c=c, b=b: service.intake(s, SYSTEM, c, b) for c, b in unpaid])
    measure(
        "status update: paid",
        [
            lambda s, b=b: service.update_status(s, SYSTEM, "web", b["external_id"], StatusUpdateIn(status="paid"))
            for _, b in unpaid
        ],
    )
    db.dispose()
    ps = pstats.Stats(prof)
    rows = []
    for (filename, line, fn), (_cc, nc, _tt, ct, _callers) in ps.stats.items():  # type: ignore[attr-defined]
        if "zhongtai" in filename or "ortools" in filename or "sqlalchemy/orm/session" in filename:
            short = filename.split("site-packages/")[-1].split("src/")[-1]
            rows.append((ct, nc, f"{short}:{line} {fn}"))
    rows.sort(reverse=True)
    total = sum(v["calls"] for v in out.values())
    top = [
        {"function": name, "calls_per_intake": round(nc / total, 2), "cum_ms_per_intake": round(ct * 1000 / total, 2)}
        for ct, nc, name in rows[:25]
    ]
    return {"by_kind": out, "cprofile_top_cumulative": top}


# ================================================================ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server URL (default local), or 'sqlite'")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ramp", default="4,8,16,32")
    parser.add_argument("--step-seconds", type=float, default=15.0)
    parser.add_argument("--paced-seconds", type=float, default=30.0)
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument("--profile-orders", type=int, default=100, help="intakes per kind in the profile")
    parser.add_argument("--pgbench-seconds", type=int, default=20)
    args = parser.parse_args()
    ramp = [int(x) for x in args.ramp.split(",")]

    with scratch_database(args.database_url, "zt_intake") as url:
        db = Database(url)
        t0 = time.monotonic()
        net = seed_network(db, skus=args.skus)
        with db.transaction(write=False) as s:
            n_locations = len(inventory.fulfilment_locations(s))
        backend = db.engine.dialect.name
        db.dispose()
        print(f"seeded {args.skus} SKUs, {n_locations} locations in {time.monotonic() - t0:.1f}s on {backend}")
        env = {"ZHONGTAI_ENV": "dev", "ZHONGTAI_DB_POOL_SIZE": "30"}
        steps = []
        with serve_in_subprocess(url, workers=args.workers, env=env) as base:
            warm = Source(net, 1, "WARM")
            closed_loop(base, net, 4, 3.0, warm)  # keys touched, connections and caches warm
            source = Source(net, 2, "C")
            for clients in ramp:
                step = closed_loop(base, net, clients, args.step_seconds, source)
                steps.append(step)
                print(
                    f"closed loop, {clients:3d} clients: {step['orders_per_s']:7.1f} orders/s"
                    f"  p50 {step['p50_ms']} ms  p99 {step['p99_ms']} ms  {step['statuses']}"
                )
            best = max(steps, key=lambda x: x["orders_per_s"])
            paced = open_loop(base, net, best["orders_per_s"] / 2, args.paced_seconds, Source(net, 3, "P"))
            print(
                f"open loop at {paced['target_rate']}/s: {paced['orders_per_s']} orders/s"
                f"  p50 {paced['p50_ms']} ms  p99 {paced['p99_ms']} ms  {paced['statuses']}"
            )
        check = Database(url)
        with check.transaction(write=False) as s:
            mismatches = inventory.check_ledger(s)
        check.dispose()
        print(f"ledger == balances: {not mismatches}")
        pg = pgbench(url, 8, 2, args.pgbench_seconds) if backend == "postgresql" else {"skipped": "SQLite"}
        tps = pg.get("tps")
        print(f"pgbench TPC-B -c 8 -j 2 -T {args.pgbench_seconds}: {tps or pg.get('skipped')} tps")
        ratio = round(best["orders_per_s"] / tps, 4) if tps else None
        t1 = time.monotonic()
        prof = profile(url, net, args.profile_orders)
        print(f"profile ({args.profile_orders} intakes per kind, in process) in {time.monotonic() - t1:.1f}s:")
        for kind, row in prof["by_kind"].items():
            print(
                f"  {kind:28s} {row['statements_per_call']:6.1f} statements  {row['sql_ms_per_call']:7.2f} ms SQL"
                f"  {row['wall_ms_per_call']:7.2f} ms wall"
            )
        result = {
            "figures": {
                "orders_per_s": best["orders_per_s"],
                "pgbench_tps": tps,
                "ratio": ratio,
                "p50_ms": paced["p50_ms"],
                "p99_ms": paced["p99_ms"],
            },
            "params": {
                "uvicorn_workers": args.workers,
                "ramp": ramp,
                "step_seconds": args.step_seconds,
                "paced_seconds": args.paced_seconds,
                "skus": args.skus,
                "locations": n_locations,
                "mix": "50 % web (Zhongtai shape) / 50 % tmall (marketplace trade); 60 % one line, else 2-4;"
                " express 75 %, same_city 15 %, click_collect 10 %; all paid",
                "cpus": os.cpu_count(),
            },
            "backend": backend,
            "detail": {
                "closed_loop": steps,
                "best_clients": best["clients"],
                "open_loop": paced,
                "ledger_balanced": not mismatches,
                "pgbench": pg,
                "profile": prof,
            },
        }
        path = write_result("order_intake", result)
        print(f"wrote {path.relative_to(path.parents[2])}")


if __name__ == "__main__":
    main()
