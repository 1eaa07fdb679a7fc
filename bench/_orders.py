"""Shared pieces of the order benchmarks (``order_intake``, ``order_crash``, ``olist_replay``).

* ``scratch_database``: a fresh PostgreSQL database on the given server (created, schema made,
  dropped at the end) or a temporary SQLite file.
* ``seed_network``: a generated retailer seeded through the service layer: a central DC in Wuhan,
  four regional DCs, ~50 stores around real Chinese city centres, ~200 SKUs with stock, the
  channels ``web`` (Zhongtai shape) and ``tmall`` (TOP-style marketplace trades) and their keys.
* ``OrderMaker``: random orders in either shape (single- and multi-line; express, same-city,
  click & collect).
* ``Client``: one keep-alive ``http.client`` connection (a load generator that shares two cores with
  the server must spend as little CPU as it can), reconnecting when the server drops it.
* ``pgbench``: TPC-B on a scratch database, for a machine-independent ratio.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from zhongtai.auth import service as auth_service  # noqa: E402
from zhongtai.auth.principal import Principal  # noqa: E402
from zhongtai.catalog import service as catalog  # noqa: E402
from zhongtai.channels import service as channels  # noqa: E402
from zhongtai.db import Base, Database  # noqa: E402
from zhongtai.inventory import service as inventory  # noqa: E402
from zhongtai.inventory.schemas import LocationIn, StockLineIn  # noqa: E402
from zhongtai.models_registry import import_all_models  # noqa: E402

SYSTEM = Principal.system("bench")
RESULTS = ROOT / "bench" / "results"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"

# city -> (province, region, latitude, longitude, stores)
CITIES: dict[str, tuple[str, str, float, float, int]] = {
    "上海市": ("上海市", "华东", 31.2304, 121.4737, 8),
    "北京市": ("北京市", "华北", 39.9042, 116.4074, 7),
    "广州市": ("广东省", "华南", 23.1291, 113.2644, 5),
    "深圳市": ("广东省", "华南", 22.5431, 114.0579, 5),
    "杭州市": ("浙江省", "华东", 30.2741, 120.1551, 4),
    "成都市": ("四川省", "西南", 30.5728, 104.0668, 4),
    "重庆市": ("重庆市", "西南", 29.5630, 106.5516, 3),
    "武汉市": ("湖北省", "华中", 30.5928, 114.3055, 3),
    "南京市": ("江苏省", "华东", 32.0603, 118.7969, 3),
    "西安市": ("陕西省", "西北", 34.3416, 108.9398, 3),
    "天津市": ("天津市", "华北", 39.3434, 117.3616, 2),
    "苏州市": ("江苏省", "华东", 31.2989, 120.5853, 3),
}
# Delivery points in cities without a store: express only.
ELSEWHERE: dict[str, tuple[str, str, float, float]] = {
    "郑州市": ("河南省", "华中", 34.7466, 113.6253),
    "长沙市": ("湖南省", "华中", 28.2282, 112.9388),
    "沈阳市": ("辽宁省", "东北", 41.8057, 123.4315),
    "昆明市": ("云南省", "西南", 25.0389, 102.7183),
}
DCS = (
    ("DC-WH", "central_dc", "武汉市", 30.6705, 114.1325),
    ("RDC-EC", "regional_dc", "苏州市", 31.4325, 120.6420),
    ("RDC-SC", "regional_dc", "广州市", 23.0580, 113.5900),
    ("RDC-SW", "regional_dc", "成都市", 30.5505, 103.9535),
    ("RDC-NC", "regional_dc", "天津市", 39.2000, 117.1000),
)


# ================================================================ databases


def pg_urls(url: str, name: str) -> tuple[str, str]:
    """(maintenance database URL, scratch database URL) on the server of ``url``."""
    base = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)
    head, _, tail = base.partition("?")
    server = head.rsplit("/", 1)[0]
    query = f"?{tail}" if tail else ""
    return f"{server}/postgres{query}", f"{server}/{name}{query}"


def admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@contextmanager
def scratch_database(url: str | None, prefix: str) -> Iterator[str]:
    """A fresh database with the schema: on the PostgreSQL server of ``url`` (a new database
    ``<prefix>_<pid>``, dropped at the end), or, for ``url`` "sqlite", a temporary SQLite file."""
    import_all_models()
    tmpdir = None
    admin_url = ""
    name = f"{prefix}_{os.getpid()}"
    if url in (None, "") or str(url).startswith("postgres"):
        admin_url, scratch = pg_urls(url or DEFAULT_PG, name)
        admin(admin_url, f'CREATE DATABASE "{name}"')
    else:
        tmpdir = tempfile.mkdtemp(prefix=f"{prefix}_")
        scratch = f"sqlite:///{tmpdir}/bench.db"
    try:
        db = Database(scratch)
        Base.metadata.create_all(db.engine)
        db.dispose()
        yield scratch
    finally:
        if admin_url:
            admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        elif tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


# ================================================================ the generated retailer


@dataclass
class Network:
    skus: list[str]
    prices: dict[str, int]  # fen
    stores: dict[str, str]  # code -> city
    keys: dict[str, str]  # channel -> API key secret
    popularity: list[float] = field(default_factory=list)


def _jitter(rnd: random.Random, lat: float, lon: float, sigma_km: float) -> tuple[float, float]:
    dlat = rnd.gauss(0, sigma_km) / 111.0
    dlon = rnd.gauss(0, sigma_km) / (111.0 * math.cos(math.radians(lat)))
    return round(lat + dlat, 5), round(lon + dlon, 5)


def seed_network(
    db: Database,
    *,
    skus: int = 200,
    seed: int = 7,
    dc_units: int = 1_000_000,
    store_units: tuple[int, int] = (5, 40),
    extra_channels: Sequence[tuple[str, str, int]] = (),
) -> Network:
    """Locations, SKUs, stock and channels through the service verbs. Every DC holds every SKU
    (``dc_units`` each); a store holds a random popular part of the range (``store_units``).
    ``extra_channels``: (code, adapter, unpaid_hold_s)."""
    rnd = random.Random(seed)
    codes = [f"SKU{i:04d}" for i in range(skus)]
    prices = {c: rnd.choice((1_990, 4_990, 9_900, 19_900, 59_900, 199_900, 399_900)) for c in codes}
    stores: dict[str, str] = {}
    with db.transaction() as s:
        for code, adapter, hold in (("web", "zhongtai", 1800), ("tmall", "marketplace", 1800), *extra_channels):
            ch = channels.create_channel(s, SYSTEM, code=code, name=code, kind="web_shop")
            # Set on the row (as the tests' world does): works whatever create_channel accepts.
            ch.adapter = adapter
            ch.unpaid_hold_s = hold
        catalog.create_category(s, SYSTEM, code="3c", name="数码")
        catalog.create_spu(s, SYSTEM, code="BENCH", name="基准商品", category_code="3c")
        for c in codes:
            catalog.create_sku(
                s,
                SYSTEM,
                spu_code="BENCH",
                code=c,
                name=f"商品 {c}",
                list_price_fen=prices[c],
                sale_price_fen=prices[c],
                unit_cost_fen=prices[c] // 2,
                lifecycle="on_sale",
            )
        for code, kind, city, lat, lon in DCS:
            province, region = CITIES[city][0], CITIES[city][1]
            data = LocationIn.model_validate(
                {
                    "code": code,
                    "name": code,
                    "type": kind,
                    "province": province,
                    "city": city,
                    "region": region,
                    "latitude": lat,
                    "longitude": lon,
                }
            )
            inventory.create_location(s, SYSTEM, data)
        n = 0
        for city, (province, region, lat, lon, count) in CITIES.items():
            for _ in range(count):
                n += 1
                code = f"S{n:03d}"
                slat, slon = _jitter(rnd, lat, lon, 6.0)
                data = LocationIn.model_validate(
                    {
                        "code": code,
                        "name": f"{city}店 {n}",
                        "type": "store",
                        "province": province,
                        "city": city,
                        "region": region,
                        "latitude": slat,
                        "longitude": slon,
                    }
                )
                inventory.create_location(s, SYSTEM, data)
                stores[code] = city
    for code, *_ in DCS:
        with db.transaction() as s:
            lines = [StockLineIn(sku_code=c, quantity=dc_units) for c in codes]
            inventory.receive_stock(s, SYSTEM, location_code=code, lines=lines, reason="bench stock")
    popularity = [1.0 / (k + 1) ** 0.9 for k in range(skus)]
    for store in stores:
        held = [c for k, c in enumerate(codes) if rnd.random() < 0.05 + 0.5 * (popularity[k] / popularity[0]) ** 0.5]
        with db.transaction() as s:
            lines = [StockLineIn(sku_code=c, quantity=rnd.randint(*store_units)) for c in held]
            inventory.receive_stock(s, SYSTEM, location_code=store, lines=lines, reason="bench stock")
    keys: dict[str, str] = {}
    with db.transaction() as s:
        for code, *_ in (("web",), ("tmall",), *extra_channels):
            keys[code] = auth_service.create_api_key(
                s, SYSTEM, name=f"bench {code}", role="integrator", channel_code=code
            ).secret
    return Network(codes, prices, stores, keys, popularity)


# ================================================================ orders


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


class OrderMaker:
    """Random orders: 60 % one line, else 2-4 lines of 1-2 units, SKUs by a Zipf-like
    popularity; express 75 % (a tenth to cities without a store), same-city 15 % (a point near a
    store city's centre), click & collect 10 % (at a random store)."""

    def __init__(self, net: Network, seed: int) -> None:
        self.net = net
        self.rnd = random.Random(seed)
        self.store_codes = sorted(net.stores)

    def lines(self) -> list[tuple[str, int]]:
        n = 1 if self.rnd.random() < 0.6 else self.rnd.randint(2, 4)
        picked = self.rnd.choices(self.net.skus, weights=self.net.popularity, k=n)
        return [(s, self.rnd.randint(1, 2)) for s in dict.fromkeys(picked)]

    def mode(self) -> str:
        r = self.rnd.random()
        return "express" if r < 0.75 else ("same_city" if r < 0.90 else "click_collect")

    def point(self, mode: str) -> dict[str, Any]:
        if mode == "express" and self.rnd.random() < 0.1:
            city = self.rnd.choice(sorted(ELSEWHERE))
            province, _, lat, lon = ELSEWHERE[city]
        else:
            city = self.rnd.choice(sorted(CITIES))
            province, _, lat, lon, _ = CITIES[city]
        plat, plon = _jitter(self.rnd, lat, lon, 2.0 if mode == "same_city" else 8.0)
        return {"province": province, "city": city, "address": "某路 1 号", "latitude": plat, "longitude": plon}

    def zhongtai(self, ext: str, *, status: str = "paid", on_short: str = "backorder") -> dict[str, Any]:
        lines = self.lines()
        mode = self.mode()
        body: dict[str, Any] = {
            "external_id": ext,
            "status": status,
            "delivery_mode": mode,
            "on_short": on_short,
            "lines": [{"sku_code": s, "quantity": q, "unit_price_fen": self.net.prices[s]} for s, q in lines],
            "buyer": {"phone": f"138{self.rnd.randint(0, 99_999_999):08d}", "name": "张三"},
        }
        if mode == "click_collect":
            body["store_code"] = self.rnd.choice(self.store_codes)
        else:
            body["address"] = {"name": "张三", "phone": body["buyer"]["phone"], **self.point(mode)}
        if status == "paid":
            body["paid_fen"] = sum(self.net.prices[s] * q for s, q in lines)
        return body

    def marketplace(self, tid: str, *, status: str = "WAIT_SELLER_SEND_GOODS") -> dict[str, Any]:
        lines = self.lines()
        mode = self.mode()
        total = sum(self.net.prices[s] * q for s, q in lines)
        body: dict[str, Any] = {
            "tid": tid,
            "status": status,
            "created": "2026-11-11 00:00:03",
            "pay_time": None if status == "WAIT_BUYER_PAY" else "2026-11-11 00:00:09",
            "buyer_open_uid": f"AAH{self.rnd.randint(0, 10**9)}",
            "receiver_name": "李四",
            "receiver_mobile": f"139{self.rnd.randint(0, 99_999_999):08d}",
            "payment": yuan(total),
            "post_fee": "0.00",
            "discount_fee": "0.00",
            "shipping_type": {"express": "express", "same_city": "instant", "click_collect": "selfpick"}[mode],
            "orders": [
                {"oid": f"{tid}-{i}", "outer_sku_id": s, "num": q, "price": yuan(self.net.prices[s])}
                for i, (s, q) in enumerate(lines)
            ],
        }
        if mode == "click_collect":
            body["store_code"] = self.rnd.choice(self.store_codes)
            point = self.point("express")
        else:
            point = self.point(mode)
            body["receiver_lat"] = str(point["latitude"])
            body["receiver_lng"] = str(point["longitude"])
        body.update(receiver_state=point["province"], receiver_city=point["city"], receiver_address=point["address"])
        return body


# ================================================================ HTTP


class Client:
    """One keep-alive connection; ``post`` returns (status, parsed JSON body), or (-1, error)
    when the connection failed (it is reopened for the next call)."""

    def __init__(self, base: str, timeout: float = 60) -> None:
        parsed = urlsplit(base)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            sent = {**headers, "Content-Type": "application/json"}
            self.conn.request("POST", path, body=json.dumps(body), headers=sent)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return -1, {"error": repr(exc)}
        try:
            return resp.status, json.loads(raw or b"null")
        except ValueError:
            return resp.status, {"raw": raw[:200].decode(errors="replace")}

    def close(self) -> None:
        if self.conn is not None:
            with suppress(Exception):
                self.conn.close()
            self.conn = None


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


# ================================================================ pgbench


def pgbench(server_url: str, clients: int = 8, threads: int = 2, seconds: int = 20) -> dict[str, Any]:
    """``pgbench -i -s 10`` on a scratch database of the server, then TPC-B for ``seconds``."""
    exe = shutil.which("pgbench") or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)), None
    )
    if exe is None:
        return {"skipped": "pgbench not found"}
    name = f"zt_pgbench_{os.getpid()}"
    admin_url, url = pg_urls(server_url, name)
    admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        subprocess.run([exe, "-i", "-s", "10", "-q", url], check=True, capture_output=True, timeout=600)
        run = subprocess.run(
            [exe, "-c", str(clients), "-j", str(threads), "-T", str(seconds), url],
            check=True,
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        )
    finally:
        admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", run.stdout) or re.search(
        r"tps = ([\d.]+)", run.stdout
    )
    return {
        "tps": float(match.group(1)) if match else None,
        "command": f"pgbench -c {clients} -j {threads} -T {seconds} (scale 10)",
        "output": run.stdout.strip().splitlines()[-3:],
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    return path
