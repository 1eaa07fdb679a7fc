"""Speed and accuracy of the bot's entity extraction (``zhongtai.service.entities``) on a catalog
of about 3,000 SKUs.

    python bench/cs_entities.py [--data ../shared/data] [--copies 10]

The catalog is the demo retailer's (``zhongtai.demo.catalog_data``, 310 SKUs) repeated
``--copies`` times with every model number shifted per copy (Q60 → Q160, Q260 ...), so the index
holds as many distinct products, aliases and barcodes as a 3,000-SKU retailer's; it is built in
memory, the same ``CatalogIndex`` ``catalog_index(session)`` builds from the catalog service.

* latency: ``extract`` over a set of realistic customer messages (product questions, orders,
  phones, dates, chatter), median and p95 per message, and the time to build the index;
* product recall: for every product of the first copy, messages naming it as customers do
  ("云启 Q60 Pro 多少钱", "q60pro有货吗", "Yunqi Q60 Pro", one typo in the brand) must yield
  that product's SKU first;
* false products: the share of SMP2017-ECDT dev utterances (an assistant's users, no products of
  this catalog) in which a product is found.

Writes ``bench/results/cs_entities.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import time
from pathlib import Path

import polars as pl

from zhongtai.catalog.service import SearchIndexRow
from zhongtai.demo.catalog_data import build_catalog
from zhongtai.service.entities import AttributeInfo, CatalogIndex, extract

ROOT = Path(__file__).resolve().parent.parent

MESSAGES = [
    "云启Q60 Pro多少钱",
    "q60 pro和q60有什么区别",
    "云起Q60 Pro 12+256 冰川白有货吗",
    "我想买个手机，有什么推荐",
    "我的订单ZT261203ABCD1234到哪了，怎么还没到啊",
    "BookPro 14 的电池多大",
    "这个吹风机保修多久，坏了怎么办",
    "你好",
    "昨天买的X9 pro马桶漏水了，我要退货，电话13812345678",
    "https://item.jd.com/6922337241915.html 这个有货吗",
    "上周五下的单，订单号 250612345678，买了两台",
    "SN: C02XK1ABJG5H 还在保修吗",
    "Watch 4 Pro 和 Band 9 哪个续航好",
    "R10 Max 的吸力多大，能扫地毯吗",
    "有没有适合 Pad 12 Pro 的键盘",
]


def _shift(text: str, copy: int) -> str:
    """Every number of a model (right after a letter, or a letter and a space) grows by 100 per
    copy: a distinct model per copy ("Q60 Pro" → "Q160 Pro", "Watch 4" → "Watch 104")."""
    if copy == 0:
        return text
    return re.sub(r"(?<=[A-Za-z])(\d+)|(?<=[A-Za-z] )(\d+)(?![\d.])", lambda m: str(int(m.group()) + 100 * copy), text)


def catalog(copies: int) -> tuple[CatalogIndex, list[SearchIndexRow], float]:
    plan = build_catalog(7, "full")
    spus = {s.code: s for s in plan.spus}
    brands = {b.code: b for b in plan.brands}
    cats = {c.code: c for c in plan.categories}
    rows: list[SearchIndexRow] = []
    for k in range(copies):
        for sku in plan.skus:
            spu = spus[sku.spu_code]
            brand, cat = brands[spu.brand_code], cats[spu.category_code]
            model = str(dict(spu.parameters).get("model", ""))
            rows.append(
                SearchIndexRow(
                    code=sku.code if k == 0 else f"{sku.code}-{k}",
                    name=_shift(sku.name, k),
                    name_en=_shift(sku.name_en, k),
                    spu_code=spu.code if k == 0 else f"{spu.code}-{k}",
                    spu_name=_shift(spu.name, k),
                    spu_name_en=_shift(spu.name_en, k),
                    brand_name=brand.name,
                    brand_name_en=brand.name_en,
                    category_name=cat.name,
                    category_name_en=cat.name_en,
                    model=_shift(model, k),
                    lifecycle=sku.lifecycle,
                    sale_attributes=dict(sku.sale_attributes),
                    barcodes=tuple(b if k == 0 else f"{k}{b[1:]}" for b in sku.barcodes),
                )
            )
    attrs = [AttributeInfo(a.code, a.name, a.name_en, a.unit) for a in plan.attributes]
    started = time.perf_counter()
    index = CatalogIndex(rows, attrs)
    return index, rows, time.perf_counter() - started


def recall_messages(rows: list[SearchIndexRow]) -> list[tuple[str, str]]:
    """(message, expected SPU code) for the first copy's products that have a model."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for r in rows:
        if r.spu_code in seen or not r.model or "-" in r.spu_code.removeprefix("YQ-").removeprefix("JG-"):
            continue
        seen.add(r.spu_code)
        brand, model = r.brand_name, r.model
        out.append((f"{brand} {model} 多少钱", r.spu_code))
        out.append((f"{model.replace(' ', '').lower()}有货吗", r.spu_code))
        out.append((f"{r.brand_name_en} {model} available?", r.spu_code))
        out.append((f"请问{r.spu_name}怎么样", r.spu_code))
        typo = ("云起" if brand == "云启" else brand[:-1] + "记") + model  # one wrong character
        out.append((f"{typo}能便宜点吗", r.spu_code))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--copies", type=int, default=10)
    args = parser.parse_args()

    index, rows, build_seconds = catalog(args.copies)
    for m in MESSAGES:  # warm up (jieba-free, but OpenCC's dictionaries load on first use)
        extract(m, index)
    # Wall time and this thread's CPU time: on a shared machine the wall time's tail is other
    # processes' (the load average is recorded beside it), the CPU time is extract's own.
    timings: list[float] = []
    cpu: list[float] = []
    load_before = os.getloadavg()[0]
    for _ in range(30):
        for m in MESSAGES:
            started, started_cpu = time.perf_counter(), time.thread_time()
            extract(m, index)
            cpu.append((time.thread_time() - started_cpu) * 1000)
            timings.append((time.perf_counter() - started) * 1000)
    load_after = os.getloadavg()[0]
    timings.sort()
    cpu.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    cpu_p95 = cpu[int(len(cpu) * 0.95) - 1]

    cases = recall_messages(rows)
    hits = 0
    misses: list[str] = []
    for text, spu in cases:
        found = extract(text, index).skus
        if found and found[0].spu_code == spu:
            hits += 1
        else:
            misses.append(f"{text} → {[m.spu_code for m in found]} (want {spu})")

    smp = pl.read_parquet(args.data / "smp2017_ecdt_intent" / "dev.parquet")["query"].to_list()
    false_products = [q for q in smp if extract(q, index).skus]

    print(f"catalog: {index.sku_count()} SKUs, {len(index.products)} products, {len(index.aliases)} aliases")
    print(f"index build {build_seconds:.2f} s; extract median {statistics.median(timings):.3f} ms, p95 {p95:.3f} ms")
    print(f"extract CPU time: median {statistics.median(cpu):.3f} ms, p95 {cpu_p95:.3f} ms (load {load_before:.1f})")
    print(f"product recall {hits}/{len(cases)}; misses: {misses[:10]}")
    print(f"SMP2017 dev utterances with a product: {len(false_products)}/{len(smp)} {false_products[:10]}")
    result = {
        "figures": {
            "skus": index.sku_count(),
            "extract_median_ms": round(statistics.median(timings), 4),
            "extract_p95_ms": round(p95, 4),
            "extract_cpu_median_ms": round(statistics.median(cpu), 4),
            "extract_cpu_p95_ms": round(cpu_p95, 4),
            "index_build_s": round(build_seconds, 3),
            "product_recall": round(hits / len(cases), 6),
            "smp2017_dev_false_product_rate": round(len(false_products) / len(smp), 6),
        },
        "params": {
            "copies": args.copies,
            "products": len(index.products),
            "aliases": len(index.aliases),
            "messages_timed": len(timings),
            "load_average_1min": [round(load_before, 2), round(load_after, 2)],
            "recall_messages": len(cases),
            "recall_misses": misses[:20],
            "smp2017_dev_utterances": len(smp),
            "smp2017_false_products": false_products[:20],
            "command": "python bench/cs_entities.py --data ../shared/data",
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
    }
    out = ROOT / "bench" / "results" / "cs_entities.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result["figures"]))


if __name__ == "__main__":
    main()
