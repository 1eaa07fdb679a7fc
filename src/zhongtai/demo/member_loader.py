"""Loads the demo's members in bulk: the identity graph stitched from every channel, and what hangs on it.

The people behind the order history's customers (``member_data``) are known to the brand as
store cards, mini-program accounts, web logins, JD and Tmall memberships and the buyers of two
years of orders. Through ``identity.observe`` each of those ~90,000 sightings would cost several
queries; instead they are stitched the way a legacy import is (``members.batch.stitch``: strong
identifiers with the guard rails, then Splink on weak attributes) and the result is written in
bulk with SQLAlchemy Core, like ``history_loader`` writes the orders: tables looked up by name in the
shared metadata, ids taken up front, complete and consistent rows only. What is written is what
the live service would hold had it seen all this happen:

* ``members`` (one per deterministic cluster; clusters the matcher joined become one member, the
  oldest surviving, the others ``merged`` into it), ``member_identifiers`` (store phones typed for
  many customers ``quarantined``), ``member_observations`` (every enrolment, import row and order
  buyer), ``member_identity_edges`` (identifiers seen together; a ``probabilistic`` edge per
  matcher merge), ``member_merge_events`` (those merges, and the guard rail's splits), the review
  queue (``member_match_candidates``);
* ``orders.member_id`` (through the order service), enrolment (store, guide, consents), the points
  ledger (earn on completed orders at the tier's rate, clawbacks for refunds, a few redemptions,
  expiry; the rules of ``members.points``), ``member_stats`` (the rules of ``members.stats``), then
  the services' own nightly jobs: ``stats.score_rfm`` and ``tags.evaluate_rules``.

Guides: every store gets one (two in flagship stores), created through the auth service; most store
enrolments are bound to a guide of their store.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import pickle
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

from zhongtai.auth import service as auth_service
from zhongtai.auth.permissions import Role
from zhongtai.auth.principal import Principal
from zhongtai.demo.catalog_data import Scale
from zhongtai.demo.history_loader import _insert, _table
from zhongtai.demo.member_data import (
    WEAK_COLUMNS,
    MemberFile,
    MemberRecord,
    demo_member_file,
)
from zhongtai.demo.network_data import LocationSpec
from zhongtai.demo.order_history import CITIES, HistOrder, OrderHistory, build_order_history
from zhongtai.demo.plan import DemoPlan, build_demo_plan
from zhongtai.errors import ValidationFailed
from zhongtai.inventory import service as inventory_service
from zhongtai.members import batch, points, stats, tags
from zhongtai.members.identifiers import WeakKind, over_partner_cap, parse_birthday, parse_identifiers
from zhongtai.members.records import PersonRecord, StitchResult
from zhongtai.orders import service as orders_service

ACTOR_NAME = "demo"
# The review queue holds the most likely pairs first; a demo console does not need thousands.
REVIEW_QUEUE_MAX = 2_000
# Share of store enrolments bound to a guide of the store (the rest enrolled at a busy till).
GUIDE_SHARE = 0.8
# Share of members who redeem points now and then (after an earn, while they have enough).
REDEEM_CHANCE = 0.12
# The probabilistic matcher runs nightly: a merge happens the day after its second half appeared.
MATCH_DELAY = timedelta(hours=20)

Progress = Callable[[int], None]
STEPS = 7
log = logging.getLogger("zhongtai.demo")


@dataclass(slots=True)
class _Sighting:
    source: str
    source_ref: str
    channel: str
    at: datetime
    keys: list[str]
    record_id: str


@dataclass(slots=True)
class _Member:
    id: int
    det: str  # its deterministic cluster (a record id)
    survivor: int = 0
    keys: list[str] = field(default_factory=list)
    sightings: list[_Sighting] = field(default_factory=list)
    records: list[MemberRecord] = field(default_factory=list)


@dataclass(slots=True)
class MemberLoad:
    """What the load did, for the summary."""

    records: int = 0
    sightings: int = 0
    deterministic_clusters: int = 0
    members: int = 0
    merged: int = 0
    identifiers: int = 0
    quarantined: int = 0
    review_pairs: int = 0
    review_queued: int = 0
    orders_linked: int = 0
    points_entries: int = 0
    guides_created: int = 0
    guide_bindings: int = 0
    consents: int = 0
    tagged: int = 0
    quarantined_keys: tuple[str, ...] = ()
    # Wall-clock seconds per step of the load (waiting for the stitching, writing ...), and what
    # generating and stitching took (in the background, usually).
    seconds: dict[str, float] = field(default_factory=dict)
    stitch_seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {
            "member_records": self.records,
            "member_sightings": self.sightings,
            "members": self.members,
            "members_merged": self.merged,
            "member_identifiers": self.identifiers,
            "member_identifiers_quarantined": self.quarantined,
            "member_review_pairs": self.review_pairs,
            "member_review_queued": self.review_queued,
            "member_orders_linked": self.orders_linked,
            "member_points_entries": self.points_entries,
            "guides_created": self.guides_created,
            "member_guide_bindings": self.guide_bindings,
            "member_consents": self.consents,
            "member_tags": self.tagged,
        }


def _reserve_ids(session: Session, table: Table, n: int) -> list[int]:
    """``n`` ids for rows written with explicit ids (see ``history_loader._insert_with_ids``);
    one call per table before its rows are inserted."""
    if n == 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        result = session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": n},
        )
        return [int(r[0]) for r in result]
    top = int(session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one())
    return list(range(top + 1, top + 1 + n))


def person_record(r: MemberRecord) -> PersonRecord:
    """A demo record as the batch matcher reads it (strong identifiers normalised)."""
    idents, problems = parse_identifiers(r.identifiers())
    if problems:  # the generator's own data: a bug, not an input problem
        raise RuntimeError(f"demo member record {r.record_id} has invalid identifiers: {problems}")
    attributes = {WeakKind(c): getattr(r, c) for c in WEAK_COLUMNS if getattr(r, c)}
    return PersonRecord(r.record_id, idents, attributes, r.channel)


@dataclass(slots=True)
class Stitched:
    """The pure half of the load: the demo's member records and how the batch matcher clusters
    them (deterministically, and with the probabilistic matcher)."""

    # The records (the people left out: the truth is not written).
    data: MemberFile
    # Each record's strong identifiers as graph keys, and each key's (kind, app, normalised value).
    keys: dict[str, list[str]]
    identifiers: dict[str, tuple[str, str, str]]
    deterministic: StitchResult
    result: StitchResult
    # Which order history it was made from (the parent checks it is the one it loads).
    orders_digest: str
    seconds: float = 0.0


def _digest(history: OrderHistory) -> str:
    return hashlib.sha256("".join(o.number for o in history.orders).encode()).hexdigest()


def stitch_members(history: OrderHistory, stores: Sequence[LocationSpec]) -> Stitched:
    started = time.perf_counter()
    data = demo_member_file(history, stores)
    records = [person_record(r) for r in data.records]
    deterministic = batch.stitch(records, probabilistic=False)
    result = batch.stitch(records, probabilistic=True)
    keys = {r.record_id: list(dict.fromkeys(i.key for i in r.identifiers)) for r in records}
    identifiers = {i.key: (i.kind.value, i.app, i.value) for r in records for i in r.identifiers}
    return Stitched(
        replace(data, persons=()),
        keys,
        identifiers,
        deterministic,
        result,
        _digest(history),
        time.perf_counter() - started,
    )


def _stitch_for(seed: int, scale: Scale, today: date) -> Stitched:
    plan = build_demo_plan(seed, scale)
    history = build_order_history(seed, plan.catalog, plan.network, plan.stock, today)
    return stitch_members(history, plan.network.stores)


class BackgroundStitch:
    """Generates and stitches the members in another process while the load writes the catalog,
    stock and orders (Splink is most of the members' time, and the load leaves a CPU idle). All of
    it is pure and deterministic from (seed, scale, today). The other process is this module run
    as a program (``python -m zhongtai.demo.member_loader SEED SCALE TODAY OUT``), not a fork or a
    multiprocessing child: those would copy the loader's database connection or re-run the
    caller's script. ``result`` returns None when it could not run (the load then stitches in
    process)."""

    def __init__(self, seed: int, scale: Scale, today: date) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="zt-members-"))
        self._out = self._dir / "stitched.pickle"
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr = (self._dir / "stderr.txt").open("wb")
        try:
            self._proc = subprocess.Popen(  # noqa: S603 (our own module, our own arguments)
                [sys.executable, "-m", __name__, str(seed), scale, today.isoformat(), str(self._out)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
            )
        except OSError:  # no processes here (a sandbox, an embedded interpreter)
            log.warning("members: cannot stitch in the background", exc_info=True)
            self.close()

    def result(self) -> Stitched | None:
        if self._proc is None:
            return None
        try:
            code = self._proc.wait()
            if code != 0 or not self._out.exists():
                err = (self._dir / "stderr.txt").read_text(errors="replace")[-2000:]
                log.warning("members: the background stitching failed (exit %s): %s", code, err)
                return None
            with self._out.open("rb") as f:
                found = pickle.load(f)  # noqa: S301 (written by our own child, in our private temp dir)
            return found if isinstance(found, Stitched) else None
        finally:
            self.close()

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
        self._stderr.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def _main(argv: Sequence[str]) -> int:
    seed, scale, today, out = argv
    if scale not in ("small", "full"):
        raise SystemExit(f"scale is small or full, got {scale!r}")
    stitched = _stitch_for(int(seed), "small" if scale == "small" else "full", date.fromisoformat(today))
    tmp = Path(out + ".tmp")
    with tmp.open("wb") as f:
        pickle.dump(stitched, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(out)
    return 0


def load_members(
    session: Session,
    actor: Principal,
    plan: DemoPlan,
    history: OrderHistory,
    *,
    password: str,
    now: datetime,
    advance: Progress | None = None,
    stitched: Stitched | BackgroundStitch | None = None,
) -> MemberLoad:
    """Stitches (unless ``stitched`` brings it or is doing it, see ``BackgroundStitch``) and writes
    the demo's members (see the module doc). One transaction: the caller's."""
    step = _Laps(advance)
    if isinstance(stitched, BackgroundStitch):
        stitched = stitched.result()
    if stitched is None or stitched.orders_digest != _digest(history):
        stitched = stitch_members(history, plan.network.stores)
    step("stitch")
    load = _Writer(session, actor, plan, history, stitched, now).write(password, step)
    load.stitch_seconds = round(stitched.seconds, 2)
    load.seconds = step.seconds
    return load


class _Laps:
    """Advances the progress bar one step at a time and notes how long each step took."""

    def __init__(self, advance: Progress | None) -> None:
        self.advance = advance
        self.seconds: dict[str, float] = {}
        self.last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self.last, 2)
        self.last = now
        if self.advance is not None:
            self.advance(1)


class _Writer:
    def __init__(
        self,
        session: Session,
        actor: Principal,
        plan: DemoPlan,
        history: OrderHistory,
        stitched: Stitched,
        now: datetime,
    ) -> None:
        self.session = session
        self.actor = actor
        self.plan = plan
        self.history = history
        self.data = stitched.data
        self.keys = stitched.keys
        self.identifiers = stitched.identifiers
        self.det = stitched.deterministic.cluster_of
        self.result = stitched.result
        self.now = now
        self.rng = random.Random(f"zhongtai-demo-member-load-{plan.seed}")
        self.load = MemberLoad(
            records=len(stitched.keys), deterministic_clusters=stitched.deterministic.deterministic_clusters
        )
        self.stores = inventory_service.location_ids_by_codes(session, [s.code for s in plan.network.stores])

    # ------------------------------------------------------------ the graph

    def _sightings(self) -> list[_Sighting]:
        start = self.history.cutoff - timedelta(days=730)
        keys = self.keys
        out = []
        for r in self.data.records:
            source = r.source
            if source != "order":
                out.append(
                    _Sighting(source, r.record_id, r.channel, r.enrolled_at or start, keys[r.record_id], r.record_id)
                )
        record_of = self.data.order_record_of
        for o in self.history.orders:
            record_id = record_of.get(o.number)
            if record_id is not None:
                out.append(_Sighting("order", o.number, o.channel_code, o.placed_at, keys[record_id], record_id))
        out.sort(key=lambda s: (s.at, s.source_ref))
        return out

    def write(self, password: str, step: _Laps) -> MemberLoad:
        s = self.session
        rules = [
            points.TierSpec(t.code, t.name_zh, t.name_en, t.min_spend_fen, t.earn_rate, t.rank)
            for t in points.ensure_default_tiers(s)
        ]
        sightings = self._sightings()
        self.load.sightings = len(sightings)

        # Members: one per deterministic cluster, numbered in the order they were first seen.
        first_seen: dict[str, datetime] = {}
        for sg in sightings:
            first_seen.setdefault(self.det[sg.record_id], sg.at)
        clusters = sorted(first_seen, key=lambda c: (first_seen[c], c))
        member_ids = _reserve_ids(s, _table("members"), len(clusters))
        members = {c: _Member(mid, c) for c, mid in zip(clusters, member_ids, strict=True)}
        for sg in sightings:
            members[self.det[sg.record_id]].sightings.append(sg)
        for r in self.data.records:
            members[self.det[r.record_id]].records.append(r)
        final: dict[str, list[_Member]] = defaultdict(list)
        for c, m in members.items():
            final[self.result.cluster_of[c]].append(m)
        for group in final.values():
            head = min(m.id for m in group)
            for m in group:
                m.survivor = head
        of_record = {rid: members[c] for rid, c in self.det.items()}
        survivors = {
            m.id: [x for x in final[self.result.cluster_of[m.det]]] for m in members.values() if m.id == m.survivor
        }

        # Identifiers, numbered in the order they were first seen; each with its first sighting's member.
        first: dict[str, _Sighting] = {}
        for sg in sightings:
            for k in sg.keys:
                first.setdefault(k, sg)
        ident_ids = dict(zip(first, _reserve_ids(s, _table("member_identifiers"), len(first)), strict=True))
        quarantined = self.result.quarantined
        for k, sg in first.items():
            if k not in quarantined:
                of_record[sg.record_id].keys.append(k)
        obs_ids = _reserve_ids(s, _table("member_observations"), len(sightings))
        step("sightings")

        # Guide users are created (password hashing: C code that lets other threads run) while
        # this thread assembles the graph; the session is theirs until they are done.
        guide_job = _Background(lambda: self._guides(password))

        try:
            # Observations and the edges between identifiers seen together.
            observations = []
            edges: dict[tuple[int, int], dict[str, Any]] = {}
            partners: dict[str, Counter[str]] = defaultdict(Counter)
            quarantined_at: dict[str, datetime] = {}
            seen_at: dict[str, list[datetime]] = {}
            kind_of = {k: self.identifiers[k][0] for k in first}
            for sg, oid in zip(sightings, obs_ids, strict=True):
                m = of_record[sg.record_id]
                keys = list(dict.fromkeys(sg.keys))
                observations.append(
                    {
                        "id": oid,
                        "source": sg.source,
                        "source_ref": sg.source_ref,
                        "channel_code": sg.channel,
                        "member_id": m.survivor,
                        "identifier_ids": [ident_ids[k] for k in keys],
                        "observed_at": sg.at,
                    }
                )
                for k in keys:
                    span = seen_at.setdefault(k, [sg.at, sg.at])
                    span[1] = max(span[1], sg.at)
                for i, left in enumerate(keys):
                    for right in keys[i + 1 :]:
                        a, b = sorted((ident_ids[left], ident_ids[right]))
                        if (a, b) in edges:
                            continue
                        stopped = left in quarantined or right in quarantined
                        crossing = not stopped and self.det[first[left].record_id] != self.det[first[right].record_id]
                        edges[(a, b)] = {
                            "a_id": a,
                            "b_id": b,
                            "kind": "observed",
                            "observation_id": oid,
                            "probability": None,
                            "active": not (stopped or crossing),
                            "disabled_reason": "quarantined" if stopped else ("cannot_link" if crossing else ""),
                            "created_at": sg.at,
                        }
                        partners[left][kind_of[right]] += 1
                        partners[right][kind_of[left]] += 1
                        for k in (left, right):
                            if k in quarantined and k not in quarantined_at and over_partner_cap(dict(partners[k])):
                                quarantined_at[k] = sg.at

                # The matcher's merges: an edge between the two members' oldest identifiers each.
                probabilistic: list[tuple[_Member, _Member, float, tuple[int, int]]] = []
            for pair in self.result.merged_pairs:
                lm, rm = members[pair.left], members[pair.right]
                if not lm.keys or not rm.keys:
                    continue
                a, b = sorted((min(ident_ids[k] for k in lm.keys), min(ident_ids[k] for k in rm.keys)))
                if (a, b) not in edges:
                    edges[(a, b)] = {
                        "a_id": a,
                        "b_id": b,
                        "kind": "probabilistic",
                        "observation_id": None,
                        "probability": pair.probability,
                        "active": True,
                        "disabled_reason": "",
                        "created_at": min(self.now, max(lm.sightings[0].at, rm.sightings[0].at) + MATCH_DELAY),
                    }
                probabilistic.append((lm, rm, pair.probability, (a, b)))

            # Consents, orders, points, statistics.
            member_of_order = {
                number: of_record[rid].survivor for number, rid in self.data.order_record_of.items() if rid in of_record
            }
            orders_of: dict[int, list[HistOrder]] = defaultdict(list)
            for o in self.history.orders:
                mid = member_of_order.get(o.number)
                if mid is not None:
                    orders_of[mid].append(o)
            consents, consent_member = self._consents(members)
            ledger: list[dict[str, Any]] = []
            balance: dict[int, int] = {}
            tier: dict[int, str] = {}
            for mid in sorted(orders_of):
                balance[mid], tier[mid] = _replay(mid, orders_of[mid], rules, self.now, self.rng, ledger)
            stat_rows, preferred = self._stats(orders_of)
        except BaseException:
            guide_job.wait()  # the session is the guides' until they are done, even when this failed
            raise
        step("graph")
        guides = guide_job.join()
        step("guides")

        # Ids of the rows counted only now.
        edge_ids = dict(zip(edges, _reserve_ids(s, _table("member_identity_edges"), len(edges)), strict=True))
        for key, eid in edge_ids.items():
            edges[key]["id"] = eid
        consent_origin: dict[int, list[int]] = defaultdict(list)
        for row, cid, mid in zip(
            consents, _reserve_ids(s, _table("member_consents"), len(consents)), consent_member, strict=True
        ):
            row["id"] = cid
            consent_origin[mid].append(cid)
        _number_ledger(ledger, _reserve_ids(s, _table("member_points_entries"), len(ledger)))
        bindings, guide_of = self._bindings(survivors, guides)

        # Merge history: the matcher's merges in the order it made them, and the guard rail's splits.
        events = self._merge_events(probabilistic, edge_ids, ident_ids, consent_origin, members)
        events += self._quarantine_events(sightings, of_record, quarantined_at, ident_ids)
        event_ids = _reserve_ids(s, _table("member_merge_events"), len(events))
        for row, eid in zip(events, event_ids, strict=True):
            row["id"] = eid

        # Rows.
        member_rows = [
            self._member_row(m, survivors, guide_of, balance, tier, preferred)
            for m in sorted(members.values(), key=lambda m: (m.id != m.survivor, m.id))
        ]
        identifier_rows = []
        for k, sg in first.items():
            kind, app, value = self.identifiers[k]
            span = seen_at[k]
            identifier_rows.append(
                {
                    "id": ident_ids[k],
                    "kind": kind,
                    "app": app,
                    "value": value,
                    "member_id": of_record[sg.record_id].survivor,
                    "status": "quarantined" if k in quarantined else "active",
                    "partners": dict(partners.get(k, {})),
                    "source_channel": sg.channel,
                    "first_seen_at": span[0],
                    "last_seen_at": span[1],
                    "quarantined_at": quarantined_at.get(k, span[0]) if k in quarantined else None,
                }
            )
        candidates = self._candidates(members)
        _insert(s, _table("members"), [r for r in member_rows if r["merged_into_id"] is None])
        _insert(s, _table("members"), [r for r in member_rows if r["merged_into_id"] is not None])
        _insert(s, _table("member_identifiers"), identifier_rows)
        _insert(s, _table("member_observations"), observations)
        _insert(s, _table("member_identity_edges"), list(edges.values()))
        _insert(s, _table("member_merge_events"), events)
        _insert(s, _table("member_match_candidates"), candidates)
        _insert(s, _table("member_consents"), consents)
        _insert(s, _table("member_guide_bindings"), bindings)
        _insert(s, _table("member_points_entries"), ledger)
        _insert(s, _table("member_stats"), stat_rows)
        step("insert")
        self.load.orders_linked = orders_service.assign_members(s, member_of_order)
        step("orders")

        # The services' own nightly work over what was written.
        stats.score_rfm(s, self.now)
        tags.ensure_default_tag_rules(s, self.actor)
        evaluation = tags.evaluate_rules(s, self.now)
        step("rfm_tags")

        load = self.load
        load.members = sum(1 for m in members.values() if m.id == m.survivor)
        load.merged = len(members) - load.members
        load.identifiers = len(identifier_rows)
        load.quarantined = len(quarantined)
        load.quarantined_keys = tuple(sorted(quarantined))
        load.review_pairs = len(self.result.review_pairs)
        load.review_queued = len(candidates)
        load.points_entries = len(ledger)
        load.guide_bindings = len(bindings)
        load.consents = len(consents)
        load.tagged = evaluation.added
        return load

    # ------------------------------------------------------------ members

    def _member_row(
        self,
        m: _Member,
        survivors: dict[int, list[_Member]],
        guide_of: dict[int, int],
        balance: dict[int, int],
        tier: dict[int, str],
        preferred: dict[int, int],
    ) -> dict[str, Any]:
        alive = m.id == m.survivor
        group = survivors[m.id] if alive else [m]
        records = [r for x in group for r in x.records]
        sightings = sorted((sg for x in group for sg in x.sightings), key=lambda sg: sg.at)
        enrolment = min(
            (r for r in records if r.source == "enrol" and r.enrolled_at is not None),
            key=lambda r: (r.enrolled_at, r.record_id),
            default=None,
        )
        city = _mode([r.city for r in records])
        birthday = _mode([r.birthday for r in records if r.birthday and r.channel == "pos"]) or _mode(
            [r.birthday for r in records if r.birthday]
        )
        addressed = sorted((r for r in records if r.address), key=lambda r: (r.source != "order", r.record_id))
        location = self.stores.get(enrolment.store_code) if enrolment is not None and enrolment.store_code else None
        return {
            "id": m.id,
            "code": f"M{m.id:010d}",
            "status": "active" if alive else "merged",
            "merged_into_id": None if alive else m.survivor,
            "name": _name(records)[:64],
            "gender": next((r.gender for r in records if r.gender), ""),
            "birthday": parse_birthday(birthday) if birthday else None,
            "province": CITIES[city][0] if city in CITIES else "",
            "city": city,
            "address": addressed[0].address[:255] if addressed else "",
            "postcode": addressed[0].postcode if addressed else "",
            "enrolled_at": enrolment.enrolled_at if enrolment is not None else None,
            "enrolled_channel": enrolment.channel if enrolment is not None else "",
            "enrolled_location_id": location,
            "preferred_location_id": preferred.get(m.id, location) if alive else location,
            "guide_user_id": guide_of.get(m.id) if alive else None,
            "tier": tier.get(m.id, "") if alive else "",
            "points_balance": balance.get(m.id, 0) if alive else 0,
            "first_seen_at": sightings[0].at,
            "last_seen_at": sightings[-1].at,
            "created_at": sightings[0].at,
            "updated_at": self.now,
            "erased_at": None,
        }

    def _candidates(self, det_member: dict[str, _Member]) -> list[dict[str, Any]]:
        best: dict[tuple[int, int], tuple[float, str]] = {}
        for pair in self.result.review_pairs:
            a, b = det_member[pair.left].survivor, det_member[pair.right].survivor
            if a == b:
                continue
            key = (min(a, b), max(a, b))
            if key not in best or best[key][0] < pair.probability:
                best[key] = (pair.probability, "blocked" if pair.probability >= 1.0 else "probabilistic")
        ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))[:REVIEW_QUEUE_MAX]
        return [
            {
                "a_id": a,
                "b_id": b,
                "probability": p,
                "features": {},
                "status": "pending",
                "source": source,
                "created_at": self.now,
                "decided_at": None,
                "decided_by": "",
            }
            for (a, b), (p, source) in ranked
        ]

    # ------------------------------------------------------------ history of the graph

    def _event(
        self, kind: str, survivor: int, other: int, reason: str, at: datetime, evidence: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "kind": kind,
            "survivor_id": survivor,
            "other_id": other,
            "reason": reason,
            "evidence": evidence,
            "actor_type": self.actor.kind,
            "actor_id": str(self.actor.id),
            "actor_name": self.actor.name[:128],
            "at": at,
            "undone_at": None,
        }

    def _merge_events(
        self,
        merges: Sequence[tuple[_Member, _Member, float, tuple[int, int]]],
        edge_ids: dict[tuple[int, int], int],
        ident_ids: dict[str, int],
        consent_origin: dict[int, list[int]],
        members: dict[str, _Member],
    ) -> list[dict[str, Any]]:
        """The matcher's merges as ``identity._merge_into`` records them (so ``unmerge`` can undo
        one): both sides' identifiers, the edge, and the rows the absorbed side brought."""
        head = {m.id: m.id for m in members.values()}
        group: dict[int, list[_Member]] = {m.id: [m] for m in members.values()}

        def find(x: int) -> int:
            while head[x] != x:
                head[x] = head[head[x]]
                x = head[x]
            return x

        out = []
        timed = sorted(merges, key=lambda mg: (max(mg[0].sightings[0].at, mg[1].sightings[0].at), mg[0].id, mg[1].id))
        for left, right, probability, edge in timed:
            a, b = find(left.id), find(right.id)
            if a == b:
                continue
            survivor, other = min(a, b), max(a, b)
            at = min(self.now, max(left.sightings[0].at, right.sightings[0].at) + MATCH_DELAY)
            absorbed = group[other]
            evidence = {
                "probability": round(probability, 6),
                "edge_ids": [edge_ids[edge]],
                "survivor_identifier_ids": sorted(ident_ids[k] for m in group[survivor] for k in m.keys),
                "absorbed_identifier_ids": sorted(ident_ids[k] for m in absorbed for k in m.keys),
                "moved": {
                    "points": [],
                    "guide_bindings": [],
                    "consents": sorted(c for m in absorbed for c in consent_origin.get(m.id, [])),
                    "tags": [],
                },
            }
            out.append(self._event("merge", survivor, other, "probabilistic", at, evidence))
            head[other] = survivor
            group[survivor] += group.pop(other)
        return out

    def _quarantine_events(
        self,
        sightings: Sequence[_Sighting],
        of_record: dict[str, _Member],
        quarantined_at: dict[str, datetime],
        ident_ids: dict[str, int],
    ) -> list[dict[str, Any]]:
        """A store phone joined the first few customers it was typed for, until it had more partners
        than a person has: then the guard rail split them apart again (one event per member)."""
        out = []
        for key, at in sorted(quarantined_at.items()):
            joined: list[_Member] = []
            for sg in sightings:
                if sg.at > at:
                    break
                if key in sg.keys:
                    m = of_record[sg.record_id]
                    if all(x.survivor != m.survivor for x in joined):
                        joined.append(m)
            if not joined:
                continue
            keeper = joined[0].survivor
            for m in joined[1:]:
                evidence = {"identifier_id": ident_ids[key], "identifier_ids": sorted(ident_ids[k] for k in m.keys)}
                out.append(self._event("quarantine", keeper, m.survivor, "guard", at, evidence))
        return out

    # ------------------------------------------------------------ guides, enrolment, consents

    def _guides(self, password: str) -> dict[str, list[int]]:
        """Store code -> its guides' user ids: the plan's guide, else one created per store (two in
        flagship stores), named like the plan's (``guide_sh01``, 王磊（南京东路导购）)."""
        out: dict[str, list[int]] = {}
        # Its own random stream: this runs beside the ledger's replay, which draws from self.rng.
        rng = random.Random(f"zhongtai-demo-guides-{self.plan.seed}")
        given = ("晓燕", "子豪", "佳怡", "俊杰", "雨桐", "浩然", "思琪", "文博", "欣怡", "宇航", "梦琪", "志强")
        surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
        for store in self.plan.network.stores:
            location_id = self.stores[store.code]
            have = [u.id for u in auth_service.active_users_in_store(self.session, location_id, Role.GUIDE)]
            wanted = 2 if "旗舰" in store.name else 1
            short = store.name.removeprefix("云启").removeprefix(store.city.removesuffix("市"))
            short = short.removesuffix("店").removesuffix("旗舰")
            base = "guide_" + store.code.removeprefix("S-").lower()
            names = iter([base, *(base + c for c in "bcdefgh")])
            while len(have) < wanted:
                display = rng.choice(surnames) + rng.choice(given) + f"（{short}导购）"
                try:
                    user = auth_service.create_user(
                        self.session,
                        self.actor,
                        username=next(names),
                        display_name=display,
                        password=password,
                        role=Role.GUIDE.value,
                        store_ids=[location_id],
                    )
                except ValidationFailed as exc:
                    # Someone has that name (and is not a guide of this store): the next name.
                    if not any(p.field == "body.username" and p.code == "taken" for p in exc.errors):
                        raise
                    continue
                have.append(user.id)
                self.load.guides_created += 1
            out[store.code] = have
        return out

    def _consents(self, members: dict[str, _Member]) -> tuple[list[dict[str, Any]], list[int]]:
        """What each enrolment captured, on the member it belongs to now; and, row by row, which
        member's enrolment brought it (a merge moved it, an unmerge takes it back)."""
        rows: list[dict[str, Any]] = []
        origin: list[int] = []
        for m in sorted(members.values(), key=lambda m: m.id):
            for r in m.records:
                if r.source != "enrol" or r.enrolled_at is None:
                    continue
                for channel, granted in sorted(r.consents.items()):
                    rows.append(
                        {
                            "member_id": m.survivor,
                            "channel": channel,
                            "purpose": "marketing",
                            "granted": granted,
                            "source": f"enrol:{r.channel}",
                            "actor_name": ACTOR_NAME,
                            "at": r.enrolled_at,
                        }
                    )
                    origin.append(m.id)
        return rows, origin

    def _bindings(
        self, survivors: dict[int, list[_Member]], guides: dict[str, list[int]]
    ) -> tuple[list[dict[str, Any]], dict[int, int]]:
        """Most members who enrolled in a store have a guide there, some a second one after the
        first was reassigned."""
        rows: list[dict[str, Any]] = []
        guide_of: dict[int, int] = {}
        rng = self.rng
        for mid in sorted(survivors):
            enrolments = [
                r
                for m in survivors[mid]
                for r in m.records
                if r.source == "enrol" and r.channel == "pos" and r.enrolled_at is not None
            ]
            if not enrolments or rng.random() >= GUIDE_SHARE:
                continue
            first = min(enrolments, key=lambda r: (r.enrolled_at or self.now, r.record_id))
            store_guides = guides.get(first.store_code, [])
            if not store_guides or first.enrolled_at is None:
                continue
            location = self.stores[first.store_code]
            bound = first.enrolled_at
            guide = rng.choice(store_guides)
            if len(store_guides) > 1 and rng.random() < 0.1:
                moved = bound + (self.now - bound) * rng.uniform(0.2, 0.8)
                rows.append(self._binding(mid, guide, location, bound, moved, "enrolled"))
                guide = next(g for g in store_guides if g != guide)
                rows.append(self._binding(mid, guide, location, moved, None, "manual"))
            else:
                rows.append(self._binding(mid, guide, location, bound, None, "enrolled"))
            guide_of[mid] = guide
        return rows, guide_of

    def _binding(
        self, member_id: int, guide: int, location: int, bound: datetime, unbound: datetime | None, reason: str
    ) -> dict[str, Any]:
        return {
            "member_id": member_id,
            "guide_user_id": guide,
            "location_id": location,
            "bound_at": bound,
            "unbound_at": unbound,
            "reason": reason,
            "actor_name": ACTOR_NAME,
        }

    # ------------------------------------------------------------ statistics

    def _stats(self, orders_of: dict[int, list[HistOrder]]) -> tuple[list[dict[str, Any]], dict[int, int]]:
        """``member_stats`` as ``stats.recompute`` builds it from the order center (orders count
        unless cancelled; spend paid, refunds apart; spend per month; store orders)."""
        rows = []
        preferred: dict[int, int] = {}
        for mid in sorted(orders_of):
            counted = sorted((o for o in orders_of[mid] if o.status != "cancelled"), key=lambda o: o.placed_at)
            if not counted:
                continue
            by_month: Counter[str] = Counter()
            store_orders: Counter[str] = Counter()
            last_store: dict[str, datetime] = {}
            for o in counted:
                by_month[stats.month_key(o.placed_at)] += o.paid_fen - o.refunded_fen
                if o.delivery_mode in stats.STORE_MODES and o.store_code:
                    key = str(self.stores[o.store_code])
                    store_orders[key] += 1
                    last_store[key] = o.placed_at
            best = stats.preferred_store(dict(store_orders), last_store)
            if best is not None:
                preferred[mid] = best
            months = dict(by_month)
            rows.append(
                {
                    "member_id": mid,
                    "orders_count": len(counted),
                    "spend_fen": sum(o.paid_fen for o in counted),
                    "refunded_fen": sum(o.refunded_fen for o in counted),
                    "spend_12m_fen": stats.spend_12m(months, self.now),
                    "first_order_at": counted[0].placed_at,
                    "last_order_at": counted[-1].placed_at,
                    "channels": list(dict.fromkeys(o.channel_code for o in counted)),
                    "spend_by_month": {k: months[k] for k in sorted(months)[-stats.MONTHS_KEPT :]},
                    "store_orders": dict(store_orders),
                    "recent_orders": [o.number for o in counted[-stats.RECENT_ORDERS_KEPT :]],
                    "r_score": 0,
                    "f_score": 0,
                    "m_score": 0,
                    "segment": "",
                    "scored_at": None,
                    "updated_at": self.now,
                }
            )
        return rows, preferred


# ---------------------------------------------------------------- pure helpers


class _Background:
    """Runs ``work`` in a thread; ``join`` returns its result or raises its exception."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self._work = work
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="demo-members", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self._work()
        except BaseException as exc:  # handed to the caller in join
            self._error = exc

    def wait(self) -> None:
        self._thread.join()

    def join(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


def _number_ledger(entries: list[dict[str, Any]], ids: Sequence[int]) -> None:
    """Replaces the ledger's provisional ids (positions) with the reserved ones, in the lots its
    debits consumed and the expiries' references too."""
    for row in entries:
        row["id"] = ids[row["id"]]
        row["consumed"] = [[ids[lot], n] for lot, n in row["consumed"]]
        if row["source"] == "expire":
            row["source_ref"] = str(ids[int(row["source_ref"])])
            row["note"] = f"lot {row['source_ref']} expired {row['note']}"


def _mode(values: Sequence[str]) -> str:
    """The most common non-empty value (ties: the first seen)."""
    counts = Counter(v for v in values if v)
    if not counts:
        return ""
    top = max(counts.values())
    return next(v for v in values if v and counts[v] == top)


def _name(records: Sequence[MemberRecord]) -> str:
    """The name the member goes by: the most common one in characters (what the orders and the
    store card say), else the most common spelling."""
    names = [r.full_name for r in records if r.full_name]
    hanzi = [n for n in names if not n.replace(" ", "").isascii()]
    return _mode(hanzi) or _mode(names)


@dataclass(order=True, slots=True)
class _Event:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    order: HistOrder = field(compare=False)
    amount: int = field(compare=False, default=0)
    ref: str = field(compare=False, default="")


def _replay(
    member_id: int,
    orders: Sequence[HistOrder],
    rules: Sequence[points.TierSpec],
    now: datetime,
    rng: random.Random,
    out: list[dict[str, Any]],
) -> tuple[int, str]:
    """One member's ledger (entries appended to ``out`` with provisional ids: their index in
    ``out``). Returns the balance and the tier as of ``now``."""
    queue: list[_Event] = []
    seq = 0
    for o in orders:
        if o.status == "cancelled":
            continue
        if o.completed_at is not None:
            queue.append(_Event(o.completed_at, seq, "earn", o))
            seq += 1
        for k, refund in enumerate(o.refunds, start=1):
            if refund.settled_at is not None:
                queue.append(_Event(refund.settled_at, seq, "refund", o, refund.amount_fen, f"{o.number}:h{k}"))
                seq += 1
    heapq.heapify(queue)
    start = len(out)
    clawed: dict[str, int] = defaultdict(int)  # order -> points taken back so far
    lots: list[tuple[datetime, int]] = []  # (expires_at, entry index) of lots with points left
    remaining: dict[int, int] = {}
    spend: dict[str, int] = defaultdict(int)  # order -> spend counted so far (earn and refunds)
    earned: dict[str, tuple[int, int, int]] = {}  # order -> (entry, points, net at earn)
    balance = 0
    redeemed = 0

    def append(row: dict[str, Any]) -> None:
        row.update(id=len(out), member_id=member_id, balance_after=balance, actor_name=ACTOR_NAME)
        row.setdefault("remaining", 0)
        row.setdefault("expires_at", None)
        row.setdefault("channel_code", "")
        row.setdefault("order_number", "")
        row.setdefault("spend_fen", 0)
        row.setdefault("consumed", [])
        row.setdefault("note", "")
        out.append(row)

    def consume(n: int) -> list[list[int]]:
        taken = []
        while n > 0 and lots:
            _expires, lot = lots[0]
            take = min(n, remaining[lot])
            remaining[lot] -= take
            n -= take
            taken.append([lot, take])
            if remaining[lot] == 0:
                heapq.heappop(lots)
        return taken

    def expire_until(t: datetime) -> None:
        nonlocal balance
        while lots and lots[0][0] <= t:
            expires, lot = heapq.heappop(lots)
            n = remaining[lot]
            remaining[lot] = 0
            balance -= n
            append(
                {
                    "kind": "expire",
                    "points": -n,
                    "source": "expire",
                    "source_ref": str(lot),
                    "channel_code": out[lot]["channel_code"],
                    "consumed": [[lot, n]],
                    "note": expires.isoformat(),
                    "at": expires,
                }
            )

    # The tier's qualifying spend: what the orders earned on in the last 365 days still count.
    recent: deque[tuple[datetime, str]] = deque()
    in_window: set[str] = set()
    window_total = 0

    def qualifying(t: datetime) -> int:
        nonlocal window_total
        while recent and recent[0][0] <= t - points.TIER_WINDOW:
            _at, number = recent.popleft()
            in_window.discard(number)
            window_total -= spend[number]
        return max(0, window_total)

    while queue:
        ev = heapq.heappop(queue)
        if ev.at > now:
            continue
        expire_until(ev.at)
        o = ev.order
        if ev.kind == "earn":
            tier = points.choose_tier(rules, qualifying(ev.at))
            rate = tier.earn_rate if tier else points.RATE_SCALE
            net = max(0, o.paid_fen + spend[o.number])
            got = points.earn_points(net, rate)
            lot = len(out)
            before = balance
            balance += got
            remaining[lot] = points.credit_to_lots(before, got)
            expires = points.expiry_of(ev.at)
            if remaining[lot] > 0:
                heapq.heappush(lots, (expires, lot))
            spend[o.number] += o.paid_fen
            earned[o.number] = (lot, got, spend[o.number])
            recent.append((ev.at, o.number))
            in_window.add(o.number)
            window_total += spend[o.number]
            append(
                {
                    "kind": "earn",
                    "points": got,
                    "expires_at": expires,
                    "source": "order",
                    "source_ref": o.number,
                    "channel_code": o.channel_code,
                    "order_number": o.number,
                    "spend_fen": o.paid_fen,
                    "note": f"{net} fen at {tier.code if tier else '-'} rate {rate}",
                    "at": ev.at,
                }
            )
            if balance >= 300 and rng.random() < REDEEM_CHANCE:
                when = ev.at + timedelta(days=rng.uniform(3, 120))
                heapq.heappush(queue, _Event(when, seq, "redeem", o))
                seq += 1
        elif ev.kind == "refund":
            if o.number in earned:
                _lot, got, net_at_earn = earned[o.number]
                back, counted = points.clawback_points(got, net_at_earn, spend[o.number], ev.amount, clawed[o.number])
                clawed[o.number] += back
                note = f"refund {ev.ref}: {counted} fen"
            else:
                back, counted = 0, ev.amount
                note = f"refund {ev.ref} before points were earned"
            consumed = consume(back)
            balance -= back
            spend[o.number] -= counted
            if o.number in in_window:
                window_total -= counted
            append(
                {
                    "kind": "clawback",
                    "points": -back,
                    "source": "refund",
                    "source_ref": f"{o.number}:{ev.ref}",
                    "channel_code": o.channel_code if o.number in earned else "",
                    "order_number": o.number,
                    "spend_fen": -counted,
                    "consumed": consumed,
                    "note": note,
                    "at": ev.at,
                }
            )
        else:  # a redemption at a till or in the mini-program
            want = min(balance, rng.choice((100, 200, 300, 500, 1000)))
            if want < 100:
                continue
            redeemed += 1
            channel = "pos" if rng.random() < 0.6 else "miniapp"
            consumed = consume(want)
            balance -= want
            append(
                {
                    "kind": "redeem",
                    "points": -want,
                    "source": "redeem",
                    "source_ref": f"{channel}:DEMO-{member_id}-{redeemed}",
                    "channel_code": channel,
                    "consumed": consumed,
                    "note": "抵现 cash voucher" if channel == "pos" else "兑换 coupon",
                    "at": ev.at,
                }
            )
    expire_until(now)
    for row in out[start:]:
        if row["kind"] == "earn":
            row["remaining"] = remaining.get(row["id"], 0)
    tier = points.choose_tier(rules, qualifying(now))
    return balance, tier.code if tier else ""


if __name__ == "__main__":
    # Through the module's real name, so that what is pickled names zhongtai.demo.member_loader
    # classes, not __main__ ones the loader could not find.
    from zhongtai.demo.member_loader import _main as main

    raise SystemExit(main(sys.argv[1:]))
