"""Concurrent sightings of the same people from several channels end in one member each, never two.

PostgreSQL only. Eight people, each seen nine times by five channels with overlapping identifier
pairs (till: phone + card; mini-program: unionid + phone, openid + unionid; JD: pin alone, pin +
phone; web: e-mail alone, e-mail + unionid; Tmall: uid alone, uid + e-mail). 72 sightings fire
from 16 threads at once, each in its own transaction, in shuffled order; sightings that arrive
before their bridge create separate members that later sightings must merge.
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from tests.conftest import _truncate_all
from tests.factories import SYSTEM
from zhongtai.db import Database
from zhongtai.members import identity
from zhongtai.members.identifiers import IdentifierIn, IdKind
from zhongtai.members.models import Identifier, Member

pytestmark = pytest.mark.postgres

PEOPLE = 8
THREADS = 16


def person(i: int) -> dict[str, IdentifierIn]:
    return {
        "phone": IdentifierIn(IdKind.PHONE, f"+861390000{i:04d}"),
        "card": IdentifierIn(IdKind.CARD, f"8{i:011d}"),
        "unionid": IdentifierIn(IdKind.UNIONID, f"oUnion{i:08d}"),
        "openid": IdentifierIn(IdKind.OPENID, f"oOpen{i:08d}", "miniapp"),
        "jd": IdentifierIn(IdKind.JD_PIN, f"jd_buyer_{i}"),
        "email": IdentifierIn(IdKind.EMAIL, f"buyer{i}@example.com"),
        "tmall": IdentifierIn(IdKind.TMALL_UID, f"tb{i:09d}"),
    }


SIGHTINGS = [
    ("pos", ("phone", "card")),
    ("miniapp", ("unionid", "phone")),
    ("miniapp", ("openid", "unionid")),
    ("jd", ("jd",)),
    ("jd", ("jd", "phone")),
    ("web", ("email",)),
    ("web", ("email", "unionid")),
    ("tmall", ("tmall",)),
    ("tmall", ("tmall", "email")),
]


def test_concurrent_sightings_of_one_person_end_in_one_member(pg_database: Database) -> None:
    _truncate_all(pg_database)
    db = pg_database
    jobs = [(p, n, channel, keys) for p in range(PEOPLE) for n, (channel, keys) in enumerate(SIGHTINGS)]
    random.Random(7).shuffle(jobs)
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work(chunk: list[tuple[int, int, str, tuple[str, ...]]]) -> None:
        barrier.wait()
        for p, n, channel, keys in chunk:
            ids = person(p)
            try:
                with db.transaction() as s:
                    identity.observe(
                        s,
                        SYSTEM,
                        source="event",
                        source_ref=f"{p}:{n}",
                        identifiers=[ids[k] for k in keys],
                        channel_code=channel,
                    )
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

    chunks = [jobs[i::THREADS] for i in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, chunks))
    assert not errors, errors[:3]

    with db.transaction(write=False) as s:
        for p in range(PEOPLE):
            values = [i.value for i in person(p).values()]
            owners = set(s.scalars(select(Identifier.member_id).where(Identifier.value.in_(values))))
            assert len(owners) == 1, f"person {p} is split over members {owners}"
            owner = s.get(Member, owners.pop())
            assert owner is not None
            assert owner.status == "active"
        assert s.scalar(select(func.count(Member.id)).where(Member.status == "active")) == PEOPLE
        assert s.scalar(select(func.count(Identifier.id))) == PEOPLE * 7
        # Every merged member redirects to an active one.
        for merged in s.scalars(select(Member).where(Member.status == "merged")):
            target = s.get(Member, merged.merged_into_id)
            assert target is not None
            assert target.status == "active"
