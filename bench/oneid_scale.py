"""OneID at scale: time and peak memory to stitch a million identity records, deterministic and
probabilistic, with ``members.batch.stitch`` (in process; DuckDB for Splink).

    python bench/oneid_scale.py [--records 1000000] [--seed 11] [--no-probabilistic]

The records are generated (seeded) to look like a retailer's channels:

* people have 1-4 records (40/30/20/10 %), each on a different channel: store POS (phone, a store
  card for half of them), the mini-program (WeChat unionid, the phone for 60 %), the web shop
  (e-mail, the phone for 60 %), JD (buyer pin, the phone for 50 %) and Tmall (buyer uid, the phone
  for 35 %): about 1.5 strong identifiers a record;
* one person in ten has a second mobile; their records use it a fifth of the time, and a few POS
  records carry both (so the two numbers join);
* weak attributes: the Chinese full name (8 % with one character typed wrong, 4 % missing), the
  birthday (POS 70 %, mini-program 40 %, others 10 %; 2 % off by a day or with month and day
  swapped), the city (80 %), the delivery address and postcode (web, JD, Tmall: 90 %);
* 40 store phones: 0.4 % of POS records carry the store's own phone with the customer's card
  (the clerk typed the shop's number); each such phone meets many cards and must be quarantined by
  the guard rail, not glue hundreds of people together.

The truth (person of each record) gives pairwise precision / recall of the result. ``seconds`` is
the wall time of ``stitch``; ``peak_rss_mb`` the process's peak resident memory (ru_maxrss),
generation included; the breakdown gives each step's seconds (the ``progress`` callback).
Prints the figures and writes ``bench/results/oneid_scale.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import resource
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import polars as pl  # noqa: E402

from zhongtai.members import batch, matching  # noqa: E402
from zhongtai.members.identifiers import IdentifierIn, IdKind, WeakKind  # noqa: E402
from zhongtai.members.records import PersonRecord  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "oneid_scale.json"

# Common surnames, most common first (they are drawn with a long-tailed weight).
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国文辉力鹏飞宇轩浩然子涵欣怡梓萱佳琪一诺雨桐思远"
    "晨曦嘉懿婉清亦菲博文俊熙皓轩梦琪心怡欣妍晓东云峰海燕志强丹琳玉兰春梅立新振华红梅淑芬雅婷诗雨若曦安琪"
)
# A look- or sound-alike typed instead (an input method's other candidate).
TYPO = dict(
    zip("张王李刘陈杨黄吴周徐伟静丽敏杰娟涛鹏飞轩欣怡琪", "章汪黎留程阳皇武舟许玮晶莉民洁鹃韬朋菲萱馨宜淇", strict=True)
)
CITIES = (
    ("上海市", "200", 26),
    ("北京市", "100", 24),
    ("广州市", "510", 20),
    ("深圳市", "518", 20),
    ("杭州市", "310", 14),
    ("成都市", "610", 16),
    ("重庆市", "400", 14),
    ("武汉市", "430", 14),
    ("南京市", "210", 14),
    ("西安市", "710", 12),
    ("天津市", "300", 12),
    ("苏州市", "215", 14),
)
STREETS = (
    "人民路",
    "中山路",
    "解放路",
    "建设路",
    "和平路",
    "新华路",
    "胜利路",
    "青年路",
    "长江路",
    "科技路",
    "文化路",
    "花园路",
    "滨江大道",
    "世纪大道",
)
COMPOUNDS = (
    "阳光花园",
    "碧桂园",
    "万科城",
    "绿地世纪城",
    "保利香槟",
    "龙湖天街",
    "华润悦府",
    "翠湖苑",
    "御景园",
    "星河湾",
    "金色家园",
    "东方名苑",
)
CHANNELS = ("pos", "miniapp", "web", "jd", "tmall")
CHANNEL_WEIGHTS = (40, 25, 12, 13, 10)
RECORDS_PER_PERSON = ((1, 40), (2, 30), (3, 20), (4, 10))
STORE_PHONES = 40
STORE_PHONE_SHARE = 0.004


def _surname(rng: random.Random) -> str:
    return SURNAMES[min(int(rng.expovariate(1 / 14)), len(SURNAMES) - 1)]


def _given(rng: random.Random) -> str:
    n = 1 if rng.random() < 0.2 else 2
    return "".join(GIVEN[min(int(rng.expovariate(1 / 40)), len(GIVEN) - 1)] for _ in range(n))


def _typo(rng: random.Random, name: str) -> str:
    spots = [i for i, ch in enumerate(name) if ch in TYPO]
    if not spots:
        return name[:-1] + rng.choice(GIVEN) if len(name) > 2 else name
    i = rng.choice(spots)
    return name[:i] + TYPO[name[i]] + name[i + 1 :]


def _token(rng: random.Random, n: int) -> str:
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=n))


def generate(records: int, seed: int) -> tuple[list[PersonRecord], list[int]]:
    """``records`` identity records (ids 1..records) and each one's person."""
    rng = random.Random(f"oneid-scale-{seed}")
    out: list[PersonRecord] = []
    truth: list[int] = []
    counts, weights = zip(*RECORDS_PER_PERSON, strict=True)
    city_weights = [c[2] for c in CITIES]
    # Mobile numbers, distinct by construction: people's 13x/14x/15x/17x/19x (the person's index spread
    # over the number space), second phones 166, store phones 18x.
    store_phones = [IdentifierIn(IdKind.PHONE, f"+8618{i * 24_999_983 % 10**9:09d}") for i in range(STORE_PHONES)]
    base = date(1950, 1, 1)
    person = 0
    while len(out) < records:
        person += 1
        surname, given = _surname(rng), _given(rng)
        name = surname + given
        born = base + timedelta(days=rng.randrange(20_000))
        city, prefix, _ = rng.choices(CITIES, weights=city_weights)[0]
        address = (
            f"{rng.choice(STREETS)}{rng.randrange(1, 999)}号{rng.choice(COMPOUNDS)}"
            f"{rng.randrange(1, 30)}栋{rng.randrange(1, 5)}单元{rng.randrange(1, 33)}0{rng.randrange(1, 7)}室"
        )
        postcode = prefix + f"{rng.randrange(1000):03d}"
        phone = IdentifierIn(IdKind.PHONE, f"+861{'34579'[person % 5]}{person * 7_919 % 10**9:09d}")
        phone2 = (
            IdentifierIn(IdKind.PHONE, f"+86166{(person * 104_729 + 17) % 10**8:08d}") if rng.random() < 0.1 else None
        )
        email = IdentifierIn(IdKind.EMAIL, f"u{person}.{_token(rng, 4)}@example.cn")
        unionid = IdentifierIn(IdKind.UNIONID, f"o{person:09d}{_token(rng, 8)}")
        n = min(rng.choices(counts, weights=weights)[0], records - len(out))
        channels: list[str] = []
        while len(channels) < n:
            c = rng.choices(CHANNELS, weights=CHANNEL_WEIGHTS)[0]
            if c not in channels:
                channels.append(c)
        for channel in channels:
            mobile = phone2 if phone2 is not None and rng.random() < 0.2 else phone
            ids: list[IdentifierIn] = []
            if channel == "pos":
                card = IdentifierIn(IdKind.CARD, f"C{len(out) + 1:09d}") if rng.random() < 0.5 else None
                if card is not None and rng.random() < STORE_PHONE_SHARE / 0.5:
                    ids = [rng.choice(store_phones), card]
                else:
                    ids = [mobile] + ([card] if card else [])
                    if phone2 is not None and rng.random() < 0.25:
                        ids.append(phone2 if mobile is phone else phone)
            elif channel == "miniapp":
                ids = [unionid] + ([mobile] if rng.random() < 0.6 else [])
            elif channel == "web":
                ids = [email] + ([mobile] if rng.random() < 0.6 else [])
            elif channel == "jd":
                ids = [IdentifierIn(IdKind.JD_PIN, f"jd_{person}{_token(rng, 6)}")]
                ids += [mobile] if rng.random() < 0.5 else []
            else:
                ids = [IdentifierIn(IdKind.TMALL_UID, f"t{person}{_token(rng, 6)}")]
                ids += [mobile] if rng.random() < 0.35 else []
            attrs: dict[WeakKind, str] = {}
            r = rng.random()
            if r >= 0.04:
                attrs[WeakKind.FULL_NAME] = _typo(rng, name) if r > 0.92 else name
            if rng.random() < {"pos": 0.7, "miniapp": 0.4}.get(channel, 0.1):
                b = born
                if rng.random() < 0.02:
                    b = b + timedelta(days=1) if rng.random() < 0.5 or b.day > 12 else date(b.year, b.day, b.month)
                attrs[WeakKind.BIRTHDAY] = b.isoformat()
            if rng.random() < 0.8:
                attrs[WeakKind.CITY] = city
            if channel in ("web", "jd", "tmall") and rng.random() < 0.9:
                attrs[WeakKind.ADDRESS] = address
                attrs[WeakKind.POSTCODE] = postcode
            out.append(PersonRecord(str(len(out) + 1), ids, attrs, channel))
            truth.append(person)
    return out, truth


def pairwise(cluster_of: dict[str, str], records: list[PersonRecord], truth: list[int]) -> dict[str, Any]:
    """Pairwise precision and recall from the contingency of (cluster, person), without listing pairs."""
    frame = pl.DataFrame(
        {"cluster": [cluster_of[r.record_id] for r in records], "person": truth},
        schema={"cluster": pl.Utf8, "person": pl.Int64},
    )

    def pairs(*cols: str) -> int:
        n = frame.group_by(*cols).len()["len"].cast(pl.Int64)
        return int((n * (n - 1) // 2).sum())

    tp, predicted, actual = pairs("cluster", "person"), pairs("cluster"), pairs("person")
    precision = tp / predicted if predicted else 1.0
    recall = tp / actual if actual else 1.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
        "persons": frame["person"].n_unique(),
        "clusters": frame["cluster"].n_unique(),
    }


def rss_mb() -> float:
    """Current resident memory (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-probabilistic", dest="probabilistic", action="store_false")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the JSON written")
    args = parser.parse_args()
    load_before = os.getloadavg()

    t0 = time.perf_counter()
    records, truth = generate(args.records, args.seed)
    generate_s = time.perf_counter() - t0
    rss_before = rss_mb()
    identifiers = sum(len(r.identifiers) for r in records)
    print(
        f"generated {len(records):,} records of {truth[-1]:,} people, {identifiers / len(records):.2f} identifiers"
        f" a record, in {generate_s:.1f} s (RSS {rss_before:.0f} MB)"
    )

    steps: list[tuple[str, float]] = []

    def progress(step: str) -> None:
        steps.append((step, time.perf_counter()))
        print(f"  {time.perf_counter() - started:7.1f} s  {step}", flush=True)

    started = time.perf_counter()
    cpu0 = time.process_time()
    result = batch.stitch(records, probabilistic=args.probabilistic, progress=progress)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    steps.append(("end", time.perf_counter()))
    breakdown: dict[str, float] = {}
    for (name, at), (_, nxt) in itertools.pairwise(steps):
        breakdown[name] = round(breakdown.get(name, 0.0) + nxt - at, 2)

    quality = pairwise(result.cluster_of, records, truth)
    figures = {
        "records": len(records),
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(peak),
    }
    summary = {
        "people": truth[-1],
        "identifiers_per_record": round(identifiers / len(records), 3),
        "deterministic_clusters": result.deterministic_clusters,
        "clusters": quality["clusters"],
        "quarantined_identifiers": len(result.quarantined),
        "probabilistic_merges": len(result.merged_pairs),
        "review_pairs": len(result.review_pairs),
        "records_per_second": round(len(records) / seconds),
        "cpu_seconds": round(cpu_seconds, 1),
        "rss_before_stitch_mb": round(rss_before),
        "pairwise": {k: quality[k] for k in ("precision", "recall", "f1")},
    }
    print(
        f"stitched {len(records):,} records in {seconds:.1f} s ({cpu_seconds:.0f} s CPU, peak RSS {peak:.0f} MB):"
        f" {result.deterministic_clusters:,} deterministic clusters, {len(result.merged_pairs):,} probabilistic"
        f" merges, {quality['clusters']:,} members for {truth[-1]:,} people, {len(result.quarantined)} quarantined,"
        f" {len(result.review_pairs):,} review pairs; pairwise P {quality['precision']} R {quality['recall']}"
        f" F1 {quality['f1']}"
    )
    result_json = {
        "figures": figures,
        "summary": summary,
        "breakdown_seconds": breakdown,
        "params": {
            "seed": args.seed,
            "probabilistic": args.probabilistic,
            "match_threshold": matching.MATCH_THRESHOLD,
            "review_threshold": matching.REVIEW_THRESHOLD,
            "records_per_person": "1-4 (40/30/20/10 %)",
            "store_phones": STORE_PHONES,
            "generate_seconds": round(generate_s, 1),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "polars": pl.__version__,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result_json, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
