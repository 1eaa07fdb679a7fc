"""The identity graph (OneID): observe, merge, split, review.

A member is a connected component of active ``IdentityEdge`` rows over ``Identifier`` nodes.

* ``observe`` is the one way a sighting enters the graph (order buyer, enrolment, mini-program
  login, a linked WeChat, an import row). It is idempotent per (source, source_ref). New
  identifiers join the member their known partners belong to; identifiers of several members in
  one sighting merge those members (the oldest survives, its id is stable, the others redirect).
* Guard rails (``identifiers.MAX_PARTNERS``): an identifier seen with more distinct partners of one
  kind than a person has (a store's own phone typed for walk-in customers) is quarantined: its
  edges stop linking and its member is split back into the people it had joined.
* ``unmerge`` undoes one merge: the edges that made it stop linking, the two sides become two
  members again (the absorbed member's id comes back), and a cannot-link keeps them apart. A
  strong link between cannot-linked members goes to the review queue instead of merging.
* Probabilistic links (``run_matching``, over weak attributes with the Splink model of
  ``members.matching``) merge above the match threshold and queue pairs in between for review.

Concurrency: identifiers are serialised by a PostgreSQL advisory lock per identifier key (taken
in key order), merges and splits by one advisory lock, and members by their row lock, always in
that order: keys, merge lock, member rows (ascending id). SQLite has one writer at a time.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from zhongtai.auth.audit import record
from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.db import Database, advisory_xact_lock, utcnow
from zhongtai.errors import Conflict, not_found
from zhongtai.jobs import JobContext, job_handler
from zhongtai.members import consents as consent_service
from zhongtai.members import guides, points, stats, tags
from zhongtai.members import repository as repo
from zhongtai.members.identifiers import (
    MAX_COMPONENT_IDENTIFIERS,
    IdentifierIn,
    IdKind,
    over_partner_cap,
)
from zhongtai.members.models import (
    CannotLink,
    Consent,
    GuideBinding,
    Identifier,
    IdentityEdge,
    MatchCandidate,
    Member,
    MemberTag,
    MergeEvent,
    Observation,
    PointsEntry,
)
from zhongtai.members.schemas import MatchRunOut, MergeEventOut
from zhongtai.orders import service as orders

MERGE_LOCK = "members:merge"
# Attached rows that follow a member through merges (and back through an unmerge).
_ATTACHED: dict[str, Any] = {
    "points": PointsEntry,
    "guide_bindings": GuideBinding,
    "consents": Consent,
    "tags": MemberTag,
}


class _Retry(Exception):
    """The graph moved under us between reading and locking: try again under the merge lock."""


def _lock_members(session: Session, ids: Iterable[int]) -> dict[int, Member]:
    """Row locks in ascending id order; a redirected id maps to its (locked) survivor."""
    out: dict[int, Member] = {}
    for member_id in sorted(set(ids)):
        out[member_id] = repo.lock_or_404(session, member_id)
    return out


def _new_member(session: Session, at: datetime) -> Member:
    member = Member(code=f"T{time.monotonic_ns()}"[:16], first_seen_at=at, last_seen_at=at)
    session.add(member)
    session.flush()
    member.code = f"M{member.id:010d}"
    return member


def _apply_attributes(member: Member, attributes: dict[str, Any] | None) -> None:
    """Weak attributes: the latest non-empty value wins (the matcher's input, the card's profile)."""
    if not attributes:
        return
    for field in ("name", "gender", "city", "province", "address", "postcode"):
        value = attributes.get(field)
        if value:
            setattr(member, field, str(value)[: {"address": 255, "name": 64}.get(field, 32)])
    birthday = attributes.get("birthday")
    if isinstance(birthday, date):
        member.birthday = birthday


# --- observe ---------------------------------------------------------------------------------


def observe(
    session: Session,
    actor: Principal,
    *,
    source: str,
    source_ref: str,
    identifiers: Sequence[IdentifierIn],
    attributes: dict[str, Any] | None = None,
    channel_code: str = "",
    at: datetime | None = None,
) -> Member:
    """Puts one sighting into the graph and returns the member it belongs to (see the module doc)."""
    at = at or utcnow()
    seen = repo.observation(session, source, source_ref)
    if seen is not None:
        return _current(session, seen.member_id)
    if not identifiers:
        raise ValueError("an observation needs at least one strong identifier")
    for key in sorted({i.key for i in identifiers}):
        advisory_xact_lock(session, f"member-id:{key}")
    seen = repo.observation(session, source, source_ref)
    if seen is not None:
        return _current(session, seen.member_id)
    merge_locked = False
    for _attempt in range(4):
        try:
            with session.begin_nested():
                return _observe_locked(
                    session, actor, source, source_ref, list(identifiers), attributes, channel_code, at, merge_locked
                )
        except (_Retry, DBAPIError) as exc:
            if isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) not in ("40P01", "40001"):
                raise
            if not merge_locked:
                advisory_xact_lock(session, MERGE_LOCK)
                merge_locked = True
    raise Conflict("the identity graph kept changing; try again")


def _current(session: Session, member_id: int) -> Member:
    member = repo.get(session, member_id)
    if member is None:
        raise not_found("member", member_id)
    return repo.resolve(session, member)


def _observe_locked(
    session: Session,
    actor: Principal,
    source: str,
    source_ref: str,
    idents: list[IdentifierIn],
    attributes: dict[str, Any] | None,
    channel_code: str,
    at: datetime,
    merge_locked: bool,
) -> Member:
    known = repo.identifiers_by_keys(session, idents)
    # Guard rails first: partners this sighting would add to each known identifier.
    new_partner_kinds = _new_partners(session, idents, known)
    for key, added in new_partner_kinds.items():
        row = known[key]
        if row.status != "active":
            continue
        partners = Counter({k: int(v) for k, v in (row.partners or {}).items()})
        partners.update(added)
        if over_partner_cap(dict(partners)):
            if not merge_locked:
                raise _Retry
            _quarantine(session, actor, row, at)
    linking = [r for r in known.values() if r.status == "active"]
    owner_ids = {r.member_id for r in linking}
    if len(owner_ids) > 1 and not merge_locked:
        raise _Retry
    locked = _lock_members(session, owner_ids)
    current = {m.id: m for m in locked.values()}
    # Re-read after locking: the owners may have moved (a merge or split committed meanwhile).
    known = repo.identifiers_by_keys(session, idents)
    linking = [r for r in known.values() if r.status == "active"]
    if {r.member_id for r in linking} - set(current):
        raise _Retry
    members = sorted({r.member_id for r in linking})
    if len(members) > 1 and not merge_locked:
        raise _Retry
    survivor: Member
    blocked: set[int] = set()
    if not members:
        survivor = _new_member(session, at)
    else:
        survivor = current[members[0]]
        for other_id in members[1:]:
            other = current[other_id]
            if repo.cannot_link(session, survivor.id, other.id) or (
                repo.identifier_count(session, [survivor.id, other.id]) + len(idents) > MAX_COMPONENT_IDENTIFIERS
            ):
                blocked.add(other.id)
                _queue(session, survivor.id, other.id, 1.0, {"identifiers": [i.key for i in idents]}, "blocked")
                continue
            survivor = _merge_into(session, actor, survivor, other, reason="deterministic", at=at)
    _apply_attributes(survivor, attributes)
    survivor.last_seen_at = max(survivor.last_seen_at, at)
    survivor.first_seen_at = min(survivor.first_seen_at, at)
    rows: list[Identifier] = []
    for ident in idents:
        found = known.get(ident.key)
        if found is None:
            row = Identifier(
                kind=ident.kind.value,
                app=ident.app,
                value=ident.value,
                member_id=survivor.id,
                source_channel=channel_code,
                first_seen_at=at,
                last_seen_at=at,
                partners={},
            )
            session.add(row)
        else:
            row = found
            row.last_seen_at = max(row.last_seen_at, at)
        rows.append(row)
    session.flush()
    observation = Observation(
        source=source,
        source_ref=source_ref,
        channel_code=channel_code,
        member_id=survivor.id,
        identifier_ids=[r.id for r in rows],
        observed_at=at,
    )
    session.add(observation)
    session.flush()
    _add_edges(session, rows, observation.id, blocked)
    return survivor


def _new_partners(
    session: Session, idents: Sequence[IdentifierIn], known: dict[str, Identifier]
) -> dict[str, Counter[str]]:
    """For each known identifier: the kinds of partners in this sighting it has no edge to yet."""
    out: dict[str, Counter[str]] = {}
    existing = repo.edge_pairs(session, [r.id for r in known.values()])
    for key, row in known.items():
        added: Counter[str] = Counter()
        for other in idents:
            if other.key == key:
                continue
            other_row = known.get(other.key)
            if other_row is not None and (min(row.id, other_row.id), max(row.id, other_row.id)) in existing:
                continue
            added[other.kind.value] += 1
        if added:
            out[key] = added
    return out


def _add_edges(session: Session, rows: list[Identifier], observation_id: int, blocked: set[int]) -> None:
    """Edges between every pair of the sighting's identifiers, counted in each side's partners.
    Edges to a quarantined identifier, or across a blocked (cannot-link) pair, are kept inactive."""
    existing = repo.edge_pairs(session, [r.id for r in rows])
    for i, left in enumerate(rows):
        for right in rows[i + 1 :]:
            a, b = (left, right) if left.id < right.id else (right, left)
            if a.id == b.id or (a.id, b.id) in existing:
                continue
            existing.add((a.id, b.id))
            quarantined = a.status != "active" or b.status != "active"
            crossing = a.member_id != b.member_id and (a.member_id in blocked or b.member_id in blocked)
            session.add(
                IdentityEdge(
                    a_id=a.id,
                    b_id=b.id,
                    kind="observed",
                    observation_id=observation_id,
                    active=not (quarantined or crossing),
                    disabled_reason="quarantined" if quarantined else ("cannot_link" if crossing else ""),
                )
            )
            for node, partner in ((a, b), (b, a)):
                partners = dict(node.partners or {})
                partners[partner.kind] = int(partners.get(partner.kind, 0)) + 1
                node.partners = partners
    session.flush()


# --- merge -----------------------------------------------------------------------------------


def _merge_into(
    session: Session,
    actor: Principal,
    survivor: Member,
    other: Member,
    *,
    reason: str,
    at: datetime,
    evidence: dict[str, Any] | None = None,
) -> Member:
    """Moves everything of ``other`` onto ``survivor`` (both locked, merge lock held)."""
    if survivor.id > other.id:
        survivor, other = other, survivor
    if other.status == "erased" or survivor.status == "erased":
        raise Conflict("an erased member cannot be merged")
    survivor_ids = repo.identifier_ids(session, survivor.id)
    absorbed_ids = repo.identifier_ids(session, other.id)
    moved = {name: repo.attached_ids(session, model, other.id) for name, model in _ATTACHED.items()}
    for name, model in _ATTACHED.items():
        # Tags move in tags.after_merge: a tag both members had stays once.
        if moved[name] and model is not MemberTag:
            repo.move_attached(session, model, moved[name], survivor.id)
    repo.move_identifiers(session, absorbed_ids, survivor.id)
    repo.move_observations(session, other.id, survivor.id)
    orders.reassign_member(session, [other.id], survivor.id)
    for field in ("name", "gender", "birthday", "province", "city", "address", "postcode", "enrolled_at"):
        if not getattr(survivor, field) and getattr(other, field):
            setattr(survivor, field, getattr(other, field))
    if not survivor.enrolled_channel:
        survivor.enrolled_channel = other.enrolled_channel
        survivor.enrolled_location_id = other.enrolled_location_id
    survivor.first_seen_at = min(survivor.first_seen_at, other.first_seen_at)
    survivor.last_seen_at = max(survivor.last_seen_at, other.last_seen_at)
    guides.after_merge(session, actor, survivor, other)
    other.status = "merged"
    other.merged_into_id = survivor.id
    other.points_balance = 0
    # Members merged into ``other`` earlier now redirect straight to the survivor.
    repo.redirect_merged(session, other.id, survivor.id)
    event = MergeEvent(
        kind="merge",
        survivor_id=survivor.id,
        other_id=other.id,
        reason=reason,
        evidence={
            **(evidence or {}),
            "survivor_identifier_ids": survivor_ids,
            "absorbed_identifier_ids": absorbed_ids,
            "moved": moved,
        },
        actor_type=actor.kind,
        actor_id=str(actor.id),
        actor_name=actor.name[:128],
        at=at,
    )
    session.add(event)
    repo.obsolete_candidates(session, [other.id], at)
    session.flush()
    _refresh(session, [survivor])
    tags.after_merge(session, survivor.id, other.id)
    record(
        session,
        actor,
        "member.merge",
        "member",
        survivor.id,
        after={"absorbed": other.id, "reason": reason, "event": event.id},
    )
    return survivor


def _refresh(session: Session, members: Iterable[Member]) -> None:
    """Caches derived from attached rows: points balance and tier, order statistics."""
    session.flush()
    now = utcnow()
    for member in members:
        points.recompute_balance(session, member)
        stats.recompute(session, member.id)
        points.recompute_tier(session, member, now)


def merge(
    session: Session,
    actor: Principal,
    survivor_key: str | int,
    other_key: str | int,
    *,
    reason: str = "manual",
    evidence: dict[str, Any] | None = None,
) -> Member:
    """A reviewer (or the matcher) says two members are one person. The older id survives."""
    advisory_xact_lock(session, MERGE_LOCK)
    a, b = repo.find_or_404(session, survivor_key), repo.find_or_404(session, other_key)
    if a.id == b.id:
        return a
    locked = _lock_members(session, [a.id, b.id])
    first, second = sorted(locked.values(), key=lambda m: m.id)
    if reason == "manual":
        # The reviewer's decision is evidence in the graph: an edge between the two members.
        _link_edge(session, first.id, second.id, "manual", None)
    # A reviewer's merge overrides an earlier "different people".
    repo.forget_cannot_link(session, first.id, second.id)
    return _merge_into(session, actor, first, second, reason=reason, at=utcnow(), evidence=evidence)


def _link_edge(session: Session, a_member: int, b_member: int, kind: str, probability: float | None) -> None:
    """Evidence for a merge that no sighting shows: an edge between the members' oldest identifiers."""
    left = repo.oldest_identifier(session, a_member)
    right = repo.oldest_identifier(session, b_member)
    if left is None or right is None:
        return
    edge = repo.edge(session, left.id, right.id)
    if edge is None:
        a, b = sorted((left.id, right.id))
        session.add(IdentityEdge(a_id=a, b_id=b, kind=kind, probability=probability))
    else:
        edge.active, edge.disabled_reason = True, ""


# --- splits: quarantine and unmerge -----------------------------------------------------------


def _quarantine(session: Session, actor: Principal, row: Identifier, at: datetime) -> None:
    """The identifier stops linking; its member is split along the remaining edges."""
    row.status = "quarantined"
    row.quarantined_at = at
    repo.disable_edges_of(session, row.id, "quarantined")
    session.flush()
    member = repo.lock(session, row.member_id)
    if member is not None:
        _split(session, actor, member, kind="quarantine", reason="guard", at=at, evidence={"identifier_id": row.id})
    record(session, actor, "member.identifier_quarantined", "member_identifier", row.id, after={"kind": row.kind})


def quarantine(session: Session, actor: Principal, identifier_id: int) -> None:
    """A manager marks an identifier as shared (a store phone, a family iPad)."""
    advisory_xact_lock(session, MERGE_LOCK)
    row = session.get(Identifier, identifier_id)
    if row is None:
        raise not_found("identifier", identifier_id)
    if row.status != "quarantined":
        _quarantine(session, actor, row, utcnow())


def _components(session: Session, member_id: int) -> tuple[list[Identifier], list[list[Identifier]]]:
    nodes = repo.identifiers_of(session, member_id)
    ids = [n.id for n in nodes]
    parent = {i: i for i in ids}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in repo.active_edges_among(session, ids):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[Identifier]] = defaultdict(list)
    quarantined: list[Identifier] = []
    for node in nodes:
        if node.status == "active":
            groups[find(node.id)].append(node)
        else:
            quarantined.append(node)
    parts = sorted(groups.values(), key=lambda g: g[0].id)
    return quarantined, parts


def _split(
    session: Session,
    actor: Principal,
    member: Member,
    *,
    kind: str,
    reason: str,
    at: datetime,
    evidence: dict[str, Any],
    restore: Member | None = None,
    restore_ids: set[int] | None = None,
) -> list[Member]:
    """Recomputes the member's component. The part holding its oldest identifier keeps the member;
    the part holding most of ``restore_ids`` goes back to ``restore``; other parts become new
    members. Orders and points earned on them follow the sightings that carried them."""
    quarantined, parts = _components(session, member.id)
    if len(parts) <= 1:
        return [member]
    keep = 0
    owner: dict[int, Member] = {}
    if restore is not None and restore_ids:
        overlap = [len({n.id for n in p} & restore_ids) for p in parts]
        keep = max(range(len(parts)), key=lambda i: (len(parts[i]) - overlap[i], -i))
        back = max((i for i in range(len(parts)) if i != keep), key=lambda i: (overlap[i], -i))
        owner[back] = restore
        restore.status, restore.merged_into_id = "active", None
    owner[keep] = member
    for i in range(len(parts)):
        if i not in owner:
            owner[i] = _new_member(session, at)
    node_owner: dict[int, int] = {}
    for i, part in enumerate(parts):
        ids = [n.id for n in part]
        repo.move_identifiers(session, ids, owner[i].id)
        node_owner.update(dict.fromkeys(ids, owner[i].id))
    for node in quarantined:
        node.member_id = member.id
    # Sightings (and the orders they carried) follow their identifiers.
    assignments: dict[str, int] = {}
    for obs in repo.observations_of(session, member.id):
        targets = [node_owner[i] for i in obs.identifier_ids if i in node_owner]
        if not targets:
            continue
        target = Counter(targets).most_common(1)[0][0]
        if target != obs.member_id:
            obs.member_id = target
            if obs.source == "order":
                assignments[obs.source_ref] = target
    orders.assign_members(session, assignments)
    for number, target in assignments.items():
        repo.move_order_points(session, number, member.id, target)
    involved = [member] + [owner[i] for i in sorted(owner) if i != keep]
    for i in sorted(owner):
        if i == keep:
            continue
        session.add(
            MergeEvent(
                kind=kind,
                survivor_id=member.id,
                other_id=owner[i].id,
                reason=reason,
                evidence={**evidence, "identifier_ids": [n.id for n in parts[i]]},
                actor_type=actor.kind,
                actor_id=str(actor.id),
                actor_name=actor.name[:128],
                at=at,
            )
        )
    _refresh(session, involved)
    record(session, actor, f"member.{kind}", "member", member.id, after={"into": [m.id for m in involved]})
    return involved


def unmerge(session: Session, actor: Principal, event_id: int) -> tuple[Member, Member]:
    """Undoes one merge: the absorbed member comes back with what it brought (identifiers and the
    sightings, orders and points on them; its tags, consents and guide history), and a cannot-link
    keeps the two apart from now on."""
    advisory_xact_lock(session, MERGE_LOCK)
    event = session.get(MergeEvent, event_id)
    if event is None or event.kind != "merge":
        raise not_found("merge", event_id)
    if event.undone_at is not None:
        raise Conflict(f"merge {event_id} was already undone")
    absorbed = session.get(Member, event.other_id) if event.other_id else None
    if absorbed is None:
        raise not_found("member", event.other_id)
    if absorbed.status == "erased":
        raise Conflict("the absorbed member was erased")
    survivor = repo.lock_or_404(session, event.survivor_id)
    absorbed = repo.lock_row(session, absorbed.id) or absorbed
    at = utcnow()
    side_a = set(event.evidence.get("absorbed_identifier_ids", []))
    side_s = set(event.evidence.get("survivor_identifier_ids", []))
    current = set(repo.identifier_ids(session, survivor.id))
    side_a &= current
    # Cut what joined the two sides, then anything else still joining them.
    for edge in repo.active_edges_touching(session, side_a):
        other_end = edge.b_id if edge.a_id in side_a else edge.a_id
        if other_end in side_s or (other_end not in side_a and _joins(session, other_end, side_s, side_a)):
            edge.active, edge.disabled_reason = False, "unmerged"
    session.flush()
    sides = _split(
        session,
        actor,
        survivor,
        kind="unmerge",
        reason="manual",
        at=at,
        evidence={"merge_event_id": event.id},
        restore=absorbed,
        restore_ids=side_a,
    )
    if len(sides) < 2:
        raise Conflict(f"merge {event_id} cannot be undone: the two sides are joined by later evidence")
    # What the absorbed member brought comes back with it.
    for name, model in _ATTACHED.items():
        ids = event.evidence.get("moved", {}).get(name, [])
        if ids:
            repo.move_attached(session, model, ids, absorbed.id, from_id=survivor.id)
    if absorbed.status != "active":
        absorbed.status, absorbed.merged_into_id = "active", None
    event.undone_at = at
    lo, hi = min(survivor.id, absorbed.id), max(survivor.id, absorbed.id)
    if not repo.cannot_link(session, lo, hi):
        session.add(CannotLink(a_id=lo, b_id=hi, reason=f"unmerge of merge {event.id} by {actor.name}"[:255]))
    _refresh(session, [survivor, absorbed])
    record(session, actor, "member.unmerge", "member", survivor.id, after={"restored": absorbed.id, "event": event.id})
    return survivor, absorbed


def _joins(session: Session, node: int, side_s: set[int], side_a: set[int]) -> bool:
    """Whether an identifier added after the merge has edges to both sides (it would re-join them)."""
    ends = {e.b_id if e.a_id == node else e.a_id for e in repo.active_edges_touching(session, [node])}
    return bool(ends & side_s) and bool(ends & side_a)


# --- enrolment and linking ---------------------------------------------------------------------


def link_identifiers(
    session: Session,
    actor: Principal,
    member_key: str | int,
    identifiers: Sequence[IdentifierIn],
    *,
    channel_code: str = "",
) -> Member:
    """Adds identifiers to a member (a WeChat bound in the mini-program, a JD account linked by the
    buyer): a sighting of the member's card number together with them."""
    member = repo.find_or_404(session, member_key)
    if member.status == "erased":
        raise Conflict("the member was erased")
    # The member's oldest identifier sighted with the new ones links them to this member.
    oldest = repo.oldest_identifier(session, member.id)
    anchor = [IdentifierIn(IdKind(oldest.kind), oldest.value, oldest.app)] if oldest is not None else []
    ref = f"{member.id}:" + ",".join(sorted(i.key for i in identifiers))
    result = observe(
        session,
        actor,
        source="link",
        source_ref=ref[:96],
        identifiers=[*anchor, *identifiers],
        channel_code=channel_code,
    )
    record(session, actor, "member.link", "member", result.id, after={"kinds": [i.kind.value for i in identifiers]})
    return result


@dataclass(frozen=True, slots=True)
class Enrolment:
    member: Member
    created: bool
    card_number: str


def enrol(
    session: Session,
    actor: Principal,
    *,
    phone: IdentifierIn,
    channel_code: str,
    name: str = "",
    gender: str = "",
    birthday: date | None = None,
    city: str = "",
    location_id: int | None = None,
    wechat: Sequence[IdentifierIn] = (),
    consents: dict[str, bool] | None = None,
    guide_user_id: int | None = None,
) -> Enrolment:
    """Registration by phone (at the till, in the mini-program). A phone the graph already knows
    enrols that member (no duplicate); a new member gets a card number."""
    at = utcnow()
    member = observe(
        session,
        actor,
        source="enrol",
        source_ref=f"{channel_code}:{phone.value}",
        identifiers=[phone, *wechat],
        attributes={"name": name, "gender": gender, "birthday": birthday, "city": city},
        channel_code=channel_code,
        at=at,
    )
    member = repo.lock(session, member.id) or member
    created = member.enrolled_at is None
    card_row = repo.oldest_identifier(session, member.id, kind=IdKind.CARD.value)
    card = card_row.value if card_row is not None else f"8{member.id:011d}"
    if card_row is None:
        observe(
            session,
            actor,
            source="enrol",
            source_ref=f"card:{card}",
            identifiers=[phone, IdentifierIn(IdKind.CARD, card)],
            channel_code=channel_code,
            at=at,
        )
    if created:
        member.enrolled_at = at
        member.enrolled_channel = channel_code
        member.enrolled_location_id = location_id
        if location_id and member.preferred_location_id is None:
            member.preferred_location_id = location_id
    for channel, granted in (consents or {}).items():
        consent_service.set_consent(
            session, actor, member.id, channel=channel, granted=granted, source=f"enrol:{channel_code}"
        )
    if guide_user_id is not None and member.guide_user_id != guide_user_id:
        guides.bind(session, actor, member.id, guide_user_id, reason="enrolled")
    record(session, actor, "member.enrol", "member", member.id, after={"channel": channel_code, "created": created})
    return Enrolment(member, created, card)


# --- review queue and probabilistic matching ----------------------------------------------------


def _queue(session: Session, a: int, b: int, probability: float, features: dict[str, Any], source: str) -> None:
    lo, hi = min(a, b), max(a, b)
    row = repo.candidate(session, lo, hi)
    if row is None:
        session.add(MatchCandidate(a_id=lo, b_id=hi, probability=probability, features=features, source=source))
    elif row.status == "pending":
        row.probability, row.features = probability, features


def decide_candidate(session: Session, actor: Principal, candidate_id: int, *, approve: bool) -> None:
    candidate = repo.lock_candidate(session, candidate_id)
    if candidate is None:
        raise not_found("match candidate", candidate_id)
    if candidate.status != "pending":
        raise Conflict(f"candidate {candidate_id} is already {candidate.status}")
    at = utcnow()
    if approve:
        merge(
            session,
            actor,
            candidate.a_id,
            candidate.b_id,
            reason="manual",
            evidence={"candidate_id": candidate.id, "probability": candidate.probability},
        )
    else:
        lo, hi = candidate.a_id, candidate.b_id
        if not repo.cannot_link(session, lo, hi):
            session.add(CannotLink(a_id=lo, b_id=hi, reason=f"rejected in review by {actor.name}"[:255]))
    candidate.status = "merged" if approve else "rejected"
    candidate.decided_at = at
    candidate.decided_by = actor.name[:128]
    record(session, actor, "member.review", "match_candidate", candidate.id, after={"approve": approve})


def history(session: Session, member_key: str | int) -> list[MergeEventOut]:
    member = repo.find_or_404(session, member_key)
    related = [member.id, *repo.merged_into(session, member.id)]
    return [MergeEventOut.model_validate(r) for r in repo.merge_events(session, related)]


def identifiers_of(session: Session, member_id: int) -> list[Identifier]:
    return repo.identifiers_of(session, member_id)


@dataclass(frozen=True, slots=True)
class MemberBrief:
    """Who a member is, as customer service needs it (no personal data)."""

    id: int
    code: str
    name: str
    tier: str


def member_brief(session: Session, member_id: int) -> MemberBrief | None:
    """The active member with this id (a merged id: its survivor), or None."""
    member = repo.get(session, member_id)
    if member is None:
        return None
    member = repo.resolve(session, member)
    if member.status != "active":
        return None
    return MemberBrief(id=member.id, code=member.code, name=member.name, tier=member.tier)


def member_by_identifiers(session: Session, idents: Sequence[IdentifierIn]) -> MemberBrief | None:
    """The active member these strong identifiers point at, or None when none is known or when they
    point at different members. Read only: a lookup never creates a member or a node, and
    quarantined (shared) identifiers are ignored."""
    ids = {r.member_id for r in repo.identifiers_by_keys(session, idents).values() if r.status == "active"}
    briefs = {b.id: b for b in (member_brief(session, i) for i in sorted(ids)) if b is not None}
    return next(iter(briefs.values())) if len(briefs) == 1 else None


def weak_frame_rows(session: Session) -> list[dict[str, Any]]:
    """Active members with weak attributes: the probabilistic matcher's input."""
    return [
        {
            "record_id": str(r.id),
            "full_name": r.name,
            "birthday": r.birthday.isoformat() if r.birthday else "",
            "city": r.city,
            "address": r.address,
            "postcode": r.postcode,
        }
        for r in repo.weak_attribute_rows(session)
    ]


def apply_matches(
    session: Session,
    actor: Principal,
    merges: Sequence[tuple[int, int, float]],
    reviews: Sequence[tuple[int, int, float, dict[str, Any]]],
) -> tuple[int, int]:
    """Applies the matcher's output: merges above the threshold, the review queue in between.
    Pairs a reviewer rejected (cannot-link) or already decided are skipped."""
    merged = queued = 0
    decided = repo.decided_pairs(session)
    for a, b, probability in merges:
        left, right = repo.find_or_404(session, a), repo.find_or_404(session, b)
        lo, hi = min(left.id, right.id), max(left.id, right.id)
        if lo == hi or (lo, hi) in decided or repo.cannot_link(session, lo, hi):
            continue
        if left.status != "active" or right.status != "active":
            continue
        advisory_xact_lock(session, MERGE_LOCK)
        locked = _lock_members(session, [lo, hi])
        first, second = sorted({m.id: m for m in locked.values()}.values(), key=lambda m: m.id)
        if first.id == second.id:
            continue
        _link_edge(session, first.id, second.id, "probabilistic", probability)
        _merge_into(
            session, actor, first, second, reason="probabilistic", at=utcnow(), evidence={"probability": probability}
        )
        merged += 1
    for a, b, probability, features in reviews:
        lo, hi = min(a, b), max(a, b)
        if (lo, hi) in decided or repo.cannot_link(session, lo, hi):
            continue
        _queue(session, lo, hi, probability, features, "probabilistic")
        queued += 1
    return merged, queued


MATCH_JOB = "members.match"


def run_matching(db: Database, actor: Principal | None = None, progress: Any = None) -> MatchRunOut:
    """Scores active members on weak attributes (``members.matching``) and applies the result."""
    from zhongtai.members import matching

    actor = actor or Principal.system("member-matching")
    started = time.perf_counter()
    with db.transaction(write=False) as session:
        rows = weak_frame_rows(session)
    if progress:
        progress(1, 3, "scoring")
    merges: list[tuple[int, int, float]] = []
    reviews: list[tuple[int, int, float, dict[str, Any]]] = []
    if len(rows) >= 2:
        for pair in matching.score_rows(rows):
            if pair.probability >= matching.MATCH_THRESHOLD:
                merges.append((int(pair.left), int(pair.right), pair.probability))
            elif pair.probability >= matching.REVIEW_THRESHOLD:
                reviews.append((int(pair.left), int(pair.right), pair.probability, {}))
    if progress:
        progress(2, 3, "applying")
    with db.transaction() as session:
        merged, queued = apply_matches(session, actor, merges, reviews)
    return MatchRunOut(members=len(rows), merged=merged, queued=queued, seconds=round(time.perf_counter() - started, 2))


@job_handler(MATCH_JOB)
def _match_job(ctx: JobContext) -> dict[str, Any]:
    ctx.actor.require(Perm.MEMBERS_MANAGE)
    out = run_matching(ctx.db, ctx.actor, lambda d, t, m: ctx.progress(d, t, m, force=True))
    return out.model_dump()
