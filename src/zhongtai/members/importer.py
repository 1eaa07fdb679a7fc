"""Import of a legacy member list (``zhongtai members import``).

The file is first clustered with the batch matcher (``batch.stitch``: the same deterministic rules
and probabilistic model as the live graph), so that the three rows one person left in an old CRM
become one sighting. Each cluster then enters the live identity graph through ``identity.observe``
(source ``import``, reference ``<file>:<cluster>``), which joins it to any member the graph already
knows by a shared strong identifier. Re-running the same file changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zhongtai.auth.principal import Principal
from zhongtai.db import Database
from zhongtai.members import identity
from zhongtai.members import repository as repo
from zhongtai.members.identifiers import IdentifierIn, WeakKind, parse_birthday
from zhongtai.members.records import PersonRecord, StitchResult

CHUNK = 500


@dataclass(frozen=True, slots=True)
class ImportSummary:
    records: int
    clusters: int
    skipped_without_identifier: int
    members_before: int
    members_after: int


def _attributes(records: Sequence[PersonRecord]) -> dict[str, object]:
    first: dict[WeakKind, str] = {}
    for rec in records:
        for kind, value in rec.attributes.items():
            if value and kind not in first:
                first[kind] = value
    name = first.get(WeakKind.FULL_NAME) or (first.get(WeakKind.SURNAME, "") + first.get(WeakKind.GIVEN_NAME, ""))
    return {
        "name": name,
        "birthday": parse_birthday(first[WeakKind.BIRTHDAY]) if WeakKind.BIRTHDAY in first else None,
        "city": first.get(WeakKind.CITY, ""),
        "address": first.get(WeakKind.ADDRESS, ""),
        "postcode": first.get(WeakKind.POSTCODE, ""),
        "province": first.get(WeakKind.STATE, ""),
    }


def import_clusters(
    db: Database,
    actor: Principal,
    records: Sequence[PersonRecord],
    result: StitchResult,
    *,
    source_name: str,
    channel_code: str = "import",
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    clusters: dict[str, list[PersonRecord]] = defaultdict(list)
    for rec in records:
        clusters[result.cluster_of.get(rec.record_id, rec.record_id)].append(rec)
    with db.transaction(write=False) as session:
        before = repo.active_member_count(session)
    skipped = 0
    items = sorted(clusters.items())
    for start in range(0, len(items), CHUNK):
        with db.transaction() as session:
            for cluster_id, recs in items[start : start + CHUNK]:
                idents: dict[str, IdentifierIn] = {}
                for rec in recs:
                    for ident in rec.identifiers:
                        idents.setdefault(ident.key, ident)
                if not idents:
                    skipped += 1
                    continue
                identity.observe(
                    session,
                    actor,
                    source="import",
                    source_ref=f"{source_name}:{cluster_id}"[:96],
                    identifiers=list(idents.values()),
                    attributes=_attributes(recs),
                    channel_code=channel_code,
                )
        if progress:
            progress(min(start + CHUNK, len(items)), len(items))
    with db.transaction(write=False) as session:
        after = repo.active_member_count(session)
    return ImportSummary(len(records), len(clusters), skipped, before, after)
