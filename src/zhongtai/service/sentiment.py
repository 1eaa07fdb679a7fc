"""How negative a customer's message is, for handing an angry customer to a person.

A lexicon written by the team, not a trained model: complaint and anger words weigh most (投诉,
骗子, 12315, 退钱 ...), dissatisfaction less (太差, 失望, 一直没到 ...), praise and thanks pull the
other way. A negator just before a word turns it around ("不差", "没问题" are not complaints,
"不满意", "不好用" are), an intensifier before it (太, 非常, 简直 ...) makes it weigh more, and
repeated ！/？ add anger. ``negativity`` maps the total to [0, 1]: 0 for a neutral question.
In chat mode (the default, what the bot uses) the words that name a service request (退货, 退款,
失败, 怎么回事, 坏了 ...) weigh as little as the weak words: asking for a refund is not anger.
``chat=False`` scores a review, where they are complaints.

bench/cs_sentiment.py measures it on Chinese shopping reviews (AUC and accuracy at a threshold
chosen on one half and reported on the other). Reviews are not chat messages, and a lexicon misses
what it does not list; the bot uses it only to hand off, where a miss costs less than a false alarm.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from zhongtai.service.text import normalise

# At or above this the dialogue hands the conversation to a person.
HANDOFF_THRESHOLD = 0.6


def _words(text: str) -> list[str]:
    """A word list written as whitespace-separated words (easier to read and edit than a literal)."""
    return text.split()


# Complaints, threats to escalate, insults: one of them alone crosses the hand-off threshold.
_STRONG = 2.0
# Dissatisfaction and trouble.
_MEDIUM = 0.9
# Mildly negative, common in neutral questions too ("慢", "贵").
_WEAK = 0.4

_NEGATIVE: dict[str, float] = {
    # strong
    **dict.fromkeys(
        _words(
            """
        投诉 骗子 骗人 骗钱 欺骗 诈骗 垃圾 气死 退钱 还钱 12315 消协 消费者协会 工商局
        市场监管 曝光 举报 维权 起诉 律师 法院 报警 差评 坑人 坑爹 太坑 奸商 黑心 无良 忽悠 上当
        恶心 滚 妈的 他妈 tmd 傻逼 傻b 脑残 废物 去死 什么玩意 什么东西 王八 混蛋 流氓
        强烈不满 忍无可忍 欺负人 霸王条款 太过分 过分 岂有此理 假货 山寨 翻新机 以次充好 退一赔三
        假一赔十
        """
        ),
        _STRONG,
    ),
    # medium
    **dict.fromkeys(
        _words(
            """
        差劲 太差 很差 真差 极差 超差 最差 质量差 服务差 态度差 态度恶劣 恶劣 失望 很失望 生气
        愤怒 不满 不满意 烂 破 后悔 闹心 无语 郁闷 烦死 受不了 再也不 别买 不推荐 不值 不值得
        不靠谱 敷衍 没人管 没人理 没人回 不理人 推卸 踢皮球 搞什么 怎么回事 什么情况 等了好久
        等了半天 一直没 还没到 还没收到 还没发货 迟迟 拖延 欺诈 坏了 故障 质量问题 有问题 出问题
        毛病 漏水 异响 死机 卡顿 发烫 发热严重 掉漆 划痕 破损 碎了 缺货 少发 漏发 错发 发错
        不能用 用不了 难用 不好用 不好 不行 不怎么样 不怎样 上当了 心塞 差 糟糕 糟透 太慢 慢死
        退货 退款 难吃 难看 难闻 臭 脏 吵 旧 太贵 不划算 不值这个价 坑 骗 气人 崩溃 悲剧 无法
        失败 麻烦 凑合 将就 勉强 一般般 呵呵 哎 唉 可惜 遗憾
        问了三遍 问了几遍 问了好几遍 问了多少遍 说了几遍 说了多少遍 说了好几遍 反复问
        """
        ),
        _MEDIUM,
    ),
    # weak
    **dict.fromkeys(
        ["慢", "贵", "一般", "问题", "不会", "还行", "不太", "没有", "但是", "不过", "就是", "然而", "居然", "竟然"],
        _WEAK,
    ),
}

_POSITIVE: dict[str, float] = {
    **dict.fromkeys(
        _words(
            """
        很好 非常好 特别好 太好了 不错 挺好 满意 很满意 喜欢 很喜欢 推荐 值得 值 划算 实惠 超值
        好评 五星 完美 漂亮 好看 好用 好吃 舒服 舒适 方便 快速 很快 及时 耐心 热情 专业 靠谱
        给力 赞 棒 优秀 惊喜 开心 高兴 谢谢 感谢 辛苦 支持 放心 信赖 干净 清晰 流畅 结实 正品
        物美价廉 性价比高 回购 再来 好 快 可以
        """
        ),
        1.0,
    ),
}

# Words that contain a listed one without its meaning ("快递" is not "快"): matched first, count 0.
_NEUTRAL = tuple(
    _words(
        """
        快递 好像 好几 好多 只好 正好 刚好 最好 问题是 没问题吗 差不多 差价 时差 误差 破损险 破壁
        滚筒 滚轮 滚刷 以旧换新 旧机 除臭 坑距 无线 无理由 无忧 无损 非常规
        """
    )
)

_NEGATORS = ("没有", "并不", "毫不", "从不", "不是", "不", "没", "别", "未", "无", "非")
_INTENSIFIERS = tuple(
    _words(
        """
        太 非常 特别 极其 极 超级 超 真的 真 简直 根本 完全 彻底 实在 相当 十分 最 好 巨 贼
        死 一点都 一点也
        """
    )
)
_PUNCT = re.compile(r"[!！]{2,}|[?？]{3,}|[!！?？]{3,}")
_POSITIVE_WEIGHT = 0.7


# What a customer names when asking for after-sale help ("申请退货退款", "付款失败了怎么回事",
# "收到有划痕"): in a review these are complaints, in a service chat they are the topic. In chat
# mode they weigh as little as the weak words, so only anger, not the request itself, hands off.
_SERVICE_TOPICS = frozenset(
    _words(
        """
        退货 退款 失败 怎么回事 什么情况 有问题 出问题 问题 故障 坏了 破损 划痕 碎了 缺货 少发 漏发
        错发 发错 不能用 用不了 还没到 还没收到 还没发货 一直没 麻烦 无法 毛病 漏水 异响 死机 卡顿
        发烫 发热严重 掉漆 迟迟 质量问题
        """
    )
)


@lru_cache(maxsize=2)
def _terms(chat: bool) -> list[tuple[str, float]]:
    """(term, weight) with negatives > 0 and positives < 0, longest first for greedy matching."""
    terms = dict(_NEGATIVE)
    if chat:
        for t in _SERVICE_TOPICS:
            terms[t] = min(terms.get(t, _WEAK), _WEAK)
    for t, w in _POSITIVE.items():
        terms.setdefault(t, -w)
    for t in _NEUTRAL:
        terms[t] = 0.0
    return sorted(terms.items(), key=lambda tw: len(tw[0]), reverse=True)


def _before(text: str, start: int, words: tuple[str, ...], reach: int = 3) -> bool:
    window = text[max(0, start - reach) : start]
    return any(window.endswith(w) or (w in window and len(w) > 1) for w in words)


def score(text: str, *, chat: bool = True) -> float:
    """The raw lexicon total: negative words add, positive words subtract (see module doc).
    ``chat``: a customer-service message (service topics weigh little), else a review."""
    norm = normalise(text)
    if not norm:
        return 0.0
    taken = [False] * len(norm)
    negative = positive = 0.0
    for term, weight in _terms(chat):
        start = norm.find(term)
        while start >= 0:
            end = start + len(term)
            if not any(taken[start:end]):
                for i in range(start, end):
                    taken[i] = True
                if weight == 0:
                    start = norm.find(term, end)
                    continue
                strength = abs(weight) * (1.5 if _before(norm, start, _INTENSIFIERS, 2) else 1.0)
                negated = _before(norm, start, _NEGATORS, 2) and not term.startswith(("不", "没", "无", "别"))
                is_negative = (weight > 0) != negated
                if negated and weight > 0:
                    strength *= 0.5  # "不差" is faint praise, not a compliment
                if is_negative:
                    negative += strength
                else:
                    positive += strength
            start = norm.find(term, end)
    punct = sum(0.5 for _ in _PUNCT.finditer(norm))
    if negative > 0:
        negative += punct
    return negative - _POSITIVE_WEIGHT * positive


def negativity(text: str, *, chat: bool = True) -> float:
    """0 for neutral or positive text, approaching 1 the angrier it gets: one complaint word (投诉)
    ≈ 0.67, "太差了" ≈ 0.39, "太差了，我要投诉！！！" ≈ 0.85."""
    raw = score(text, chat=chat)
    if raw <= 0:
        return 0.0
    return 1.0 - math.exp(-raw / 1.8)


def is_negative(text: str, threshold: float = HANDOFF_THRESHOLD) -> bool:
    return negativity(text) >= threshold
