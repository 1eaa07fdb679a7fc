"""Small hand-written Chinese customer-service data shared by the service tests."""

from __future__ import annotations

import pytest

# 5 intents x 12 paraphrases, written for these tests (not taken from any data set).
INTENT_EXAMPLES: dict[str, list[str]] = {
    "logistics": [
        "我的快递到哪了",
        "包裹现在在哪里",
        "物流信息怎么查",
        "什么时候能送到",
        "快递几天能到",
        "查一下物流",
        "订单发货了吗",
        "怎么还没收到货",
        "配送进度怎么样了",
        "快递员什么时候派送",
        "我的货到哪里了",
        "物流一直没更新",
    ],
    "return": [
        "我要退货",
        "怎么申请退货",
        "东西不想要了能退吗",
        "七天无理由退货怎么弄",
        "退货流程是什么",
        "买错了可以退吗",
        "商品有问题想退掉",
        "退货运费谁出",
        "怎么把东西退回去",
        "申请退款退货",
        "收到的货不满意要退",
        "可以退换吗",
    ],
    "invoice": [
        "能开发票吗",
        "怎么开增值税发票",
        "发票在哪里下载",
        "我要电子发票",
        "发票抬头写错了",
        "能不能补开发票",
        "专票怎么申请",
        "发票什么时候寄出",
        "开票信息怎么填",
        "公司报销需要发票",
        "发票可以开公司名吗",
        "电子发票在哪看",
    ],
    "payment": [
        "可以用花呗付款吗",
        "支持微信支付吗",
        "怎么用信用卡付款",
        "付款失败怎么办",
        "能分期付款吗",
        "支付宝可以付吗",
        "付不了款",
        "有哪些付款方式",
        "银行卡支付不成功",
        "能货到付款吗",
        "付款的时候提示错误",
        "可以先付定金吗",
    ],
    "warranty": [
        "保修多久",
        "坏了可以保修吗",
        "怎么申请售后维修",
        "电脑坏了去哪修",
        "保修期怎么查",
        "屏幕碎了保修吗",
        "维修要多少钱",
        "售后服务电话是多少",
        "过了保修期还能修吗",
        "延保怎么买",
        "开不了机怎么维修",
        "质保是几年",
    ],
}


@pytest.fixture
def intent_examples() -> dict[str, list[str]]:
    return INTENT_EXAMPLES


def _pairs() -> list[tuple[str, str, int]]:
    """Matching pairs as users write them: the same question reworded (a polite prefix, a particle,
    traditional characters, or another paraphrase of the intent) matches; a question of another
    intent does not."""
    rewrites = ("请问{}", "{}呢", "{}？", "你好，{}")
    pairs: list[tuple[str, str, int]] = []
    labels = list(INTENT_EXAMPLES)
    for i, label in enumerate(labels):
        examples = INTENT_EXAMPLES[label]
        other = INTENT_EXAMPLES[labels[(i + 1) % len(labels)]]
        for j, question in enumerate(examples):
            same = examples[(j + 1) % len(examples)] if j % 3 == 0 else rewrites[j % 4].format(question)
            pairs.append((question, same, 1))
            pairs.append((question, other[(j + 5) % len(other)], 0))
            pairs.append((question, rewrites[j % 4].format(other[j]), 0))
    return pairs


@pytest.fixture
def match_pairs() -> list[tuple[str, str, int]]:
    return _pairs()
