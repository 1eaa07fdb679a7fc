"""Reply latency of the customer-service bot over HTTP with 100 conversations at once, and replies
per second.

    python bench/cs_load.py [--db URL|PATH] [--pg URL] [--scale full|small] [--conversations 100]
                            [--messages 5] [--think 2-6] [--workers 2] [--seed 42]

The demo retailer (``--db``: an existing demo database; otherwise a fresh one in a temporary SQLite
file, or with ``--pg`` in a scratch database on that PostgreSQL server) is served by ``zhongtai
serve`` (``--workers`` uvicorn processes, ``live_server.serve_in_subprocess``). Then
``--conversations`` customers talk at once (asyncio + httpx, one connection each), each opening a
conversation and sending ``--messages`` messages one after the other:

* half through the web shop's chat widget (a ``chat_widget`` key: anonymous visitors holding the
  conversation token; product, shipping, payment and invoice questions);
* half through the mini-program and JD integrations (an ``integrator`` key per channel, the member
  attached by phone; they also ask about their real orders, logistics, returns and warranties).

The questions are the demo's customer templates (``zhongtai.demo.service_data``) filled from the
demo database; hand-off templates are left out (a few conversations still end with a person:
the bot hands off on negative wording). Two phases, each with fresh conversations:

1. **typing**: after each reply the customer types for a random ``--think`` seconds (2-6) before
   the next message, as people do: the reply latency a customer sees (``p95_ms``). Customers
   arrive within the first think window (all 100 are in conversation at once after it).
2. **back to back**: every customer sends the next message the moment the reply arrives (no
   pause; they arrive within one second): the server's capacity (``replies_per_s``) and the
   latency when it is saturated, which is mostly queueing (100 requests in flight, Little's law).

Two warm-up rounds (8 conversations per worker at once) run first: each server process loads the
published intent model and builds its catalog index on its first message (about 5 s, once per
process and knowledge-base version), which is reported apart (``warmup_first_round_p95_ms``).
Latency: from sending a message to its reply (``POST .../messages`` returns the bot's replies);
``replies_per_s``: the bot's reply messages over the phase's wall time. Writes
``bench/results/cs_load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from rich.console import Console

from cs_dialogues import ROOT, SYSTEM, catch_up_members, demo_database
from zhongtai.auth import service as auth_service
from zhongtai.db import Database, utcnow
from zhongtai.demo.service_data import (
    TEMPLATES,
    Facts,
    PlaceholderError,
    Template,
    fill_conversation,
    needs_of,
)
from zhongtai.demo.service_loader import gather_facts
from zhongtai.live_server import serve_in_subprocess
from zhongtai.service import kb

RESULTS = ROOT / "bench" / "results" / "cs_load.json"
WIDGET_CHANNEL = "web"
MEMBER_CHANNELS = ("miniapp", "jd")


@dataclass(slots=True)
class Customer:
    k: int
    channel: str
    key: str
    phone: str | None
    name: str
    texts: list[str]


@dataclass(slots=True)
class Tally:
    latencies: list[float] = field(default_factory=list)
    start_latencies: list[float] = field(default_factory=list)
    replies: int = 0
    messages: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    handed_off: int = 0


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def customers(facts: Facts, keys: dict[str, str], n: int, messages: int, seed: int) -> list[Customer]:
    """``n`` customers with ``messages`` questions each, half anonymous on the widget, half members."""
    rng = random.Random(seed)
    usable = [t for t in TEMPLATES if t.category not in ("handoff", "unknown")]
    anonymous = [t for t in usable if not needs_of(x for turn in t.turns for x in turn)]
    out = []
    for k in range(n):
        widget = k % 2 == 0
        channel = WIDGET_CHANNEL if widget else MEMBER_CHANNELS[(k // 2) % len(MEMBER_CHANNELS)]
        pool: list[Template] = anonymous if widget else usable
        for attempt in range(50):
            texts: list[str] = []
            while len(texts) < messages:
                t = rng.choices(pool, weights=[x.weight for x in pool])[0]
                texts.extend(rng.choice(turn) for turn in t.turns)
            texts = texts[:messages]
            try:
                filled, member = fill_conversation(facts, texts, seed=(seed, k, attempt), member=not widget)
            except PlaceholderError:
                continue
            break
        else:
            raise RuntimeError(f"could not fill customer {k}'s questions from the demo data")
        out.append(
            Customer(
                k,
                channel,
                keys[channel],
                member.phone if member is not None else None,
                member.name if member is not None else f"访客{k}",
                filled,
            )
        )
    return out


async def converse(
    http: httpx.AsyncClient,
    c: Customer,
    think: tuple[float, float],
    run: str,
    tally: Tally,
    rng: random.Random,
    arrive_within: float,
) -> None:
    # Customers arrive over a short window, not in the same millisecond; they are all in
    # conversation at once all the same (a conversation lasts several of these windows).
    await asyncio.sleep(rng.uniform(0, arrive_within))
    headers = {"Authorization": f"Bearer {c.key}"}
    body: dict[str, Any] = {"customer_ref": f"load-{run}-{c.k}", "customer_name": c.name}
    if c.channel != WIDGET_CHANNEL:
        body["channel_code"] = c.channel
    if c.phone:
        body["member_identifiers"] = [{"kind": "phone", "value": c.phone}]
    t0 = time.perf_counter()
    r = await http.post("/conversations", json=body, headers=headers)
    tally.start_latencies.append(time.perf_counter() - t0)
    tally.statuses[r.status_code] += 1
    if r.status_code != 201:
        tally.errors.append(f"start {r.status_code} {r.text[:200]}")
        return
    started = r.json()
    public_id = started["public_id"]
    if started.get("token"):
        headers["X-Conversation-Token"] = started["token"]
    for text in c.texts:
        t0 = time.perf_counter()
        r = await http.post(f"/conversations/{public_id}/messages", json={"text": text}, headers=headers)
        elapsed = time.perf_counter() - t0
        tally.statuses[r.status_code] += 1
        if r.status_code != 200:
            tally.errors.append(f"message {r.status_code} {r.text[:200]}")
            continue
        data = r.json()
        tally.latencies.append(elapsed)
        tally.messages += 1
        tally.replies += sum(1 for m in data["messages"] if m["sender"] == "bot")
        if data["status"] != "bot":
            tally.handed_off += 1
            break
        if think[1] > 0:
            await asyncio.sleep(rng.uniform(*think))


async def run_load(base: str, people: Sequence[Customer], think: tuple[float, float], run: str) -> tuple[Tally, float]:
    tally = Tally()
    limits = httpx.Limits(max_connections=len(people) + 4, max_keepalive_connections=len(people) + 4)
    async with httpx.AsyncClient(
        base_url=f"{base}/api/v1/service", timeout=120, limits=limits, trust_env=False
    ) as http:
        began = time.perf_counter()
        rng = random.Random(run)
        arrive_within = think[1] if think[1] > 0 else 1.0
        await asyncio.gather(*(converse(http, c, think, run, tally, rng, arrive_within) for c in people))
        return tally, time.perf_counter() - began


def issue_keys(db: Database) -> dict[str, str]:
    """The web shop's chat-widget key and an integrator key for each member channel."""
    out = {}
    with db.transaction() as s:
        out[WIDGET_CHANNEL] = auth_service.create_api_key(
            s, SYSTEM, name="bench cs_load widget", role="chat_widget", channel_code=WIDGET_CHANNEL
        ).secret
        for ch in MEMBER_CHANNELS:
            out[ch] = auth_service.create_api_key(
                s, SYSTEM, name=f"bench cs_load {ch}", role="integrator", channel_code=ch
            ).secret
    return out


def _think(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    return float(low), float(high or low)


def _phase(tally: Tally, elapsed: float) -> dict[str, Any]:
    return {
        "p50_ms": _ms(_percentile(tally.latencies, 0.5)),
        "p95_ms": _ms(_percentile(tally.latencies, 0.95)),
        "p99_ms": _ms(_percentile(tally.latencies, 0.99)),
        "replies_per_s": round(tally.replies / elapsed, 1) if elapsed else 0.0,
        "messages_per_s": round(tally.messages / elapsed, 1) if elapsed else 0.0,
        "elapsed_s": round(elapsed, 2),
        "messages": tally.messages,
        "replies": tally.replies,
        "handed_off": tally.handed_off,
        "start_p50_ms": _ms(_percentile(tally.start_latencies, 0.5)),
        "start_p95_ms": _ms(_percentile(tally.start_latencies, 0.95)),
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "errors": tally.errors[:10],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="an existing demo database (URL, or a SQLite file path)")
    parser.add_argument("--pg", help="build the demo on this PostgreSQL server (a scratch database)")
    parser.add_argument("--scale", default="full", choices=("small", "full"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--think", default="2-6", help="seconds a customer types before the next message (LOW-HIGH)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--out", default=None, help="default: bench/results/cs_load.json, cs_load_pg.json with --pg")
    args = parser.parse_args(argv)
    out = Console(stderr=True)
    run = f"{os.getpid()}-{int(time.time())}"
    think = _think(args.think)
    with demo_database(args.db, args.scale, args.seed, out, pg=args.pg) as (url, load_s):
        db = Database(url)
        catch_up_members(db)
        with db.transaction() as s:
            if kb.published(s) is None:
                sys.exit("no published knowledge base: load the demo first (zhongtai demo load)")
            facts = gather_facts(s, SYSTEM, now=utcnow(), max_orders=3_000, seed=args.seed)
        keys = issue_keys(db)
        typing = customers(facts, keys, args.conversations, args.messages, args.seed)
        burst = customers(facts, keys, args.conversations, args.messages, args.seed + 7)
        # Enough warm-up conversations at once that every worker process gets some: each loads the
        # published model and builds its catalog index on its first message (seconds, once).
        warm = customers(facts, keys, 8 * args.workers, 2, args.seed + 1)
        db.dispose()
        with serve_in_subprocess(url, workers=args.workers) as base:
            first, first_s = asyncio.run(run_load(base, warm, (0.0, 0.0), f"{run}-warm"))
            second, _ = asyncio.run(run_load(base, warm, (0.0, 0.0), f"{run}-warm2"))
            typed, typed_s = asyncio.run(run_load(base, typing, think, f"{run}-typing"))
            pushed, pushed_s = asyncio.run(run_load(base, burst, (0.0, 0.0), f"{run}-burst"))
    typing_phase, burst_phase = _phase(typed, typed_s), _phase(pushed, pushed_s)
    figures = {
        "p95_ms": typing_phase["p95_ms"],
        "replies_per_s": burst_phase["replies_per_s"],
        "p50_ms": typing_phase["p50_ms"],
        "p99_ms": typing_phase["p99_ms"],
        "p95_ms_back_to_back": burst_phase["p95_ms"],
    }
    report = {
        "figures": figures,
        "params": {
            "conversations": args.conversations,
            "messages_per_conversation": args.messages,
            "think_s": list(think),
            "uvicorn_workers": args.workers,
            "database": "postgresql" if url.startswith("postgres") else "sqlite",
            "scale": args.scale if not args.db else "given database",
            "seed": args.seed,
            "demo_load_s": None if load_s is None else round(load_s, 1),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "mix": "half web chat widget (anonymous: product, shipping, payment, invoice questions), half "
            "mini-program and JD integrators (members by phone: their orders, logistics, returns, warranties too)",
        },
        "typing": typing_phase,
        "back_to_back": burst_phase,
        "warmup": {
            "messages": first.messages + second.messages,
            "first_round_s": round(first_s, 2),
            "first_round_p95_ms": _ms(_percentile(first.latencies, 0.95)),
            "second_round_p95_ms": _ms(_percentile(second.latencies, 0.95)),
        },
    }
    path = Path(args.out) if args.out else (RESULTS.with_name("cs_load_pg.json") if args.pg else RESULTS)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    out.print({"typing": typing_phase, "back_to_back": burst_phase, "warmup": report["warmup"]})
    print(json.dumps({"figures": figures}, ensure_ascii=False))
    return 0 if not (typed.errors or pushed.errors) else 1


if __name__ == "__main__":
    raise SystemExit(main())
