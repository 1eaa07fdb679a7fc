"""The knowledge-base draft through ``service.kb``: the verbs' validation, import and export
(YAML and CSV round trips, dry run, replace), the packs. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy import func, select

from tests.factories import SYSTEM, make_catalog_basics, make_catalog_sku, make_catalog_spu
from zhongtai.auth.models import AuditEntry
from zhongtai.db import Database
from zhongtai.errors import Conflict, NotFound, ValidationFailed
from zhongtai.service import kb


def _fields(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {e.field: e.code for e in exc.value.errors}


@pytest.fixture
def base(db: Database) -> Database:
    """Catalog basics (channels web, jd; SKU S1) and a scenario with one intent."""
    make_catalog_basics(db)
    make_catalog_spu(db)
    make_catalog_sku(db, "S1", lifecycle="on_sale")
    with db.transaction() as s:
        kb.create_scenario(s, SYSTEM, code="presale", name="售前", name_en="Pre-sale")
        kb.create_intent(s, SYSTEM, scenario_code="presale", code="shipping", name="配送")
    return db


def test_create_subintent_with_variants_cards_and_links(base: Database) -> None:
    with base.transaction() as s:
        out = kb.create_subintent(
            s,
            SYSTEM,
            intent_code="shipping",
            code="shipping.fee",
            name="运费",
            examples=["包邮吗", "包郵嗎", "运费多少"],
            answers=[
                {"text": "满99包邮"},
                {"text": "京东满99免运费", "channel": "marketplace"},
                {"text": "官网包邮", "channel": "web", "cards": [{"sku": "S1"}]},
                {"text": "30分钟达", "scene": "instant", "links": [{"title": "说明", "url": "https://example.com/a"}]},
            ],
        )
    assert out.examples == ["包邮吗", "运费多少"]  # 包郵嗎 is 包邮吗 once normalised
    assert [a.channel for a in out.answers] == ["", "marketplace", "web", ""]
    with base.transaction(write=False) as s:
        draft = kb.draft_kb(s)
        picks = [
            draft.answer_for("shipping.fee", channel_code="web", channel_kind="web_shop"),
            draft.answer_for("shipping.fee", channel_code="jd", channel_kind="marketplace"),
            draft.answer_for("shipping.fee", channel_code="x", channel_kind="pos", scene="instant"),
        ]
        assert [a.text if a else None for a in picks] == ["官网包邮", "京东满99免运费", "30分钟达"]
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "service.kb.subintent.create")).one()
        assert entry.entity_id == "shipping.fee"
        assert entry.actor_name == "tests"


def test_create_subintent_names_every_bad_field(base: Database) -> None:
    with base.transaction() as s, pytest.raises(ValidationFailed) as exc:
        kb.create_subintent(
            s,
            SYSTEM,
            intent_code="nope",
            code="Shipping Fee",
            name="",
            action="fly",
            slots=["order_number", "mood"],
            examples=["", "好" * 201],
            answers=[
                {"text": ""},
                {"text": "x", "channel": "tmall", "scene": "night"},
                {
                    "text": "y",
                    "channel": "pos",
                    "cards": [{"sku": "NOPE"}],
                    "links": [{"title": "t", "url": "javascript:x"}],
                },
            ],
        )
    assert _fields(exc) == {
        "body.intent_code": "unknown_intent",
        "body.code": "invalid_code",
        "body.name": "required",
        "body.action": "unknown_action",
        "body.slots.1": "unknown_slot",
        "body.examples.0": "empty",
        "body.examples.1": "too_long",
        "body.answers.0.text": "required",
        "body.answers.1.channel": "unknown_channel",
        "body.answers.1.scene": "unknown_scene",
        "body.answers.2.cards.0": "unknown_sku",
        "body.answers.2.links.0.url": "invalid_url",
    }
    with base.transaction(write=False) as s:
        assert kb.tree(s).counts.subintents == 0


def test_update_replaces_answers_and_taken_codes_are_refused(base: Database) -> None:
    with base.transaction() as s:
        kb.create_subintent(s, SYSTEM, intent_code="shipping", code="shipping.fee", name="运费", answer_text="满99包邮")
        out = kb.update_subintent(
            s,
            SYSTEM,
            "shipping.fee",
            {"name": "运费说明", "answers": [{"text": "全场包邮", "channel": "web"}], "enabled": False},
        )
    assert (out.name, out.enabled, [(a.text, a.channel) for a in out.answers]) == (
        "运费说明",
        False,
        [("全场包邮", "web")],
    )
    with base.transaction() as s, pytest.raises(ValidationFailed) as exc:
        kb.create_subintent(s, SYSTEM, intent_code="shipping", code="shipping.fee", name="又一个")
    assert _fields(exc) == {"body.code": "taken"}
    with base.transaction() as s, pytest.raises(ValidationFailed) as exc:
        kb.update_subintent(s, SYSTEM, "shipping.fee", {"colour": "red", "name": "", "intent_code": "zzz"})
    assert _fields(exc) == {
        "body.colour": "unknown_field",
        "body.name": "required",
        "body.intent_code": "unknown_intent",
    }
    with base.transaction() as s, pytest.raises(NotFound):
        kb.update_subintent(s, SYSTEM, "nope", {"name": "x"})


def test_add_examples_skips_known_questions(base: Database) -> None:
    with base.transaction() as s:
        kb.create_subintent(s, SYSTEM, intent_code="shipping", code="shipping.fee", name="运费", examples=["包邮吗"])
        assert kb.add_examples(s, SYSTEM, "shipping.fee", ["包郵嗎", "运费多少", "运费多少", "满多少包邮"]) == 2
        assert kb.add_examples(s, SYSTEM, "shipping.fee", ["运费多少"]) == 0
        assert kb.subintent_detail(s, "shipping.fee").examples == ["包邮吗", "运费多少", "满多少包邮"]
    with base.transaction() as s, pytest.raises(ValidationFailed) as exc:
        kb.add_examples(s, SYSTEM, "shipping.fee", ["", "ok"])
    assert _fields(exc) == {"body.examples.0": "empty"}


def test_scenarios_and_intents_refuse_deletion_while_not_empty(base: Database) -> None:
    with base.transaction() as s:
        kb.create_subintent(s, SYSTEM, intent_code="shipping", code="shipping.fee", name="运费")
    with base.transaction() as s, pytest.raises(Conflict):
        kb.delete_intent(s, SYSTEM, "shipping")
    with base.transaction() as s, pytest.raises(Conflict):
        kb.delete_scenario(s, SYSTEM, "presale")
    with base.transaction() as s:
        kb.create_scenario(s, SYSTEM, code="insale", name="售中")
        kb.update_intent(s, SYSTEM, "shipping", {"scenario_code": "insale", "name": "物流"})
        kb.delete_scenario(s, SYSTEM, "presale")
        kb.delete_subintent(s, SYSTEM, "shipping.fee")
        kb.delete_intent(s, SYSTEM, "shipping")
        tree = kb.tree(s)
    assert [sc.code for sc in tree.scenarios] == ["insale"]
    assert tree.counts.intents == 0
    with base.transaction() as s, pytest.raises(ValidationFailed) as exc:
        kb.create_intent(s, SYSTEM, scenario_code="nope", code="a b", name="")
    assert _fields(exc) == {
        "body.scenario_code": "unknown_scenario",
        "body.code": "invalid_code",
        "body.name": "required",
    }


# ---------------------------------------------------------------- import and export


def _load_two_packs(db: Database) -> None:
    with db.transaction() as s:
        kb.load_packs(s, SYSTEM, ["chitchat", "shipping"])
        kb.update_subintent(
            s,
            SYSTEM,
            "shipping.fee",
            {"answers": [{"text": "官网满99包邮", "channel": "web", "cards": [{"sku": "S1"}]}, {"text": "满99包邮"}]},
        )
        kb.update_subintent(s, SYSTEM, "chitchat.praise", {"enabled": False})


@pytest.mark.parametrize("fmt", ["yaml", "csv"])
def test_export_imports_back_to_the_identical_draft(base: Database, fmt: str) -> None:
    _load_two_packs(base)
    with base.transaction(write=False) as s:
        before = kb.export_tree(s)
        data = kb.export_kb(s, fmt)
    with base.transaction() as s:
        # Wipe the draft with an empty replace, then import the export.
        kb.import_kb(s, SYSTEM, b"scenarios: []\n", "yaml", mode="replace")
        assert kb.tree(s).counts.subintents == 0
        result = kb.import_kb(s, SYSTEM, data, fmt, mode="replace")
    assert result.created == len([u for sc in before["scenarios"] for i in sc["intents"] for u in i["subintents"]])
    with base.transaction(write=False) as s:
        assert kb.export_tree(s) == before
    # And importing the same file again changes nothing.
    with base.transaction() as s:
        again = kb.import_kb(s, SYSTEM, data, fmt, mode="merge")
    assert (again.created, again.updated, again.deleted) == (0, 0, 0)
    assert again.unchanged == result.created


def test_dry_run_counts_and_writes_nothing(base: Database) -> None:
    _load_two_packs(base)
    with base.transaction(write=False) as s:
        tree = kb.export_tree(s)
        audits = s.scalar(select(func.count()).select_from(AuditEntry))
    chitchat = next(sc for sc in tree["scenarios"] if sc["code"] == "chitchat")
    chitchat["intents"][0]["subintents"][0]["name"] = "打招呼"
    chitchat["intents"][0]["subintents"].append(
        {
            "code": "chitchat.weather",
            "name": "天气",
            "examples": ["今天天气怎么样"],
            "answers": [{"text": "我只懂购物哦"}],
        }
    )
    tree["scenarios"] = [chitchat]  # presale and its 2 intents, 9 sub-intents go
    data = yaml.safe_dump(tree, allow_unicode=True).encode()
    with base.transaction() as s:
        result = kb.import_kb(s, SYSTEM, data, "yaml", mode="replace", dry_run=True)
    assert (result.created, result.updated, result.deleted) == (1, 1, 9)
    assert result.levels["scenarios"].deleted == 1
    assert result.levels["intents"].deleted == 2
    with base.transaction(write=False) as s:
        assert kb.export_tree(s) != tree
        assert kb.tree(s).counts.subintents == 20
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == audits
    with base.transaction() as s:
        real = kb.import_kb(s, SYSTEM, data, "yaml", mode="replace")
    assert (real.created, real.updated, real.deleted) == (1, 1, 9)
    with base.transaction(write=False) as s:
        assert [sc.code for sc in kb.tree(s).scenarios] == ["chitchat"]
        assert kb.subintent_detail(s, "chitchat.greeting").name == "打招呼"


def test_merge_keeps_what_the_file_does_not_name(base: Database) -> None:
    _load_two_packs(base)
    data = yaml.safe_dump(
        {
            "scenarios": [
                {
                    "code": "presale",
                    "name": "售前",
                    "intents": [
                        {
                            "code": "shipping",
                            "name": "运费与配送",
                            "subintents": [{"code": "shipping.fee", "name": "运费", "examples": ["包邮吗"]}],
                        }
                    ],
                }
            ]
        },
        allow_unicode=True,
    ).encode()
    with base.transaction() as s:
        result = kb.import_kb(s, SYSTEM, data, "yaml", mode="merge")
        assert (result.updated, result.deleted) == (1, 0)
        fee = kb.subintent_detail(s, "shipping.fee")
        assert fee.examples == ["包邮吗"]
        assert fee.answers == []
        assert kb.tree(s).counts.subintents == 20


def test_an_import_with_problems_writes_nothing_and_reports_all(base: Database) -> None:
    csv_data = (
        ",".join(kb.CSV_COLUMNS) + "\n"
        "presale,售前,shipping,配送,shipping.fee,运费,answer,,包邮吗,tmall,,满99包邮,NOPE,\n"
        "presale,售前,shipping,配送,shipping.fee,运费,answer,,包邮吗,,,满99包邮,S1,\n"
        "presale,售前,shipping,配送,shipping.area,范围,answer,,新疆能发吗,,,能,,说明 http://example.com\n"
    ).encode()
    with base.transaction() as s, pytest.raises(ValidationFailed) as exc:
        kb.import_kb(s, SYSTEM, csv_data, "csv", mode="merge")
    assert _fields(exc) == {"rows.2.channel": "unknown_channel", "rows.2.cards.0": "unknown_sku"}
    with base.transaction() as s, pytest.raises(ValidationFailed) as exc:
        kb.import_kb(s, SYSTEM, b"scenarios: [\n", "yaml")
    assert _fields(exc) == {"file": "invalid_yaml"}
    with base.transaction() as s, pytest.raises(ValidationFailed) as exc:
        kb.import_kb(s, SYSTEM, b"", "xlsx", mode="sideways")
    assert _fields(exc) == {"mode": "unknown_mode"}
    with base.transaction(write=False) as s:
        assert kb.tree(s).counts.subintents == 0


def test_load_packs_is_idempotent_and_keeps_edits(db: Database) -> None:
    with db.transaction() as s:
        created = kb.load_packs(s, SYSTEM)
        kb.update_subintent(s, SYSTEM, "chitchat.greeting", {"answers": [{"text": "欢迎光临！"}]})
    with db.transaction() as s:
        assert kb.load_packs(s, SYSTEM) == 0
        tree = kb.tree(s)
        assert kb.subintent_detail(s, "chitchat.greeting").answers[0].text == "欢迎光临！"
        assert kb.subintent_detail(s, "insale.logistics").source == "pack:orders"
    assert created == tree.counts.subintents >= 60
    assert [sc.code for sc in tree.scenarios] == ["chitchat", "presale", "insale", "aftersale"]
    with db.transaction() as s, pytest.raises(ValidationFailed) as exc:
        kb.load_packs(s, SYSTEM, ["chitchat", "astrology"])
    assert _fields(exc) == {"names": "unknown_pack"}


# ---------------------------------------------------------------- settings


def test_settings_fall_back_from_channel_to_default_to_built_in(base: Database) -> None:
    with base.transaction() as s:
        built_in = kb.settings_for(s, "web")
        assert built_in.inherited
        assert built_in.min_confidence == 0.45
        assert built_in.welcome
        kb.update_settings(s, SYSTEM, "", {"sla_wait_s": 90, "vip_tiers": ["gold", "platinum"]})
        inherited = kb.settings_for(s, "web")
        assert inherited.inherited
        assert inherited.sla_wait_s == 90
        assert inherited.vip_tiers == ["gold", "platinum"]
        own = kb.update_settings(s, SYSTEM, "web", {"min_confidence": 0.6, "webhook_token": "abc123"})
        assert not own.inherited
        assert own.min_confidence == 0.6
        assert own.sla_wait_s == 90
        assert kb.settings_for(s, "jd").min_confidence == 0.45  # jd still inherits the default row
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.entity_type == "service_settings", AuditEntry.entity_id == "web")
        ).one()
        assert entry.after is not None
        assert entry.after["webhook_token"] == "(set)"


def test_settings_validation_names_every_field(base: Database) -> None:
    with base.transaction() as s, pytest.raises(ValidationFailed) as exc:
        kb.update_settings(
            s,
            SYSTEM,
            "web",
            {
                "min_confidence": 1.0,
                "clarify_margin": -0.1,
                "max_misses": 0,
                "sla_wait_s": True,
                "vip_tiers": "gold",
                "webhook_token": "has spaces",
                "colour": "red",
            },
        )
    assert _fields(exc) == {
        "body.min_confidence": "out_of_range",
        "body.clarify_margin": "out_of_range",
        "body.max_misses": "out_of_range",
        "body.sla_wait_s": "out_of_range",
        "body.vip_tiers": "invalid_type",
        "body.webhook_token": "invalid_token",
        "body.colour": "unknown_field",
    }
    with base.transaction() as s, pytest.raises(ValidationFailed) as exc:
        kb.update_settings(s, SYSTEM, "nosuch", {"max_misses": 3})
    assert _fields(exc) == {"channel_code": "unknown_channel"}
