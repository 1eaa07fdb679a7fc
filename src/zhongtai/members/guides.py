"""Guide binding (导购绑定, the private domain): which guide serves which member.

A guide is a user with role ``guide`` (one store). ``Member.guide_user_id`` is the current guide;
``GuideBinding`` rows are the history, the open row (``unbound_at`` None) the current one.

* A guide binds members to themself only; a store manager to the guides of their stores; staff
  with a wider scope (ops, customer service, a channel's key) to any active guide.
* When a guide leaves, ``reassign_from`` moves all their members at once, to a named guide or
  spread over the store's other active guides, least-loaded first. No member is ever left
  without a guide by it: when nobody can take them, it fails and they stay bound as they were.
  The ``members.guide-orphans`` schedule does this on its own for guides whose user was
  deactivated (or is no longer a guide).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from zhongtai.auth import service as auth_service
from zhongtai.auth.audit import record
from zhongtai.auth.permissions import Role
from zhongtai.auth.pii import masker_for
from zhongtai.auth.principal import Principal
from zhongtai.auth.scoping import can_access_location, ensure_location_access
from zhongtai.db import utcnow
from zhongtai.errors import Conflict, FieldProblem, PermissionDenied, ValidationFailed, not_found
from zhongtai.members import repository as repo
from zhongtai.members.models import GuideBinding, Member
from zhongtai.members.schemas_engagement import (
    GuideBindingOut,
    GuideCountOut,
    GuideLoadOut,
    GuideMemberOut,
    MemberGuideOut,
    ReassignOut,
)
from zhongtai.pagination import Page, SortKey, paginate

_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class Guide:
    user_id: int
    name: str
    location_id: int | None


def _store_of(session: Session, user_id: int) -> int | None:
    stores = auth_service.store_ids_of_users(session, [user_id]).get(user_id) or []
    return stores[0] if stores else None


def _active_guide(session: Session, user_id: int, field: str) -> Guide:
    """The user as a guide who can take members, or a 422 naming ``field``."""
    user = auth_service.users_by_ids(session, [user_id]).get(user_id)
    if user is None or user.role != Role.GUIDE.value:
        raise ValidationFailed(
            "not a guide", errors=[FieldProblem(field, "not_a_guide", f"user {user_id} is no guide")]
        )
    if not user.is_active:
        raise ValidationFailed(
            "guide inactive", errors=[FieldProblem(field, "inactive_guide", f"user {user_id} is deactivated")]
        )
    return Guide(user.id, user.display_name or user.username, _store_of(session, user.id))


def _check_actor(actor: Principal, guide: Guide, verb: str) -> None:
    """Guides act for themselves only; store-scoped staff within their stores."""
    if actor.role is Role.GUIDE and actor.kind == "user" and actor.id != guide.user_id:
        raise PermissionDenied(f"a guide may {verb} only their own members", extra={"reason": "not_own_member"})
    if actor.is_store_scoped:
        if guide.location_id is None:
            raise PermissionDenied("the guide works in no store of yours", extra={"code": "out_of_scope"})
        ensure_location_access(actor, guide.location_id)


def _open_rows(session: Session, member_ids: Sequence[int]) -> list[GuideBinding]:
    return list(
        session.scalars(
            select(GuideBinding)
            .where(GuideBinding.member_id.in_(list(member_ids)), GuideBinding.unbound_at.is_(None))
            .order_by(GuideBinding.bound_at, GuideBinding.id)
        )
    )


def _current(session: Session, member: Member) -> MemberGuideOut:
    out = MemberGuideOut(member_id=member.id, member_code=member.code, guide_user_id=member.guide_user_id)
    if member.guide_user_id is None:
        return out
    user = auth_service.users_by_ids(session, [member.guide_user_id]).get(member.guide_user_id)
    row = next((r for r in _open_rows(session, [member.id]) if r.guide_user_id == member.guide_user_id), None)
    out.guide_name = (user.display_name or user.username) if user else ""
    out.location_id = row.location_id if row else None
    out.bound_at = row.bound_at if row else None
    return out


def current_guide(session: Session, member_id: int) -> MemberGuideOut:
    member = repo.get(session, member_id)
    if member is None:
        raise not_found("member", member_id)
    return _current(session, repo.resolve(session, member))


def bind(
    session: Session, actor: Principal, member_id: int, guide_user_id: int, *, reason: str = "manual"
) -> MemberGuideOut:
    """Binds the member to an active guide: the open binding closes, a new one opens. Binding to
    the guide they already have changes nothing."""
    member = repo.lock_active(session, member_id)
    guide = _active_guide(session, guide_user_id, "body.guide_user_id")
    _check_actor(actor, guide, "bind")
    if member.guide_user_id not in (None, guide.user_id) and actor.role is Role.STORE_MANAGER:
        # A store manager moves a member away from a guide of their own stores only.
        previous = _store_of(session, member.guide_user_id) if member.guide_user_id is not None else None
        if previous is not None:
            ensure_location_access(actor, previous)
    now = utcnow()
    open_rows = _open_rows(session, [member.id])
    if member.guide_user_id == guide.user_id and any(r.guide_user_id == guide.user_id for r in open_rows):
        return _current(session, member)
    for row in open_rows:
        row.unbound_at = now
    before = member.guide_user_id
    session.add(
        GuideBinding(
            member_id=member.id,
            guide_user_id=guide.user_id,
            location_id=guide.location_id,
            bound_at=now,
            reason=reason[:32],
            actor_name=actor.name[:128],
        )
    )
    member.guide_user_id = guide.user_id
    session.flush()
    record(
        session,
        actor,
        "member.guide.bind",
        "member",
        member.id,
        before={"guide_user_id": before},
        after={"guide_user_id": guide.user_id, "reason": reason},
    )
    return _current(session, member)


def unbind(session: Session, actor: Principal, member_id: int, *, reason: str = "unbound") -> MemberGuideOut:
    """The member has no guide any more (the open binding closes). A no-op when they have none."""
    member = repo.lock_active(session, member_id)
    if member.guide_user_id is None:
        return _current(session, member)
    rows = _open_rows(session, [member.id])
    location = next((r.location_id for r in rows if r.guide_user_id == member.guide_user_id), None)
    _check_actor(actor, Guide(member.guide_user_id, "", location or _store_of(session, member.guide_user_id)), "unbind")
    now = utcnow()
    for row in rows:
        row.unbound_at = now
    before = member.guide_user_id
    member.guide_user_id = None
    session.flush()
    record(
        session,
        actor,
        "member.guide.unbind",
        "member",
        member.id,
        before={"guide_user_id": before},
        after={"guide_user_id": None, "reason": reason},
    )
    return _current(session, member)


# ---------------------------------------------------------------- a guide leaves


def _loads(session: Session, guide_ids: Sequence[int]) -> dict[int, int]:
    rows = session.execute(
        select(Member.guide_user_id, func.count())
        .where(Member.guide_user_id.in_(list(guide_ids)), Member.status == "active")
        .group_by(Member.guide_user_id)
    )
    counts = {gid: 0 for gid in guide_ids}
    counts.update({int(gid): int(n) for gid, n in rows if gid is not None})
    return counts


def spread(member_ids: Sequence[int], loads: dict[int, int]) -> dict[int, int]:
    """member id -> guide id: each member in turn to the guide with the fewest members (ties: the
    lowest user id), so the store's guides end up as even as they can be."""
    heap = [(load, gid) for gid, load in loads.items()]
    heapq.heapify(heap)
    out: dict[int, int] = {}
    for member_id in member_ids:
        load, gid = heapq.heappop(heap)
        out[member_id] = gid
        heapq.heappush(heap, (load + 1, gid))
    return out


def _leaving_store(session: Session, from_guide_id: int) -> int | None:
    store = _store_of(session, from_guide_id)
    if store is not None:
        return store
    # A user whose role changed has no store scope any more: the store of their open bindings.
    rows = session.scalars(
        select(GuideBinding.location_id).where(
            GuideBinding.guide_user_id == from_guide_id, GuideBinding.unbound_at.is_(None)
        )
    )
    counts = Counter(r for r in rows if r is not None)
    return counts.most_common(1)[0][0] if counts else None


def reassign(session: Session, actor: Principal, from_guide_id: int, *, to_guide_id: int | None = None) -> ReassignOut:
    """Moves every active member of ``from_guide_id`` to ``to_guide_id``, or, when None, spreads
    them over the other active guides of the same store, least-loaded first. History rows say
    ``reassigned``. When no guide can take them, nothing changes and it fails (409)."""
    user = auth_service.users_by_ids(session, [from_guide_id]).get(from_guide_id)
    if user is None:
        raise not_found("user", from_guide_id)
    store = _leaving_store(session, from_guide_id)
    if actor.is_store_scoped:
        ensure_location_access(actor, [store] if store is not None else [])
        if store is None:
            raise PermissionDenied("the guide works in no store of yours", extra={"code": "out_of_scope"})
    members = list(
        session.scalars(
            select(Member)
            .where(Member.guide_user_id == from_guide_id, Member.status == "active")
            .order_by(Member.id)
            .with_for_update()
        )
    )
    targets: dict[int, Guide] = {}
    if to_guide_id is not None:
        if to_guide_id == from_guide_id:
            raise ValidationFailed(
                "same guide",
                errors=[FieldProblem("body.to_guide_id", "same_guide", "the members already have this guide")],
            )
        target = _active_guide(session, to_guide_id, "body.to_guide_id")
        if actor.is_store_scoped and target.location_id is not None:
            ensure_location_access(actor, target.location_id)
        targets[target.user_id] = target
    elif members:
        if store is not None:
            for u in auth_service.active_users_in_store(session, store, Role.GUIDE):
                if u.id != from_guide_id:
                    targets[u.id] = Guide(u.id, u.display_name or u.username, store)
        if not targets:
            raise Conflict(
                f"no other active guide in the store of user {from_guide_id}: name to_guide_id",
                extra={"code": "no_guide_available", "location_id": store, "members": len(members)},
            )
    if not members:
        return ReassignOut(from_guide_id=from_guide_id, moved=0, to=[])
    plan = spread([m.id for m in members], _loads(session, list(targets)))
    now = utcnow()
    ids = [m.id for m in members]
    for i in range(0, len(ids), _CHUNK):
        session.execute(
            update(GuideBinding)
            .where(GuideBinding.member_id.in_(ids[i : i + _CHUNK]), GuideBinding.unbound_at.is_(None))
            .values(unbound_at=now)
        )
    new_rows = [
        {
            "member_id": m.id,
            "guide_user_id": plan[m.id],
            "location_id": targets[plan[m.id]].location_id,
            "bound_at": now,
            "unbound_at": None,
            "reason": "reassigned",
            "actor_name": actor.name[:128],
        }
        for m in members
    ]
    for i in range(0, len(new_rows), _CHUNK):
        session.execute(insert(GuideBinding), new_rows[i : i + _CHUNK])
    for m in members:
        m.guide_user_id = plan[m.id]
    session.flush()
    per_guide = Counter(plan.values())
    record(
        session,
        actor,
        "member.guide.reassign",
        "user",
        from_guide_id,
        after={"moved": len(members), "to": {str(g): n for g, n in sorted(per_guide.items())}, "members": ids},
    )
    return ReassignOut(
        from_guide_id=from_guide_id,
        moved=len(members),
        to=[GuideCountOut(guide_user_id=g, members=n) for g, n in sorted(per_guide.items())],
    )


def reassign_from(session: Session, actor: Principal, from_guide_id: int, *, to_guide_id: int | None = None) -> int:
    """``reassign``; returns how many members moved."""
    return reassign(session, actor, from_guide_id, to_guide_id=to_guide_id).moved


def orphaned_guides(session: Session) -> list[int]:
    """Users who still have active members bound but are deactivated, gone, or no longer guides."""
    bound = list(
        session.scalars(
            select(Member.guide_user_id)
            .where(Member.guide_user_id.is_not(None), Member.status == "active")
            .group_by(Member.guide_user_id)
        )
    )
    ids = [int(g) for g in bound if g is not None]
    users = auth_service.users_by_ids(session, ids)
    return sorted(
        gid for gid in ids if gid not in users or not users[gid].is_active or users[gid].role != Role.GUIDE.value
    )


# ---------------------------------------------------------------- reads


def guide_members(
    session: Session, principal: Principal, guide_user_id: int, *, cursor: str | None = None, limit: int = 50
) -> Page[GuideMemberOut]:
    """A guide's members (a guide sees only their own; store managers their stores' guides)."""
    user = auth_service.users_by_ids(session, [guide_user_id]).get(guide_user_id)
    if user is None:
        raise not_found("guide", guide_user_id)
    if principal.role is Role.GUIDE and principal.kind == "user" and principal.id != guide_user_id:
        raise PermissionDenied("a guide sees only their own members", extra={"reason": "not_own_member"})
    if principal.is_store_scoped and principal.role is not Role.GUIDE:
        store = _leaving_store(session, guide_user_id)
        if store is None or not can_access_location(principal, store):
            raise not_found("guide", guide_user_id)
    stmt = select(Member).where(Member.guide_user_id == guide_user_id, Member.status == "active")
    page = paginate(session, stmt, [SortKey(Member.id)], cursor=cursor, limit=limit)
    ids = [m.id for m in page.items]
    bound_at = (
        {r.member_id: r.bound_at for r in _open_rows(session, ids) if r.guide_user_id == guide_user_id} if ids else {}
    )
    mask = masker_for(principal)
    return page.map(
        lambda m: GuideMemberOut(
            member_id=m.id,
            code=m.code,
            name=mask.name(m.name),
            tier=m.tier,
            status=m.status,
            bound_at=bound_at.get(m.id),
        )
    )


def binding_history(session: Session, member_id: int) -> list[GuideBindingOut]:
    """Every binding of the member, newest first."""
    rows = list(
        session.scalars(
            select(GuideBinding)
            .where(GuideBinding.member_id == member_id)
            .order_by(GuideBinding.bound_at.desc(), GuideBinding.id.desc())
        )
    )
    users = auth_service.users_by_ids(session, [r.guide_user_id for r in rows])
    return [
        GuideBindingOut(
            id=r.id,
            member_id=r.member_id,
            guide_user_id=r.guide_user_id,
            guide_name=(users[r.guide_user_id].display_name or users[r.guide_user_id].username)
            if r.guide_user_id in users
            else "",
            location_id=r.location_id,
            bound_at=r.bound_at,
            unbound_at=r.unbound_at,
            reason=r.reason,
            actor_name=r.actor_name,
        )
        for r in rows
    ]


def guide_load(session: Session, location_id: int) -> list[GuideLoadOut]:
    """The store's active guides with how many active members each has, least-loaded first."""
    guides = auth_service.active_users_in_store(session, location_id, Role.GUIDE)
    loads = _loads(session, [g.id for g in guides]) if guides else {}
    out = [
        GuideLoadOut(guide_user_id=g.id, username=g.username, display_name=g.display_name, members=loads.get(g.id, 0))
        for g in guides
    ]
    return sorted(out, key=lambda g: (g.members, g.guide_user_id))


# ---------------------------------------------------------------- merges


def after_merge(session: Session, actor: Principal, survivor: Member, absorbed: Member) -> None:
    """After a merge: the survivor keeps its guide, or takes the absorbed member's if it had none.
    Every other open binding of the two closes; a guide taken over opens a ``merged`` row."""
    rows = _open_rows(session, [survivor.id, absorbed.id])
    now = utcnow()
    final = survivor.guide_user_id or absorbed.guide_user_id
    keep: GuideBinding | None = None
    if survivor.guide_user_id is not None:
        keep = next((r for r in rows if r.guide_user_id == survivor.guide_user_id), None)
    for row in rows:
        if row is not keep:
            row.unbound_at = now
    if keep is not None:
        keep.member_id = survivor.id
    elif final is not None:
        location = next((r.location_id for r in rows if r.guide_user_id == final), None)
        session.add(
            GuideBinding(
                member_id=survivor.id,
                guide_user_id=final,
                location_id=location if location is not None else _store_of(session, final),
                bound_at=now,
                reason="merged",
                actor_name=actor.name[:128],
            )
        )
    changed = survivor.guide_user_id != final
    survivor.guide_user_id = final
    absorbed.guide_user_id = None
    session.flush()
    if changed:
        record(
            session,
            actor,
            "member.guide.bind",
            "member",
            survivor.id,
            before={"guide_user_id": None},
            after={"guide_user_id": final, "reason": "merged", "from_member": absorbed.id},
        )
