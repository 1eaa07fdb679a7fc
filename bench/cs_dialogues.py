"""Scripted customer-service conversations over the demo retailer: how often the bot resolves a
conversation by itself and how often each turn does what it should.

    python bench/cs_dialogues.py [--db URL|PATH] [--scale full|small] [--seed 42] [--http]
                                 [--only PREFIX] [--show N] [--out bench/results/cs_dialogues.json]

Without ``--db`` a fresh demo is built in a temporary directory (``zhongtai db upgrade``, then the
demo loader at ``--scale``, which publishes the general knowledge packs and plays six weeks of
conversations); with it, an existing demo database is used (a path is a SQLite file).

The scripts (``bench/cs_dialogues/*.yaml``, written in Chinese as customers write, not taken from
the knowledge packs' examples) are filled at run time from the demo database: ``{order:shipped}``
becomes a real shipped order of the conversation's member, ``{serial:received}`` a serial number
the member received, ``{sku:model=Q60 Pro|param.battery_capacity}`` the catalog's value (grammar:
``zhongtai.demo.service_data``). The member is attached the way an integrator does it, by phone
(``member_identifiers``); ``member: vip`` picks a member of a VIP tier, ``member: false`` an
anonymous visitor; by default members of VIP tiers are left out so that VIP rules do not blur
the other scripts. A conversation whose placeholders the data cannot fill is skipped and listed. Before the data
is read, the member center's consumer catches up with the order center's outbox (what the worker
does right after a load), so that today's live orders have their members.

Each turn's ``expect`` (all given checks must hold):

* ``action`` / ``topic`` / ``subintent``: what the bot understood. ``action``: the published
  sub-intent's action (``product_param``, ``order_status`` ...); ``topic``: a label of the script's
  own, mapped to the knowledge base's sub-intent codes in ``topics.yaml``; ``subintent``: codes.
  When several are given, any one of them matching is enough (they describe the same thing).
* ``outcome``: answered | slot | clarify | fallback | handoff | chitchat (one or a list).
* ``contains`` (every string), ``contains_any`` (one of them), ``not_contains``: in what the
  customer is shown for the turn: the bot's replies' text and the text of their cards, links and
  quick replies.
* ``status``: the conversation's status after the turn (bot | queued).

Each conversation's ``expect`` (``self`` unless given) is its final outcome: ``handoff`` when it
must end waiting for an agent; ``handoff_reason`` optionally lists the acceptable reasons.

Figures:

* ``self_resolution``: conversations that ended without a hand-off / all conversations run;
* ``self_resolution_expected_self``: the same among the conversations scripted to end ``self``;
* ``correct``: turns meeting their expectation / all turns;
* ``outcome_accuracy``: conversations whose final outcome is the scripted one / all conversations.

Runs in process through ``service.conversations`` (the services an API call reaches), or with
``--http`` against ``zhongtai serve`` through ``/api/v1/service/conversations`` with a channel's
integrator key. Writes ``bench/results/cs_dialogues.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import yaml  # noqa: E402
from rich.console import Console  # noqa: E402

from zhongtai.auth import service as auth_service  # noqa: E402
from zhongtai.auth.principal import Principal  # noqa: E402
from zhongtai.db import Database, upgrade, utcnow  # noqa: E402
from zhongtai.demo.service_data import Facts, MemberFact, PlaceholderError, fill_conversation  # noqa: E402
from zhongtai.demo.service_loader import gather_facts  # noqa: E402
from zhongtai.members.identifiers import parse_identifiers  # noqa: E402
from zhongtai.service import conversations, kb  # noqa: E402
from zhongtai.settings import Settings  # noqa: E402

SCRIPTS = ROOT / "bench" / "cs_dialogues"
RESULTS = ROOT / "bench" / "results" / "cs_dialogues.json"
SYSTEM = Principal.system("bench-cs-dialogues")
OUTCOMES = ("answered", "slot", "clarify", "fallback", "handoff", "chitchat")
EXPECT_KEYS = ("action", "topic", "subintent", "outcome", "contains", "contains_any", "not_contains", "status")
CONVERSATION_KEYS = ("id", "sub", "channel", "member", "expect", "handoff_reason", "turns", "name")
HANDED_OFF = ("queued", "agent")


# ================================================================ scripts


@dataclass(frozen=True, slots=True)
class Turn:
    say: str
    expect: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Script:
    id: str
    category: str
    sub: str
    channel: str
    member: bool | str
    expect: str
    handoff_reason: tuple[str, ...]
    turns: tuple[Turn, ...]
    source: str


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def load_scripts(folder: Path = SCRIPTS) -> list[Script]:
    """Every conversation of ``folder/*.yaml`` (topics.yaml apart), checked for shape."""
    out: list[Script] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "topics.yaml":
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        category = str(data["category"])
        for raw in data["conversations"]:
            unknown = set(raw) - set(CONVERSATION_KEYS)
            if unknown:
                raise ValueError(f"{path.name} {raw.get('id')}: unknown keys {sorted(unknown)}")
            cid = str(raw["id"])
            if cid in seen:
                raise ValueError(f"{path.name}: conversation id {cid} twice")
            seen.add(cid)
            turns = []
            for t in raw["turns"]:
                expect = dict(t.get("expect") or {})
                bad = set(expect) - set(EXPECT_KEYS)
                if bad:
                    raise ValueError(f"{cid}: unknown expectation keys {sorted(bad)}")
                for o in _as_list(expect.get("outcome")):
                    if o not in OUTCOMES:
                        raise ValueError(f"{cid}: unknown outcome {o!r}")
                turns.append(Turn(str(t["say"]), expect))
            final = str(raw.get("expect") or "self")
            if final not in ("self", "handoff"):
                raise ValueError(f"{cid}: expect is self or handoff, not {final!r}")
            member = raw.get("member", "auto")
            out.append(
                Script(
                    id=cid,
                    category=category,
                    sub=str(raw.get("sub") or ""),
                    channel=str(raw.get("channel") or "web"),
                    member=member if isinstance(member, bool) else str(member),
                    expect=final,
                    handoff_reason=tuple(_as_list(raw.get("handoff_reason"))),
                    turns=tuple(turns),
                    source=path.name,
                )
            )
    return out


def load_topics(folder: Path = SCRIPTS) -> dict[str, list[str]]:
    path = folder / "topics.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): _as_list(v) for k, v in (data.get("topics") or {}).items()}


# ================================================================ filling


@dataclass(slots=True)
class Filled:
    script: Script
    member: MemberFact | None
    says: list[str]
    expects: list[dict[str, Any]]


def fill_script(facts: Facts, script: Script, *, seed: int, vip_tiers: Sequence[str]) -> Filled:
    """The script with real values; ``PlaceholderError`` when the data cannot fill it."""
    texts = [t.say for t in script.turns]
    slots: list[tuple[int, str, int]] = []  # (turn, key, index) of each expectation string
    for k, t in enumerate(script.turns):
        for key in ("contains", "contains_any", "not_contains"):
            for i, s in enumerate(_as_list(t.expect.get(key))):
                slots.append((k, key, i))
                texts.append(s)
    vip = set(vip_tiers)
    member: bool | str = script.member
    member_filter = None
    if member == "vip":
        member, member_filter = True, (lambda m: m.tier in vip)
    elif member in ("regular", "auto", True):
        member_filter = lambda m: m.tier not in vip  # noqa: E731
        if script.member == "regular":
            member = True
    filled, chosen = fill_conversation(facts, texts, seed=(seed, script.id), member=member, member_filter=member_filter)
    n = len(script.turns)
    expects = [dict(t.expect) for t in script.turns]
    for k, key in {(k, key) for k, key, _ in slots}:
        expects[k][key] = []
    for (k, key, _i), value in zip(slots, filled[n:], strict=True):
        expects[k][key].append(value)
    return Filled(script, chosen, filled[:n], expects)


# ================================================================ talking to the bot


@dataclass(slots=True)
class TurnResult:
    say: str
    replies: str
    subintent: str | None
    action: str | None
    confidence: float | None
    outcome: str | None
    status: str
    seconds: float


class InProcess:
    """Through ``service.conversations``, one transaction per message, as an API call would."""

    def __init__(self, db: Database, principals: Mapping[str, Principal]) -> None:
        self.db = db
        self.principals = principals

    def start(self, channel: str, ref: str, name: str, phone: str | None) -> tuple[str, str | None]:
        idents = parse_identifiers([("phone", phone, "")])[0] if phone else []
        with self.db.transaction() as s:
            out = conversations.start(
                s,
                self.principals[channel],
                channel_code=channel,
                customer_ref=ref,
                customer_name=name,
                identifiers=idents,
            )
        return out.public_id, out.token

    def say(
        self, channel: str, public_id: str, token: str | None, text: str
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        with self.db.transaction() as s:
            replies = conversations.customer_message(s, self.principals[channel], public_id, text, token=token)
        with self.db.transaction() as s:
            conv = conversations.get_conversation(s, self.principals[channel], public_id, token=token)
        return [r.model_dump(mode="json") for r in replies], conv.model_dump(mode="json")

    def close(self, channel: str, public_id: str, token: str | None, resolution: str) -> None:
        with self.db.transaction() as s:
            conversations.close(s, self.principals[channel], public_id, token=token, resolution=resolution)


class OverHttp:
    """Through the REST API of a running server, with each channel's integrator key."""

    def __init__(self, base: str, secrets_by_channel: Mapping[str, str]) -> None:
        import httpx

        self.http = httpx.Client(base_url=f"{base}/api/v1/service", timeout=30, trust_env=False)
        self.keys = secrets_by_channel

    def _headers(self, channel: str, token: str | None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.keys[channel]}"}
        if token:
            h["X-Conversation-Token"] = token
        return h

    def start(self, channel: str, ref: str, name: str, phone: str | None) -> tuple[str, str | None]:
        body: dict[str, Any] = {"channel_code": channel, "customer_ref": ref, "customer_name": name}
        if phone:
            body["member_identifiers"] = [{"kind": "phone", "value": phone}]
        r = self.http.post("/conversations", json=body, headers=self._headers(channel, None))
        r.raise_for_status()
        data = r.json()
        return str(data["public_id"]), data.get("token")

    def say(
        self, channel: str, public_id: str, token: str | None, text: str
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        h = self._headers(channel, token)
        r = self.http.post(f"/conversations/{public_id}/messages", json={"text": text}, headers=h)
        r.raise_for_status()
        replies = [m for m in r.json()["messages"] if m["sender"] == "bot"]
        c = self.http.get(f"/conversations/{public_id}", headers=h)
        c.raise_for_status()
        return replies, c.json()

    def close(self, channel: str, public_id: str, token: str | None, resolution: str) -> None:
        self.http.post(
            f"/conversations/{public_id}/close", json={"resolution": resolution}, headers=self._headers(channel, token)
        ).raise_for_status()


def _payload_text(value: Any) -> Iterator[str]:
    """The strings a widget shows from a reply's payload (card names, link titles, quick replies)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if k in ("url", "image", "href", "sku", "code", "event"):
                continue
            yield from _payload_text(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _payload_text(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield str(value)


def shown_text(replies: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for r in replies:
        parts.append(str(r.get("text") or ""))
        parts.extend(_payload_text(r.get("payload") or {}))
    return "\n".join(p for p in parts if p)


# ================================================================ judging


def _lower(s: str) -> str:
    return s.casefold()


def judge(expect: Mapping[str, Any], got: TurnResult, topics: Mapping[str, Sequence[str]]) -> list[str]:
    """The expectation's checks that failed (empty: the turn is correct)."""
    problems = []
    intent_checks = []
    if "action" in expect:
        intent_checks.append(got.action in _as_list(expect["action"]))
    if "subintent" in expect:
        intent_checks.append(got.subintent in _as_list(expect["subintent"]))
    if "topic" in expect:
        codes = {c for t in _as_list(expect["topic"]) for c in topics.get(t, [])}
        intent_checks.append(got.subintent in codes)
    if intent_checks and not any(intent_checks):
        wanted = "/".join(
            _as_list(expect.get("action")) + _as_list(expect.get("topic")) + _as_list(expect.get("subintent"))
        )
        problems.append(f"understood {got.subintent}({got.action}), wanted {wanted}")
    if "outcome" in expect and got.outcome not in _as_list(expect["outcome"]):
        problems.append(f"outcome {got.outcome}, wanted {'/'.join(_as_list(expect['outcome']))}")
    if "status" in expect and got.status not in _as_list(expect["status"]):
        problems.append(f"status {got.status}, wanted {'/'.join(_as_list(expect['status']))}")
    text = _lower(got.replies)
    missing = [s for s in _as_list(expect.get("contains")) if _lower(s) not in text]
    if missing:
        problems.append(f"reply lacks {missing}")
    any_of = _as_list(expect.get("contains_any"))
    if any_of and not any(_lower(s) in text for s in any_of):
        problems.append(f"reply has none of {any_of}")
    present = [s for s in _as_list(expect.get("not_contains")) if _lower(s) in text]
    if present:
        problems.append(f"reply has {present}")
    return problems


@dataclass(slots=True)
class ConversationResult:
    id: str
    category: str
    sub: str
    channel: str
    member: int | None
    expect: str
    final: str
    handoff_reason: str | None
    turns: list[dict[str, Any]] = field(default_factory=list)
    correct_turns: int = 0
    outcome_ok: bool = False


def run_conversation(
    client: InProcess | OverHttp,
    filled: Filled,
    kb_actions: Mapping[str, str],
    topics: Mapping[str, Sequence[str]],
    run_tag: str,
) -> ConversationResult:
    sc = filled.script
    member = filled.member
    name = member.name if member is not None else "访客"
    public_id, token = client.start(sc.channel, f"bench-{run_tag}-{sc.id}", name, member.phone if member else None)
    result = ConversationResult(
        sc.id, sc.category, sc.sub, sc.channel, member.id if member else None, sc.expect, "self", None
    )
    conv: dict[str, Any] = {}
    for k, (say, expect) in enumerate(zip(filled.says, filled.expects, strict=True)):
        started = time.perf_counter()
        replies, conv = client.say(sc.channel, public_id, token, say)
        seconds = time.perf_counter() - started
        mine = [m for m in conv["messages"] if m["sender"] == "customer"][-1]
        code = mine.get("intent")
        got = TurnResult(
            say=say,
            replies=shown_text(replies),
            subintent=code,
            action=kb_actions.get(code or ""),
            confidence=mine.get("confidence"),
            outcome=mine.get("outcome"),
            status=conv["status"],
            seconds=seconds,
        )
        problems = judge(expect, got, topics)
        result.correct_turns += not problems
        result.turns.append(
            {
                "turn": k + 1,
                "say": say,
                "expect": expect,
                "subintent": got.subintent,
                "action": got.action,
                "confidence": None if got.confidence is None else round(got.confidence, 3),
                "outcome": got.outcome,
                "status": got.status,
                "reply": got.replies[:300],
                "ms": round(seconds * 1000, 1),
                "problems": problems,
            }
        )
    result.final = "handoff" if conv.get("status") in HANDED_OFF else "self"
    result.handoff_reason = conv.get("handoff_reason")
    result.outcome_ok = result.final == sc.expect and (
        not sc.handoff_reason or result.handoff_reason in sc.handoff_reason
    )
    # Leave the demo's queue as it was: the bench's conversations end here.
    client.close(sc.channel, public_id, token, "self" if result.final == "self" else "abandoned")
    return result


# ================================================================ the database


@contextmanager
def demo_database(
    db_arg: str | None, scale: str, seed: int, out: Console, *, pg: str | None = None
) -> Iterator[tuple[str, float | None]]:
    """(URL, seconds the demo took to load or None): the given database, or a fresh demo in a
    temporary SQLite file, or (``pg``: a PostgreSQL server URL) in a scratch database on that
    server, dropped at the end."""
    if db_arg:
        url = db_arg if "://" in db_arg else f"sqlite:///{Path(db_arg).resolve()}"
        yield url, None
        return
    from zhongtai.demo.loader import load_demo

    tmp = Path(tempfile.mkdtemp(prefix="cs_bench_"))
    admin_url = ""
    name = f"zt_csbench_{os.getpid()}"
    if pg:
        import psycopg

        base = pg.split("://", 1)[1]
        server, _, _db = base.partition("?")[0].rpartition("/")
        admin_url = f"postgresql://{server}/postgres"
        url = f"postgresql+psycopg://{server}/{name}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    else:
        url = f"sqlite:///{tmp}/demo.db"
    try:
        upgrade(url, "head")
        started = time.perf_counter()
        db = Database(url)
        load_demo(
            db,
            seed=seed,
            scale=scale,
            settings=Settings(database_url=url),
            console=out,
            credentials_path=tmp / "credentials.txt",
        )
        db.dispose()
        yield url, time.perf_counter() - started
    finally:
        if admin_url:
            import psycopg

            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


def catch_up_members(db: Database) -> int:
    """What the platform's worker does right after a load: the member center reads the order
    center's outbox, so today's live orders get their members (the demo load does not run jobs)."""
    from zhongtai.members.consumer import consume

    total = 0
    while (n := consume(db)) > 0:
        total += n
    return total


def integrator_keys(db: Database, channels: Sequence[str]) -> dict[str, tuple[Principal, str]]:
    """One integrator key per channel the scripts use (what a channel's integration holds)."""
    out = {}
    with db.transaction() as s:
        for ch in channels:
            issued = auth_service.create_api_key(
                s, SYSTEM, name=f"bench cs_dialogues {ch}", role="integrator", channel_code=ch
            )
            principal = auth_service.principal_for_key_id(s, issued.key.id)
            assert principal is not None
            out[ch] = (principal, issued.secret)
    return out


# ================================================================ main


def _share(n: int, d: int) -> float:
    return round(n / d, 4) if d else 0.0


def summarise(results: Sequence[ConversationResult]) -> dict[str, Any]:
    turns = sum(len(r.turns) for r in results)
    correct = sum(r.correct_turns for r in results)
    expected_self = [r for r in results if r.expect == "self"]
    return {
        "conversations": len(results),
        "turns": turns,
        "self_resolution": _share(sum(r.final == "self" for r in results), len(results)),
        "self_resolution_expected_self": _share(sum(r.final == "self" for r in expected_self), len(expected_self)),
        "correct": _share(correct, turns),
        "outcome_accuracy": _share(sum(r.outcome_ok for r in results), len(results)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="an existing demo database (URL, or a SQLite file path)")
    parser.add_argument("--pg", help="build the demo on this PostgreSQL server (a scratch database) instead of SQLite")
    parser.add_argument("--scale", default="full", choices=("small", "full"), help="demo scale when building one")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--http", action="store_true", help="through zhongtai serve and the REST API")
    parser.add_argument("--only", default="", help="run the conversations whose id starts with this")
    parser.add_argument("--show", type=int, default=30, help="failing turns to print")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    out = Console(stderr=True)
    scripts = [s for s in load_scripts() if s.id.startswith(args.only)]
    topics = load_topics()
    run_tag = f"{os.getpid()}-{int(time.time())}"
    with demo_database(args.db, args.scale, args.seed, out, pg=args.pg) as (url, load_s):
        db = Database(url)
        caught_up = catch_up_members(db)
        with db.transaction() as s:
            published = kb.published(s)
            if published is None:
                sys.exit("no published knowledge base: load the demo first (zhongtai demo load)")
            kb_actions = {code: sub.action for code, sub in published.kb.subintents.items()}
            kb_version = published.version
            vip_tiers = list(kb.settings_for(s, "").vip_tiers)
            started = time.perf_counter()
            facts = gather_facts(s, SYSTEM, now=utcnow(), max_orders=3_000, seed=args.seed)
            facts_s = time.perf_counter() - started
        unknown_topics = sorted(
            {t for sc in scripts for tn in sc.turns for t in _as_list(tn.expect.get("topic")) if t not in topics}
        )
        missing_codes = sorted({c for codes in topics.values() for c in codes if c not in kb_actions})
        filled: list[Filled] = []
        skipped: list[dict[str, str]] = []
        for sc in scripts:
            try:
                filled.append(fill_script(facts, sc, seed=args.seed, vip_tiers=vip_tiers))
            except PlaceholderError as exc:
                skipped.append({"id": sc.id, "reason": str(exc)})
        keys = integrator_keys(db, sorted({f.script.channel for f in filled}))
        server = None
        if args.http:
            from zhongtai.live_server import serve_in_subprocess

            server = serve_in_subprocess(url, workers=1)
            base = server.__enter__()
            client: InProcess | OverHttp = OverHttp(base, {ch: secret for ch, (_p, secret) in keys.items()})
        else:
            client = InProcess(db, {ch: p for ch, (p, _secret) in keys.items()})
        results: list[ConversationResult] = []
        began = time.perf_counter()
        try:
            for f in filled:
                results.append(run_conversation(client, f, kb_actions, topics, run_tag))
        finally:
            if server is not None:
                server.__exit__(None, None, None)
        elapsed = time.perf_counter() - began
        db.dispose()

    figures = summarise(results)
    by_category: dict[str, Any] = {}
    groups: dict[str, list[ConversationResult]] = defaultdict(list)
    for r in results:
        groups[r.category].append(r)
        groups[f"{r.category}/{r.sub}"].append(r)
    for key in sorted(groups):
        by_category[key] = summarise(groups[key])
    failing = [
        {"id": r.id, "category": f"{r.category}/{r.sub}", **t} for r in results for t in r.turns if t["problems"]
    ]
    wrong_outcomes = [
        {"id": r.id, "expect": r.expect, "final": r.final, "handoff_reason": r.handoff_reason}
        for r in results
        if not r.outcome_ok
    ]
    latencies = sorted(t["ms"] for r in results for t in r.turns)
    report = {
        "figures": figures | {"skipped": len(skipped)},
        "params": {
            "seed": args.seed,
            "scale": args.scale if not args.db else "given database",
            "database": "postgresql" if url.startswith("postgres") else "sqlite",
            "transport": "http" if args.http else "in-process",
            "kb_version": kb_version,
            "scripts": len(scripts),
            "demo_load_s": None if load_s is None else round(load_s, 1),
            "member_events_consumed": caught_up,
            "facts_s": round(facts_s, 1),
            "run_s": round(elapsed, 1),
            "turn_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
            "turn_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
            "facts": {"skus": len(facts.skus), "orders": len(facts.orders), "members": len(facts.members)},
            "unmapped_topics": unknown_topics,
            "topic_codes_not_in_kb": missing_codes,
            "python": platform.python_version(),
        },
        "by_category": by_category,
        "outcome_mismatches": wrong_outcomes,
        "failing_turns": failing,
        "skipped": skipped,
        "conversations": [asdict(r) for r in results],
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")

    _print(out, report, failing, args.show)
    print(json.dumps({"figures": report["figures"]}, ensure_ascii=False))
    return 0


def _print(out: Console, report: Mapping[str, Any], failing: Sequence[Mapping[str, Any]], show: int) -> None:
    from rich.table import Table

    table = Table(title="cs_dialogues by category")
    for col in ("category", "conversations", "turns", "correct", "self_resolution", "outcome_accuracy"):
        table.add_column(col)
    for key, f in report["by_category"].items():
        table.add_row(
            key,
            str(f["conversations"]),
            str(f["turns"]),
            f"{f['correct']:.3f}",
            f"{f['self_resolution']:.3f}",
            f"{f['outcome_accuracy']:.3f}",
        )
    out.print(table)
    counts = Counter(t["category"] for t in failing)
    out.print(f"failing turns: {len(failing)} ({', '.join(f'{k} {v}' for k, v in counts.most_common())})")
    for t in failing[:show]:
        out.print(
            f"[red]{t['id']}#{t['turn']}[/red] {t['say']!r} -> {t['subintent']}({t['action']}) {t['outcome']} "
            f"{t['status']}: {'; '.join(t['problems'])} | {t['reply'][:100]!r}"
        )
    if report["skipped"]:
        out.print(f"skipped (the data cannot fill them): {report['skipped']}")
    params = report["params"]
    if params["unmapped_topics"] or params["topic_codes_not_in_kb"]:
        out.print(
            f"[yellow]topics without sub-intents: {params['unmapped_topics']}; "
            f"codes not in the KB: {params['topic_codes_not_in_kb']}[/yellow]"
        )
    out.print(report["figures"])


if __name__ == "__main__":
    raise SystemExit(main())
