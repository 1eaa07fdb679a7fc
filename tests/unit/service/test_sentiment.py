"""The negativity lexicon: angry customers cross the hand-off threshold, ordinary questions and
thanks do not, negation turns a word around."""

from __future__ import annotations

import pytest

from zhongtai.service.sentiment import HANDOFF_THRESHOLD, is_negative, negativity


@pytest.mark.parametrize(
    "text",
    [
        "我要投诉你们",
        "你们就是骗子！",
        "垃圾产品，再也不买了",
        "退钱！！！",
        "再不处理我就打12315",
        "太差了，我要投诉",
        "什么破玩意，气死我了",
        "態度太差了，我要投訴",  # traditional characters
        "客服敷衍，一直没人管，太失望了",
    ],
)
def test_angry_messages_hand_off(text: str) -> None:
    assert negativity(text) >= HANDOFF_THRESHOLD
    assert is_negative(text)


@pytest.mark.parametrize(
    "text",
    [
        "你好",
        "我的快递到哪了",
        "这个手机怎么样",
        "支持七天无理由退货吗",
        "滚筒洗衣机能洗几公斤",
        "USB接口有几个",
        "马桶坑距多少",
        "谢谢，很满意",
        "质量很好，推荐",
        "没问题，谢谢",
        "可以开发票吗",
        "以旧换新怎么弄",
    ],
)
def test_ordinary_and_happy_messages_do_not(text: str) -> None:
    assert negativity(text) < HANDOFF_THRESHOLD
    assert not is_negative(text)


def test_neutral_and_positive_are_zero() -> None:
    assert negativity("") == 0.0
    assert negativity("请问有货吗") == 0.0
    assert negativity("非常好，很喜欢") == 0.0


def test_negation_turns_words_around() -> None:
    assert negativity("不差") < negativity("差")
    assert negativity("不满意") > negativity("满意")
    assert negativity("不好用") > 0.0
    assert negativity("没问题") == 0.0


def test_intensifiers_and_punctuation_add() -> None:
    assert negativity("非常失望") > negativity("失望")
    assert negativity("我要投诉！！！") > negativity("我要投诉")
    assert negativity("太差了，我要投诉") > negativity("我要投诉") > negativity("有点慢")


def test_praise_pulls_a_complaint_down() -> None:
    assert negativity("东西不错，就是物流有点慢") < negativity("物流有点慢")


def test_bounded() -> None:
    text = "垃圾骗子投诉退钱12315差评！！！" * 20
    assert 0.99 < negativity(text) <= 1.0
    assert is_negative("有点慢", threshold=0.1)
    assert not is_negative("有点慢", threshold=0.9)


@pytest.mark.parametrize(
    "text",
    ["申请售后退货退款", "付款失败了怎么回事", "退款怎么还没到账", "收到的东西有划痕，要退货", "手机死机了怎么办"],
)
def test_a_service_request_is_not_anger_in_chat(text: str) -> None:
    # In a review these words are complaints; in a chat they name what the customer wants help with.
    assert negativity(text) < HANDOFF_THRESHOLD
    assert negativity(text) < negativity(text, chat=False) or negativity(text, chat=False) == 0


def test_an_impatient_question_is_answered_not_handed_off() -> None:
    # Impatience about a parcel is a logistics question the bot can answer; the ？？？ registers.
    text = "还没收到货，怎么回事？？？"
    assert 0.3 < negativity(text) < HANDOFF_THRESHOLD
    assert negativity(text, chat=False) >= HANDOFF_THRESHOLD


@pytest.mark.parametrize(
    "text", ["太差了，我要投诉！！！", "等了半天也没人回，气死我了", "你们是骗子吧", "问了三遍了，烦死了"]
)
def test_anger_still_hands_off_in_chat(text: str) -> None:
    assert negativity(text) >= HANDOFF_THRESHOLD
