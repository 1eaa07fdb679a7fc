"""The customer-service console: the metrics page, the knowledge base (tree, try a question,
versions, import, export, publish) and its sub-intent editor; who may read and who may change."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.factories import SYSTEM, console_login, make_catalog_sku, make_catalog_spu, make_location, make_user
from tests.integration.service.test_metrics import build_world
from zhongtai.auth.models import AuditEntry
from zhongtai.db import Database
from zhongtai.service import kb

# A small knowledge base: enough for the classifier to tell the four questions apart.
SMALL_KB = {
    "scenarios": [
        {
            "code": "presale",
            "name": "售前",
            "name_en": "Pre-sale",
            "intents": [
                {
                    "code": "shipping",
                    "name": "配送",
                    "name_en": "Shipping",
                    "subintents": [
                        {
                            "code": "shipping.fee",
                            "name": "运费",
                            "name_en": "Shipping fee",
                            "examples": [
                                "运费多少",
                                "包邮吗",
                                "要运费吗",
                                "邮费怎么算",
                                "满多少包邮",
                                "寄过来要钱吗",
                                "运费谁出",
                            ],
                            "answers": [
                                {"text": "全场满 99 元包邮，不满收 8 元运费。"},
                                {"text": "京东店铺订单由京东物流配送，满 99 元免运费。", "channel": "marketplace"},
                            ],
                        },
                        {
                            "code": "shipping.carrier",
                            "name": "快递公司",
                            "examples": [
                                "发什么快递",
                                "用哪家快递",
                                "能发顺丰吗",
                                "快递是哪家",
                                "可以指定快递吗",
                                "默认什么物流",
                            ],
                            "answers": [{"text": "默认顺丰速运，偏远地区使用 EMS。"}],
                        },
                    ],
                }
            ],
        },
        {
            "code": "aftersale",
            "name": "售后",
            "intents": [
                {
                    "code": "invoice",
                    "name": "发票",
                    "subintents": [
                        {
                            "code": "invoice.special",
                            "name": "增值税专票",
                            "examples": [
                                "能开专票吗",
                                "可以开增值税专用发票吗",
                                "专票怎么开",
                                "公司要专票",
                                "开专用发票",
                                "专票可以吗",
                            ],
                            "answers": [{"text": "支持开具增值税专用发票，请在订单详情页提交公司开票信息。"}],
                        },
                        {
                            "code": "invoice.normal",
                            "name": "普通发票",
                            "source": "pack:invoice",
                            "examples": [
                                "怎么开发票",
                                "发票在哪里开",
                                "能开发票吗",
                                "电子发票",
                                "开个普票",
                                "发票抬头怎么写",
                            ],
                            "answers": [{"text": "下单时选择电子普通发票，确认收货后发送到您的邮箱。"}],
                        },
                    ],
                }
            ],
        },
    ]
}


@dataclass
class Logged:
    client: TestClient
    csrf: str


def login(client: TestClient, db: Database, username: str, role: str, stores: list[int] | None = None) -> Logged:
    make_user(db, username, role, stores)
    return Logged(client, console_login(client, username)["X-CSRF-Token"])


@pytest.fixture
def service_world(db: Database) -> Database:
    """The metrics world (channels web and jd, seven conversations) and a published small KB."""
    build_world(db)
    with db.transaction() as s:
        kb.import_kb(s, SYSTEM, yaml.safe_dump(SMALL_KB, allow_unicode=True).encode(), "yaml")
        kb.publish(s, SYSTEM, note="first")
    return db


@pytest.fixture
def boss(client: TestClient, service_world: Database) -> Logged:
    return login(client, service_world, "boss", "admin")


def english(client: TestClient, path: str) -> str:
    resp = client.get(f"/lang/en?next={path}", follow_redirects=True)
    assert resp.status_code == 200, resp.text
    return str(resp.text)


# ---------------------------------------------------------------- metrics


def test_metrics_page_shows_the_period_in_chinese_and_english(boss: Logged) -> None:
    # When the admin opens the two days of the metrics world
    path = "/service/metrics?start=2026-11-10&end=2026-11-11"
    page = boss.client.get(path)

    # Then the tiles carry the hand-computed figures (see tests/integration/service/test_metrics.py)
    assert page.status_code == 200, page.text
    html = page.text
    assert "客服指标" in html
    assert "自助解决率" in html
    tiles = dict(re.findall(r'data-kpi="(\w+)">\s*<div class="label">[^<]*</div>\s*<div class="value">([^<]*)<', html))
    assert tiles["self_resolution"] == "40.0%"
    assert tiles["intent_hit"] == "27.3%"
    assert tiles["handoff"] == "50.0%"
    assert tiles["satisfaction"] == "3.00"
    assert tiles["conversations"] == "6"
    assert tiles["wait"] == "2分0秒"  # median of 60 s and 180 s
    assert tiles["sla"] == "1"
    assert tiles["abandoned"] == "1"
    # the previous two days had one conversation, resolved by the bot: 40 % is 60 points down
    assert "较前期 -60.0 个百分点" in html
    # charts, the channel table and the top unanswered question with its trainer link
    assert html.count("<svg") >= 4
    assert 'id="channel-table"' in html
    assert "京东旗舰店" in html
    assert 'id="unanswered-table"' in html
    assert "能开专票吗" in html
    assert "/service/trainer?q=" in html

    en = english(boss.client, "/service/metrics%3Fstart%3D2026-11-10%26end%3D2026-11-11")
    assert "Self-resolution" in en
    assert "Top unanswered questions" in en
    assert "40.0%" in en
    assert "-60.0 pp vs previous" in en


def test_metrics_page_filters_by_channel_and_reports_bad_filters(boss: Logged) -> None:
    jd = boss.client.get("/service/metrics?start=2026-11-10&end=2026-11-11&channel=jd")
    assert jd.status_code == 200
    tiles = dict(
        re.findall(r'data-kpi="(\w+)">\s*<div class="label">[^<]*</div>\s*<div class="value">([^<]*)<', jd.text)
    )
    assert tiles["conversations"] == "2"
    assert tiles["handoff"] == "50.0%"

    bad = boss.client.get("/service/metrics?start=nope&end=2026-11-01&channel=nowhere")
    assert bad.status_code == 200
    assert "筛选条件有误" in bad.text
    assert "日期格式应为 YYYY-MM-DD" in bad.text
    assert "没有这个渠道" in bad.text


def test_metrics_page_without_conversations_says_so(client: TestClient, db: Database) -> None:
    analyst = login(client, db, "wang.analyst", "analyst")
    page = analyst.client.get("/service/metrics")
    assert page.status_code == 200
    assert "本期暂无会话" in page.text
    assert "本期没有未解决的问题" in page.text
    assert "去训练" not in page.text  # an analyst does not train


# ---------------------------------------------------------------- the knowledge base


def test_kb_page_shows_the_tree_the_banner_and_versions(boss: Logged) -> None:
    page = boss.client.get("/service/kb")
    assert page.status_code == 200, page.text
    html = page.text
    assert "2 个场景 · 2 个意图 · 4 个子意图（启用 4）" in html
    assert "草稿与线上版本 v1 一致" in html
    for code in ("shipping.fee", "shipping.carrier", "invoice.special", "invoice.normal"):
        assert f'href="/service/kb/subintents/{code}"' in html
    assert "通用知识包 · invoice" in html  # the source badge of a pack's sub-intent
    assert "v1" in html
    assert "first" in html

    en = english(boss.client, "/service/kb")
    assert "The draft matches live version v1" in en
    assert "General pack · invoice" in en
    assert "Answers by channel and scene" in boss.client.get("/service/kb/subintents/shipping.fee").text
    boss.client.get("/lang/zh-CN?next=/")

    found = boss.client.get("/service/kb", params={"q": "专用发票"})
    assert "匹配 1 个子意图" in found.text
    assert "invoice.special" in found.text
    assert "shipping.fee" not in found.text


def test_try_a_question_shows_the_prediction_and_the_channel_variant(boss: Logged) -> None:
    page = boss.client.get("/service/kb", params={"try": "京东上买要运费吗", "try_channel": "jd"})
    assert page.status_code == 200, page.text
    result = page.text.split('id="try-result"', 1)[1]
    assert "shipping.fee" in result
    assert "京东店铺订单由京东物流配送" in result  # jd is a marketplace: its variant wins
    assert "shipping.carrier" in result  # an alternative with its confidence

    web = boss.client.get("/service/kb", params={"try": "要运费吗", "try_channel": "web"})
    assert "全场满 99 元包邮" in web.text.split('id="try-result"', 1)[1]


def test_export_downloads_yaml_and_csv(boss: Logged) -> None:
    as_yaml = boss.client.get("/service/kb/export?format=yaml")
    assert as_yaml.status_code == 200
    assert "attachment" in as_yaml.headers["content-disposition"]
    codes = [
        u["code"] for s in yaml.safe_load(as_yaml.content)["scenarios"] for i in s["intents"] for u in i["subintents"]
    ]
    assert codes == ["shipping.fee", "shipping.carrier", "invoice.special", "invoice.normal"]
    as_csv = boss.client.get("/service/kb/export?format=csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.content.decode("utf-8-sig").splitlines()[0].startswith("scenario_code,")


def subintent_form(csrf: str, **extra: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "name": "运费说明",
        "name_en": "Shipping fees",
        "intent_code": "shipping",
        "action": "answer",
        "enabled": "on",
        "examples": "运费多少\n包邮吗\n\n  运费怎么算  \n包邮吗",
        "answers-0-channel": "",
        "answers-0-scene": "",
        "answers-0-text": "满 99 元包邮。",
        "answers-0-cards": "",
        "answers-0-links": "运费说明 | https://shop.example.com/help/shipping",
        "answers-1-channel": "marketplace",
        "answers-1-scene": "",
        "answers-1-text": "这条要删掉",
        "answers-1-remove": "1",
        "answers-4-channel": "web",
        "answers-4-scene": "instant",
        "answers-4-text": "官网小时达订单免运费。",
        "answers-4-cards": "",
        "answers-4-links": "",
        "answers-5-channel": "",
        "answers-5-text": "",
    }
    form.update(extra)
    return form


def test_editing_a_subintent_round_trips(boss: Logged, service_world: Database) -> None:
    # Given the editor of shipping.fee
    page = boss.client.get("/service/kb/subintents/shipping.fee")
    assert page.status_code == 200
    assert "全场满 99 元包邮" in page.text
    assert 'name="answers-2-text"' in page.text

    # When the form is saved with new examples, one variant removed, one added and the blank row empty
    saved = boss.client.post(
        "/service/kb/subintents/shipping.fee", data=subintent_form(boss.csrf), follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/service/kb/subintents/shipping.fee?done=saved"

    # Then the draft holds exactly what was sent, deduplicated and trimmed, as the admin
    with service_world.transaction(write=False) as s:
        sub = kb.subintent_detail(s, "shipping.fee")
        audit = s.query(AuditEntry).filter(AuditEntry.action == "service.kb.subintent.update").one()
    assert (sub.name, sub.name_en, sub.updated_by) == ("运费说明", "Shipping fees", "boss")
    assert sub.examples == ["运费多少", "包邮吗", "运费怎么算"]
    assert [(a.channel, a.scene, a.text) for a in sub.answers] == [
        ("", "", "满 99 元包邮。"),
        ("web", "instant", "官网小时达订单免运费。"),
    ]
    assert sub.answers[0].links == [{"title": "运费说明", "url": "https://shop.example.com/help/shipping"}]
    assert audit.actor_name == "boss"
    # and the banner now says the draft differs from v1
    assert "修改 1" in boss.client.get("/service/kb").text


def test_a_refused_edit_shows_every_problem_next_to_its_field(boss: Logged, service_world: Database) -> None:
    bad = subintent_form(
        boss.csrf,
        name="",
        **{"answers-0-cards": "NO-SUCH-SKU", "answers-4-links": "官网 | ftp://example.com/x"},
    )
    page = boss.client.post("/service/kb/subintents/shipping.fee", data=bad)
    assert page.status_code == 422
    html = page.text
    assert "处需要修改，未保存" in html
    assert 'id="err-name"' in html
    assert "必填" in html
    # the card of form row 0 and the link of form row 4 (the second variant sent) are marked on their rows
    row0 = html.split('data-row="0"', 1)[1].split('data-row="', 1)[0]
    row4 = html.split('data-row="4"', 1)[1].split('data-row="', 1)[0]
    assert "商品目录中没有这个 SKU" in row0
    assert "NO-SUCH-SKU" in row0
    assert "只支持 http:// 或 https:// 网址" in row4
    # what was typed stays in the form; nothing was written
    assert "官网小时达订单免运费。" in html
    with service_world.transaction(write=False) as s:
        assert kb.subintent_detail(s, "shipping.fee").name == "运费"


def test_a_card_names_a_real_sku(boss: Logged, service_world: Database) -> None:
    make_catalog_basics_without_channels(service_world)
    saved = boss.client.post(
        "/service/kb/subintents/shipping.fee",
        data=subintent_form(boss.csrf, **{"answers-0-cards": "SKU-1，SKU-2"}),
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    with service_world.transaction(write=False) as s:
        assert kb.subintent_detail(s, "shipping.fee").answers[0].cards == [{"sku": "SKU-1"}, {"sku": "SKU-2"}]


def make_catalog_basics_without_channels(db: Database) -> None:
    """Two SKUs (the metrics world already has the channels make_catalog_basics would create)."""
    from zhongtai.catalog import service as catalog

    with db.transaction() as s:
        catalog.create_category(s, SYSTEM, code="phones", name="手机")
        catalog.create_brand(s, SYSTEM, code="acme", name="极客")
    make_catalog_spu(db, "P1", parameters={})
    make_catalog_sku(db, "SKU-1")
    make_catalog_sku(db, "SKU-2")


def test_creating_and_deleting_a_subintent(boss: Logged, service_world: Database) -> None:
    form = subintent_form(boss.csrf, code="shipping.remote", name="偏远地区", intent_code="shipping")
    created = boss.client.post("/service/kb/new-subintent", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text
    assert created.headers["location"] == "/service/kb/subintents/shipping.remote?done=created"
    taken = boss.client.post("/service/kb/new-subintent", data=form)
    assert taken.status_code == 422
    assert "编码已存在" in taken.text

    gone = boss.client.post(
        "/service/kb/subintents/shipping.remote/delete", data={"csrf_token": boss.csrf}, follow_redirects=False
    )
    assert gone.status_code == 303
    with service_world.transaction(write=False) as s:
        assert "shipping.remote" not in {
            u.code for sc in kb.tree(s).scenarios for i in sc.intents for u in i.subintents
        }


def test_import_dry_run_counts_and_writes_nothing_then_imports(boss: Logged, service_world: Database) -> None:
    extra = {
        "scenarios": [
            {
                "code": "presale",
                "name": "售前",
                "intents": [
                    {
                        "code": "shipping",
                        "name": "配送",
                        "subintents": [
                            {
                                "code": "shipping.remote",
                                "name": "偏远地区",
                                "examples": ["新疆包邮吗", "西藏能发吗"],
                                "answers": [{"text": "新疆、西藏等偏远地区需补运费 20 元。"}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    body = yaml.safe_dump(extra, allow_unicode=True).encode()
    dry = boss.client.post(
        "/service/kb/import",
        data={"csrf_token": boss.csrf, "mode": "merge", "dry_run": "1"},
        files={"file": ("extra.yaml", body, "application/yaml")},
    )
    assert dry.status_code == 200, dry.text
    result = dry.text.split('id="import-result"', 1)[1].split("</table>", 1)[0]
    assert "试运行结果" in result
    sub_row = result.split("子意图", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'class="num">(\d+)<', sub_row) == ["1", "0", "0", "0"]
    with service_world.transaction(write=False) as s:
        assert kb.tree(s).counts.subintents == 4

    done = boss.client.post(
        "/service/kb/import",
        data={"csrf_token": boss.csrf, "mode": "merge"},
        files={"file": ("extra.yaml", body, "application/yaml")},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert boss.client.get(done.headers["location"]).text.count("导入完成：新建 1") == 1
    with service_world.transaction(write=False) as s:
        assert kb.tree(s).counts.subintents == 5


def test_a_bad_import_file_lists_its_problems(boss: Logged) -> None:
    bad = "scenario_code,scenario_name\npresale,售前\n".encode()
    page = boss.client.post(
        "/service/kb/import",
        data={"csrf_token": boss.csrf, "mode": "merge", "dry_run": "1"},
        files={"file": ("kb.csv", bad, "text/csv")},
    )
    assert page.status_code == 422
    assert "未导入任何内容" in page.text
    assert "缺少必需的列" in page.text
    wrong = boss.client.post(
        "/service/kb/import",
        data={"csrf_token": boss.csrf, "mode": "merge"},
        files={"file": ("kb.txt", b"hello", "text/plain")},
    )
    assert wrong.status_code == 422
    assert "只支持 .yaml / .yml / .csv 文件" in wrong.text


def test_publish_and_restore_from_the_console(boss: Logged, service_world: Database) -> None:
    boss.client.post("/service/kb/subintents/shipping.fee", data=subintent_form(boss.csrf))
    published = boss.client.post(
        "/service/kb/publish", data={"csrf_token": boss.csrf, "note": "运费改版"}, follow_redirects=False
    )
    assert published.status_code == 303
    assert published.headers["location"].startswith("/service/kb?version=2&seconds=")
    page = boss.client.get(published.headers["location"]).text
    assert "已发布 v2" in page
    assert "草稿与线上版本 v2 一致" in page
    assert "运费改版" in page

    restored = boss.client.post(
        "/service/kb/versions/1/restore", data={"csrf_token": boss.csrf}, follow_redirects=False
    )
    assert restored.status_code == 303
    with service_world.transaction(write=False) as s:
        assert kb.subintent_detail(s, "shipping.fee").name == "运费"
    assert "草稿与线上版本 v2 不同" in boss.client.get("/service/kb").text


# ---------------------------------------------------------------- who may do what


def test_analyst_reads_metrics_and_the_kb_but_cannot_change_it(client: TestClient, service_world: Database) -> None:
    analyst = login(client, service_world, "wang.analyst", "analyst")
    assert analyst.client.get("/service/metrics").status_code == 200
    kb_page = analyst.client.get("/service/kb")
    assert kb_page.status_code == 200
    assert 'action="/service/kb/publish"' not in kb_page.text
    assert 'id="import-box"' not in kb_page.text
    editor = analyst.client.get("/service/kb/subintents/shipping.fee")
    assert editor.status_code == 200
    assert "只有运营或管理员能修改知识库" in editor.text
    assert analyst.client.post("/service/kb/publish", data={"csrf_token": analyst.csrf}).status_code == 403
    assert (
        analyst.client.post("/service/kb/subintents/shipping.fee", data=subintent_form(analyst.csrf)).status_code == 403
    )
    assert analyst.client.get("/service/kb/new-subintent").status_code == 403


def test_cs_agent_reads_the_kb_and_a_guide_reads_nothing(client: TestClient, service_world: Database) -> None:
    agent = login(client, service_world, "zhao.min", "cs_agent")
    assert agent.client.get("/service/kb").status_code == 200
    assert agent.client.get("/service/kb/export?format=yaml").status_code == 200
    client.cookies.clear()
    guide = login(client, service_world, "wang.guide", "guide", [make_location(service_world, "S-SH01")])
    assert guide.client.get("/service/kb").status_code == 403
    assert guide.client.get("/service/metrics").status_code == 403


def test_forms_need_the_csrf_token(boss: Logged) -> None:
    assert boss.client.post("/service/kb/publish", data={"note": "x"}).status_code == 403


# ---------------------------------------------------------------- the trainer


@pytest.fixture
def questions(service_world: Database) -> Database:
    """Four more open questions: three ways of asking for a special VAT invoice, one about gift wrap
    (with the metrics world's open "能开专票吗" and "支持花呗吗")."""
    from tests.integration.service.test_metrics import D2, at, conversation, cust

    texts = ["可以开专票吗？", "能开专票不", "专票能开吗", "可以帮忙包装成礼物吗"]
    with service_world.transaction() as s:
        for k, text in enumerate(texts):
            when = at(D2, 12, k)
            conversation(s, "web", when, [cust(text, when, "fallback", item="open", guess="invoice.normal")])
    return service_world


def open_items(db: Database) -> dict[str, tuple[str, str | None]]:
    from zhongtai.service.models import TrainingItem

    with db.transaction(write=False) as s:
        return {i.text: (i.status, i.subintent_code) for i in s.query(TrainingItem)}


def cluster_of(html: str, text: str) -> tuple[str, list[str]]:
    """The id and item ids of the cluster on the page that lists ``text``."""
    for block in html.split('<article class="cluster"')[1:]:
        if text in block:
            cid = re.search(r'data-cluster="([^"]+)"', block)
            assert cid is not None
            values = re.findall(r'name="item_ids" value="([\d,]+)"', block)
            return cid.group(1), [i for v in values for i in v.split(",")]
    raise AssertionError(f"no cluster lists {text}")


def test_trainer_page_clusters_paraphrases_with_the_bots_guess(boss: Logged, questions: Database) -> None:
    page = boss.client.get("/service/trainer")
    assert page.status_code == 200, page.text
    html = page.text
    assert "训练师" in html
    assert "个机器人没答好的问题" in html
    cid, ids = cluster_of(html, "专票能开吗")
    assert len(ids) == 4  # the metrics world's 能开专票吗 and the three new wordings
    block = html.split(f'data-cluster="{cid}"', 1)[1].split("</article>", 1)[0]
    assert "invoice.special" in block  # the published classifier's guess, pre-filled in the assign box
    assert "可以帮忙包装成礼物吗" not in block

    found = boss.client.get("/service/trainer", params={"q": "礼物"})
    assert "可以帮忙包装成礼物吗" in found.text
    assert "专票能开吗" not in found.text

    en = english(boss.client, "/service/trainer")
    assert "Trainer" in en
    assert "Assign as examples" in en


def test_assigning_a_cluster_adds_its_questions_as_examples(boss: Logged, questions: Database) -> None:
    cid, ids = cluster_of(boss.client.get("/service/trainer").text, "专票能开吗")
    # The trainer unticks one question and assigns the rest
    kept = ids[1:]
    resp = boss.client.post(
        "/service/trainer/assign",
        data={"csrf_token": boss.csrf, "cluster": cid, "item_ids": kept, "subintent_code": "invoice.special"},
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    assert "done=assigned" in resp.headers["location"]
    assert "3 个问题已作为例句加入 invoice.special" in boss.client.get(resp.headers["location"]).text

    items = open_items(questions)
    assigned = [t for t, (st, code) in items.items() if st == "assigned"]
    assert len(assigned) == 3
    assert all(items[t][1] == "invoice.special" for t in assigned)
    with questions.transaction(write=False) as s:
        examples = kb.subintent_detail(s, "invoice.special").examples
    assert all(t in examples for t in assigned if t != "能开专票吗")  # 能开专票吗 was an example already

    again = boss.client.post(
        "/service/trainer/assign",
        data={"csrf_token": boss.csrf, "cluster": cid, "item_ids": kept, "subintent_code": "invoice.special"},
    )
    assert again.status_code == 409
    assert "与当前状态冲突" in again.text


def test_creating_a_subintent_from_a_cluster_and_refusals_stay_on_the_cluster(
    boss: Logged, questions: Database
) -> None:
    cid, ids = cluster_of(boss.client.get("/service/trainer").text, "可以帮忙包装成礼物吗")
    form = {
        "csrf_token": boss.csrf,
        "cluster": cid,
        "item_ids": ids,
        "intent_code": "shipping",
        "code": "Gift Wrap!",
        "name": "礼品包装",
        "answer_text": "支持礼品包装，下单时备注即可。",
    }
    refused = boss.client.post("/service/trainer/create", data=form)
    assert refused.status_code == 422
    block = refused.text.split(f'data-cluster="{cid}"', 1)[1].split("</article>", 1)[0]
    assert "编码格式不对" in block
    assert 'value="Gift Wrap!"' in block
    assert "支持礼品包装" in block
    assert open_items(questions)["可以帮忙包装成礼物吗"] == ("open", None)

    created = boss.client.post(
        "/service/trainer/create", data={**form, "code": "shipping.gift_wrap"}, follow_redirects=False
    )
    assert created.status_code == 303, created.text
    with questions.transaction(write=False) as s:
        sub = kb.subintent_detail(s, "shipping.gift_wrap")
    assert (sub.source, sub.examples, sub.answers[0].text) == (
        "trainer",
        ["可以帮忙包装成礼物吗"],
        "支持礼品包装，下单时备注即可。",
    )
    assert open_items(questions)["可以帮忙包装成礼物吗"] == ("assigned", "shipping.gift_wrap")


def test_ignoring_and_publishing_from_the_trainer(boss: Logged, questions: Database) -> None:
    cid, ids = cluster_of(boss.client.get("/service/trainer").text, "支持花呗吗")
    ignored = boss.client.post(
        "/service/trainer/ignore",
        data={"csrf_token": boss.csrf, "cluster": cid, "item_ids": ids},
        follow_redirects=False,
    )
    assert ignored.status_code == 303
    assert open_items(questions)["支持花呗吗"][0] == "ignored"
    assert "支持花呗吗" in boss.client.get("/service/trainer?status=ignored").text

    cid, ids = cluster_of(boss.client.get("/service/trainer").text, "专票能开吗")
    boss.client.post(
        "/service/trainer/assign",
        data={"csrf_token": boss.csrf, "cluster": cid, "item_ids": ids, "subintent_code": "invoice.special"},
    )
    assert "草稿有 1 处未发布的修改" in boss.client.get("/service/trainer").text
    published = boss.client.post(
        "/service/kb/publish", data={"csrf_token": boss.csrf, "back": "trainer"}, follow_redirects=False
    )
    assert published.status_code == 303
    assert published.headers["location"].startswith("/service/trainer?version=2&seconds=")
    page = boss.client.get(published.headers["location"]).text
    assert 'id="publish-result"' in page
    assert "v2" in page
    assert "没有未发布的修改" in page


def test_only_writers_train(client: TestClient, questions: Database) -> None:
    analyst = login(client, questions, "wang.analyst", "analyst")
    assert analyst.client.get("/service/trainer").status_code == 403
    assert (
        analyst.client.post("/service/trainer/ignore", data={"csrf_token": analyst.csrf, "item_ids": "1"}).status_code
        == 403
    )
    client.cookies.clear()
    ops = login(client, questions, "chen.ops", "ops")
    assert ops.client.get("/service/trainer").status_code == 200
