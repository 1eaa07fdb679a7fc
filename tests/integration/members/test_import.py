"""Import of a legacy member list: clustered by the batch matcher, joined to the live graph."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from sqlalchemy import func, select

from tests.factories import SYSTEM
from zhongtai.db import Database
from zhongtai.members import batch, identity, importer
from zhongtai.members.identifiers import IdentifierIn, IdKind
from zhongtai.members.models import Identifier, Member


def test_a_legacy_list_joins_known_members_and_reimport_changes_nothing(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        known = identity.observe(
            s, SYSTEM, source="event", source_ref="till", identifiers=[IdentifierIn(IdKind.PHONE, "+8613800138001")]
        ).id
    path = tmp_path / "crm.csv"
    pl.DataFrame(
        {
            "no": ["1", "2", "3", "4"],
            "mobile": ["138 0013 8001", "", "13900139003", "13900139003"],
            "mail": ["li.na@example.cn", "LI.NA@example.cn", "", ""],
            "name": ["李娜", "李娜", "王芳", "汪芳"],
        }
    ).write_csv(path)
    attrs = {k: batch.parse_kind(v) for k, v in {"mobile": "phone", "mail": "email", "name": "full_name"}.items()}
    loaded = batch.load_records(path, "no", attrs)
    result = batch.stitch(loaded.records, probabilistic=False)
    summary = importer.import_clusters(db, SYSTEM, loaded.records, result, source_name="crm.csv")
    assert (summary.records, summary.clusters) == (4, 2)
    assert (summary.members_before, summary.members_after) == (1, 2)
    with db.transaction(write=False) as s:
        email_owner = s.scalar(select(Identifier.member_id).where(Identifier.value == "li.na@example.cn"))
        assert email_owner == known  # rows 1 and 2 are the till's customer
        assert s.get(Member, known).name == "李娜"  # type: ignore[union-attr]
    again = importer.import_clusters(db, SYSTEM, loaded.records, result, source_name="crm.csv")
    assert again.members_after == 2
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count(Identifier.id))) == 3
