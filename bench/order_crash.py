"""Crash the server again and again while orders pour in: none lost, none twice, no hold leaked.

    python bench/order_crash.py [--orders 5000] [--clients 8] [--database-url URL | sqlite]
                                [--workers 2] [--kill-every 2,6] [--seed 11]

A fresh database (PostgreSQL by default: ``zt_crash_<pid>`` on the server of ``--database-url``,
dropped at the end; ``sqlite`` for a temporary SQLite file) gets the generated retailer
(``_orders.seed_network``) and a channel ``flash`` whose unpaid orders hold stock for 5 s only.
``python -m zhongtai.cli serve`` runs in its own process group with the in-process worker on
(``ZHONGTAI_RUN_WORKER=true``: the schedules expire holds and cancel unpaid orders as they would in
production); a killer thread sends SIGKILL to the whole group every 2-6 s (random) and starts
it again on the same port and database.

``--clients`` threads send ``--orders`` orders with unique external ids (70 % paid orders on
``web``, 30 % unpaid ones on ``flash``), each with an ``Idempotency-Key``, and retry each until
it is answered 201 or 200, with the same payload: a lost connection or a 5xx is retried with the
same key. A key whose first request died with the server stays ``pending`` (the middleware's
contract: never a second execution), so retries with it get 409 ``idempotency_key_in_progress``;
once the server has been restarted since the key was first sent, the client moves to a new key
for the same order (safe: intake itself is idempotent on (channel, external id)), and the run
counts how often that was needed.

At the end the unpaid holds are given time to run out, the schedules ``orders.unpaid-timeout``
and ``inventory.reservation-expiry`` run once more, and the database is checked: every order the
client saw acknowledged exists exactly once (by (channel, external id)), none is lost or
duplicated, no reservation is active past its ``expires_at``, no unpaid order is still open past
its hold, reserved stock equals the open fulfilments, and the ledger balances. Writes
``bench/results/order_crash.json``.
"""

from __future__ import annotations

import argparse
import atexit
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import func, select

from _orders import ROOT, Client, OrderMaker, scratch_database, seed_network, write_result
from zhongtai.app import register_tasks
from zhongtai.auth.models import IdempotencyRecord
from zhongtai.db import Database, utcnow
from zhongtai.inventory import service as inventory
from zhongtai.inventory.models import Reservation, StockBalance
from zhongtai.jobs import SCHEDULES
from zhongtai.live_server import free_port
from zhongtai.orders.models import Fulfilment, FulfilmentLine, Order

HOLD_S = 5
PUSH = "/api/v1/channels/{}/orders"


class Server:
    """``zhongtai serve`` in its own process group, killed with SIGKILL and started again."""

    def __init__(self, url: str, workers: int, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log = log.open("ab")
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            # Compiled modules cached once (outside the tree): a restart does not compile them again.
            "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "zt_crash_pycache"),
            "ZHONGTAI_DATABASE_URL": url,
            "ZHONGTAI_ENV": "dev",
            "ZHONGTAI_RUN_WORKER": "true",
            "ZHONGTAI_WORKER_POLL_S": "0.5",
            "ZHONGTAI_LOG_LEVEL": "WARNING",
            "ZHONGTAI_DB_POOL_SIZE": "20",
            "PYTHONPATH": str(ROOT / "src"),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> float:
        cmd = [sys.executable, "-m", "zhongtai.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--workers", str(self.workers)]
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, env=self.env, start_new_session=True, stdout=self.log, stderr=self.log)
        with httpx.Client(timeout=2, trust_env=False) as http:
            while True:
                with suppress(httpx.HTTPError):
                    if http.get(f"{self.base}/healthz").status_code == 200:
                        break
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.proc.returncode} (log: {self.log.name})")
                if time.monotonic() - t0 > 90:
                    raise RuntimeError("the server did not come up within 90 s")
                time.sleep(0.1)
        self.starts += 1
        return time.monotonic() - t0

    def kill(self) -> None:
        if self.proc is not None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        with suppress(ProcessLookupError):
            if self.proc is not None:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server URL (default local), or 'sqlite'")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", default="2,6", help="seconds between kills: low,high")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    low, high = (float(x) for x in args.kill_every.split(","))
    register_tasks()

    with scratch_database(args.database_url, "zt_crash") as url:
        db = Database(url)
        net = seed_network(db, skus=200, extra_channels=[("flash", "zhongtai", HOLD_S)])
        backend = db.engine.dialect.name
        maker = OrderMaker(net, args.seed)
        rnd = random.Random(args.seed)
        orders: list[tuple[str, dict[str, Any]]] = []
        for i in range(args.orders):
            if rnd.random() < 0.7:
                orders.append(("web", maker.zhongtai(f"CW{i:06d}")))
            else:
                orders.append(("flash", maker.zhongtai(f"CF{i:06d}", status="created")))
        log = Path(tempfile.gettempdir()) / f"zt_crash_server_{os.getpid()}.log"
        server = Server(url, args.workers, log)
        # Interrupted (Ctrl-C, SIGTERM): the server group is killed and the scratch database dropped.
        atexit.register(server.kill)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        server.start()

        lock = threading.Lock()
        todo = iter(range(len(orders)))
        acked: dict[str, int] = {}  # external id -> the status that acknowledged it
        counts: Counter[str] = Counter()
        problems: list[str] = []
        done = threading.Event()
        kills: list[dict[str, float]] = []
        started = time.monotonic()

        def client() -> None:
            http = Client(server.base, timeout=30)
            while True:
                with lock:
                    i = next(todo, None)
                if i is None:
                    break
                channel, body = orders[i]
                ext = body["external_id"]
                generation = 0
                first_sent_at_start = server.starts
                tries = 0
                while True:
                    tries += 1
                    headers = {"Authorization": f"Bearer {net.keys[channel]}", "Idempotency-Key": f"{ext}#{generation}"}
                    code, out = http.post(PUSH.format(channel), body, headers)
                    if code in (200, 201):
                        with lock:
                            acked[ext] = code
                            counts[f"answer_{code}"] += 1
                        break
                    reason = out.get("code") if isinstance(out, dict) else None
                    with lock:
                        counts["connection_errors" if code == -1 else f"retry_{code}_{reason}"] += 1
                    if code == 409 and reason == "idempotency_key_in_progress":
                        if server.starts > first_sent_at_start or tries > 100:
                            # The request that claimed this key died with the server: the claim
                            # stays pending until the key expires. A new key for the same order.
                            generation += 1
                            first_sent_at_start = server.starts
                            with lock:
                                counts["key_rotations"] += 1
                            continue
                    elif code not in (-1, 409, 500, 502, 503, 504):
                        with lock:
                            problems.append(f"{ext}: {code} {str(out)[:300]}")
                        break
                    time.sleep(0.1 + 0.2 * rnd.random())
            http.close()

        def killer() -> None:
            krnd = random.Random(args.seed + 1)
            while not done.wait(krnd.uniform(low, high)):
                at = time.monotonic() - started
                server.kill()
                took = server.start()
                kills.append({"at_s": round(at, 2), "restart_s": round(took, 2)})

        threads = [threading.Thread(target=client, daemon=True) for _ in range(args.clients)]
        k = threading.Thread(target=killer, daemon=True)
        for t in threads:
            t.start()
        k.start()
        last = 0
        while any(t.is_alive() for t in threads):
            time.sleep(5)
            n = len(acked)
            print(f"  {time.monotonic() - started:6.1f}s: {n} acknowledged (+{n - last}), {len(kills)} kills")
            last = n
        done.set()
        k.join()
        elapsed = time.monotonic() - started
        print(f"{len(acked)} orders acknowledged in {elapsed:.1f}s through {len(kills)} SIGKILLs")

        # Let every unpaid hold run out, run the expiry schedules once more, then stop the server.
        time.sleep(HOLD_S + 2)
        expired = {}
        for name in ("orders.unpaid-timeout", "inventory.reservation-expiry"):
            total = 0
            while (n := int(SCHEDULES[name].run(db) or 0)) > 0:  # type: ignore[call-overload]
                total += n
            expired[name] = total
        server.stop()
        now = utcnow()

        with db.transaction(write=False) as s:
            found = Counter((str(r[0]), str(r[1])) for r in s.execute(select(Order.channel_code, Order.external_id)))
            leaked = s.scalar(
                select(func.count())
                .select_from(Reservation)
                .where(Reservation.status == "active", Reservation.expires_at < now)
            )
            unpaid_open = s.scalar(
                select(func.count())
                .select_from(Order)
                .where(Order.payment_status == "unpaid", Order.pay_by < now, Order.status.not_in(("cancelled",)))
            )
            reserved = {(b.sku_id, b.location_id): b.reserved for b in s.scalars(select(StockBalance)) if b.reserved}
            want: Counter[tuple[int, int]] = Counter()
            rows = s.execute(
                select(FulfilmentLine.sku_id, Fulfilment.location_id, FulfilmentLine.quantity - FulfilmentLine.shipped)
                .join(Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
                .where(Fulfilment.status.in_(("routed", "picking", "packed")))
            )
            for sku_id, loc_id, q in rows:
                want[(int(sku_id), int(loc_id))] += int(q)
            reserved_matches = reserved == {k: v for k, v in want.items() if v}
            ledger = inventory.check_ledger(s)
            pending_keys = s.scalar(
                select(func.count()).select_from(IdempotencyRecord).where(IdempotencyRecord.state == "pending")
            )
            statuses = Counter(str(x) for x in s.scalars(select(Order.status)))
        db.dispose()

        sent = {(ch, b["external_id"]) for ch, b in orders}
        acked_keys = {(ch, b["external_id"]) for ch, b in orders if b["external_id"] in acked}
        exactly_once = sum(1 for key in acked_keys if found[key] == 1)
        duplicates = sum(c - 1 for c in found.values() if c > 1)
        lost = sum(1 for key in acked_keys if found[key] == 0)
        unacked_but_stored = sum(1 for key in set(found) - acked_keys if key in sent)
        figures = {
            "acknowledged": len(acked_keys),
            "found_exactly_once": exactly_once,
            "duplicates": duplicates,
            "lost": lost,
            "leaked_reservations": int(leaked or 0),
        }
        print(f"figures: {figures}")
        print(
            f"unpaid orders open past their hold: {unpaid_open}; reserved == open fulfilments: {reserved_matches};"
            f" ledger balanced: {not ledger}; idempotency keys left pending: {pending_keys};"
            f" key rotations: {counts['key_rotations']}; problems: {len(problems)}"
        )
        result = {
            "figures": figures,
            "kills": len(kills),
            "params": {
                "orders": args.orders,
                "clients": args.clients,
                "uvicorn_workers": args.workers,
                "kill_every_s": [low, high],
                "unpaid_hold_s": HOLD_S,
                "mix": "70 % paid on web, 30 % unpaid on flash (5 s hold)",
                "cpus": os.cpu_count(),
            },
            "backend": backend,
            "detail": {
                "elapsed_s": round(elapsed, 1),
                "orders_per_s_through_crashes": round(len(acked) / elapsed, 1),
                "sent": len(sent),
                "stored_but_never_acknowledged": unacked_but_stored,
                "unpaid_open_past_hold": int(unpaid_open or 0),
                "reserved_equals_open_fulfilments": reserved_matches,
                "ledger_balanced": not ledger,
                "idempotency_keys_left_pending": int(pending_keys or 0),
                "client_counts": dict(counts),
                "final_schedule_runs": expired,
                "order_statuses": dict(statuses),
                "problems": problems[:20],
                "kill_log": kills,
                "server_log": str(log),
            },
        }
        path = write_result("order_crash", result)
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
