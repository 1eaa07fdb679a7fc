"""The bot's handlers for the knowledge base's actions: they read the order center, the catalog and
stock through those contexts' service modules, as a system principal named after the conversation
(``service-bot:<public id>``), and write the answer.

Privacy first: the bot only ever talks about a customer's own orders. With a member on the
conversation, the order must be that member's; an anonymous customer first gives the last four
digits of the buyer's phone, and nothing about the order (not even whether it exists) is said
before they match. Changes (cancelling, requesting a return) are confirmed with the customer and
then made through the order center's verbs, so its timeline and audit name the bot.

A handler returns an :class:`ActionResult`: the text and payload to send, or a slot it still
needs (with options to pick from), or a question to confirm, or a hand-off.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from zhongtai.auth.principal import Principal
from zhongtai.catalog import service as catalog
from zhongtai.errors import DomainError
from zhongtai.inventory import service as inventory
from zhongtai.orders import service as orders
from zhongtai.orders.schemas import OrderOut, ReturnLineIn
from zhongtai.service import conversation_repository as conversation_repo
from zhongtai.service.dialogue import ConversationContext, State, t
from zhongtai.service.knowledge import SubIntent

if TYPE_CHECKING:
    from zhongtai.catalog.schemas import SkuDetailOut
    from zhongtai.service.entities import Entities

CHINA = ZoneInfo("Asia/Shanghai")
RECENT_ORDERS = 5
WAIT_SAMPLE = 50
MAX_PHONE_FAILS = 2
DEFAULT_WARRANTY_MONTHS = 12
LOW_STOCK = 5
CANCELLABLE = frozenset({"created", "reserved", "routed", "picking", "packed"})

ORDER_STATUS_ZH = {
    "created": "已下单，等待处理",
    "reserved": "已锁定库存，等待分配仓库",
    "routed": "已分配仓库/门店，等待拣货",
    "picking": "仓库正在拣货",
    "packed": "已打包，等待快递揽收",
    "partially_shipped": "部分商品已发货",
    "shipped": "已发货，运输中",
    "delivered": "已签收",
    "completed": "已完成",
    "cancelled": "已取消",
}
ORDER_STATUS_EN = {
    "created": "placed, waiting to be processed",
    "reserved": "stock reserved, waiting for a warehouse",
    "routed": "assigned to a warehouse/store, waiting to be picked",
    "picking": "being picked",
    "packed": "packed, waiting for the courier",
    "partially_shipped": "partly shipped",
    "shipped": "shipped, on its way",
    "delivered": "delivered",
    "completed": "completed",
    "cancelled": "cancelled",
}
PAYMENT_ZH = {
    "unpaid": "待付款",
    "paid": "已付款",
    "partially_refunded": "部分退款",
    "refunded": "已退款",
}
RETURN_STATUS_ZH = {
    "requested": "已提交，等待审核",
    "approved": "审核通过，请按指引寄回商品",
    "rejected": "未通过审核",
    "received": "商品已收到，退款处理中",
    "closed": "已完成",
}
RETURN_STATUS_EN = {
    "requested": "submitted, waiting for review",
    "approved": "approved, please send the goods back",
    "rejected": "rejected",
    "received": "goods received, refund in progress",
    "closed": "completed",
}
NOT_RETURNABLE_ZH = {
    "not_delivered": "尚未发货",
    "window_closed": "已超过退货期",
    "all_returned": "已全部退货或退货处理中",
}
RETURN_REASONS = ("不想要了", "质量问题", "商品与描述不符", "发错货/少件")
# Transit days by carrier (express, from the day it ships): the estimate when the order center
# has no promised date. Same-city deliveries arrive within hours.
TRANSIT_DAYS = {"sf": 1, "顺丰": 1, "jd": 1, "京东": 1, "ems": 3, "邮政": 3}
DEFAULT_TRANSIT_DAYS = 2
CARRIER_ZH = {
    "sf": "顺丰速运",
    "jd": "京东物流",
    "zto": "中通快递",
    "yto": "圆通速递",
    "sto": "申通快递",
    "yunda": "韵达快递",
    "ems": "EMS",
    "dada": "达达秒送",
    "meituan": "美团配送",
}
GIFT_WORDS = ("赠品", "赠送", "买赠", "送好礼", "加赠", "gift")


def _display_name(d: SkuDetailOut, lang: str) -> str:
    return d.name_en if lang == "en" and d.name_en else d.name


@dataclass
class ActionResult:
    text: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    # Values for the knowledge base answer's {placeholders}.
    values: dict[str, Any] = field(default_factory=dict)
    # Sentences the handler knows beyond the template, by the placeholder they would duplicate:
    # appended to the knowledge base's wording unless the template already says it.
    extras: dict[str, str] = field(default_factory=dict)
    # A slot still needed (the text is the question), with options the customer can pick from.
    need: str | None = None
    options: list[dict[str, Any]] = field(default_factory=list)
    # The slots gathered so far (kept while asking for the next one or for the confirmation).
    slots: dict[str, Any] = field(default_factory=dict)
    confirm: bool = False
    # With options and no slot needed: the action the next message's pick from them runs.
    pick_action: str | None = None
    handoff: str | None = None
    # What the conversation should remember: order_number, verified (order number), skus.
    remember: dict[str, Any] = field(default_factory=dict)


def yuan(fen: int, currency: str = "CNY") -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    symbol = "¥" if currency == "CNY" else currency + " "
    return f"{sign}{symbol}{fen // 100:,}.{fen % 100:02d}"


def local_date(at: datetime | None) -> str:
    return at.astimezone(CHINA).strftime("%Y-%m-%d") if at else ""


def local_time(at: datetime | None, now: datetime | None = None) -> str:
    """China time, the year only when it is not this year's."""
    if at is None:
        return ""
    local = at.astimezone(CHINA)
    this_year = (now or datetime.now(UTC)).astimezone(CHINA).year
    return local.strftime("%m-%d %H:%M" if local.year == this_year else "%Y-%m-%d %H:%M")


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _value_text(value: Any, unit: str | None) -> str:
    if isinstance(value, bool):
        shown = "是" if value else "否"
    elif isinstance(value, list | tuple):
        shown = "、".join(str(v) for v in value)
    else:
        shown = str(value)
    return f"{shown} {unit}".strip() if unit else shown


class Actions:
    """The handlers, bound to one conversation's message."""

    def __init__(self, session: Session, ctx: ConversationContext, *, now: datetime | None = None) -> None:
        self.session = session
        self.ctx = ctx
        self.now = now or datetime.now(UTC)
        self.bot = Principal.system(f"service-bot:{ctx.public_id}")

    # ------------------------------------------------------------ entry point

    def run(
        self,
        action: str,
        sub: SubIntent,
        slots: dict[str, Any],
        st: State,
        ctx: ConversationContext,
        entities: Entities,
        message: str,
        lang: str,
        now: datetime,
    ) -> ActionResult:
        self.now = now
        handler = getattr(self, f"_do_{action}", None)
        if handler is None:
            return ActionResult(
                text=t(lang, "这个问题我需要请同事来回答，正在为您转接人工客服。", "A colleague will answer this one."),
                handoff="rule",
            )
        result: ActionResult = handler(sub, slots, st, entities, message, lang)
        return result

    def wait_minutes(self, default_s: int) -> int:
        """The expected wait for a person: the median wait of the channel's last accepted
        hand-offs, or the SLA when there is no history yet."""
        rows = conversation_repo.recent_waits(self.session, self.ctx.channel_code, WAIT_SAMPLE)
        waits = sorted((a - q).total_seconds() for q, a in rows if q is not None and a is not None and a >= q)
        seconds = waits[len(waits) // 2] if waits else default_s
        return max(1, math.ceil(seconds / 60))

    # ------------------------------------------------------------ orders: whose order is it

    def _recent_orders(self) -> list[orders.MemberOrder]:
        if self.ctx.member_id is None:
            return []
        return orders.orders_of_members(self.session, [self.ctx.member_id], limit=RECENT_ORDERS)

    def _ask_order(self, slots: dict[str, Any], lang: str, purpose: str = "") -> ActionResult:
        recent = self._recent_orders()
        if recent:
            options = [
                {
                    "label": f"{o.number} · {local_date(o.placed_at)} · {yuan(o.total_fen, o.currency)}",
                    "value": o.number,
                    "text": o.number,
                }
                for o in recent
            ]
            text = t(
                lang,
                f"请问是哪一个订单{purpose}？这是您最近的订单，点选或回复序号即可（如“第一个”）：",
                "Which order is it? Here are your recent orders; tap one or reply with its number (e.g. 1):",
            )
            return ActionResult(text=text, need="order_number", options=options, slots=slots)
        text = t(
            lang,
            f"请提供您的订单号{purpose}（在订单详情页可以找到，例如 ZT 开头的 14 位编号）。",
            "Please send me your order number (you'll find it on the order page).",
        )
        return ActionResult(text=text, need="order_number", slots=slots)

    def _order_number(
        self, slots: dict[str, Any], st: State, entities: Entities, lang: str, purpose: str = ""
    ) -> tuple[str | None, ActionResult | None]:
        """The order the customer means and may see; otherwise the question or refusal to send."""
        number = slots.get("order_number") or (entities.order_numbers[0] if entities.order_numbers else None)
        if number is None and st.order_number:
            number = st.order_number
        if not number:
            return None, self._ask_order(slots, lang, purpose)
        number = str(number).upper()
        slots["order_number"] = number
        buyer = orders.order_buyer(self.session, number)
        if self.ctx.member_id is not None:
            if buyer is None or buyer.member_id != self.ctx.member_id:
                slots.pop("order_number", None)
                result = self._ask_order(slots, lang, purpose)
                result.text = (
                    t(
                        lang,
                        f"没有在您的账户下查到订单 {number}，请核对订单号。",
                        f"I can't find order {number} in your account; please check the number. ",
                    )
                    + result.text
                )
                return None, result
            return number, None
        if number in st.verified:
            return number, None
        last4 = slots.get("phone")
        if last4:
            if buyer is not None and orders.buyer_phone_matches(self.session, number, str(last4)):
                slots.pop("phone", None)
                return number, None
            fails = int(slots.get("phone_fails") or 0) + 1
            slots.pop("phone", None)
            slots["phone_fails"] = fails
            if fails >= MAX_PHONE_FAILS:
                return None, ActionResult(
                    text=t(
                        lang,
                        "手机号后四位与订单信息不一致，为保护您的信息安全，我为您转接人工客服核实。",
                        "The digits don't match the order. A colleague will verify it with you.",
                    ),
                    handoff="misses",
                    slots=slots,
                )
            return None, ActionResult(
                text=t(
                    lang,
                    "手机号后四位与订单信息不一致，请核对后重新输入下单手机号的后四位。",
                    "Those digits don't match the order. "
                    "Please send the last four digits of the phone used for the order.",
                ),
                need="phone",
                slots=slots,
            )
        return None, ActionResult(
            text=t(
                lang,
                f"为保护您的隐私，请提供订单 {number} 下单手机号的后四位。",
                f"To protect your privacy, please send the last four digits of the phone used for order {number}.",
            ),
            need="phone",
            slots=slots,
        )

    def _remember(self, number: str) -> dict[str, Any]:
        out: dict[str, Any] = {"order_number": number}
        if self.ctx.member_id is None:
            out["verified"] = number
        return out

    def _order(self, number: str) -> OrderOut:
        return orders.get_order(self.session, self.bot, number)

    def _status_text(self, order: OrderOut, lang: str) -> str:
        table = ORDER_STATUS_EN if lang == "en" else ORDER_STATUS_ZH
        return table.get(order.status, order.status)

    def _carrier(self, code: str) -> str:
        return CARRIER_ZH.get(code.lower(), code) if code else ""

    def _eta(self, order: OrderOut, lang: str) -> tuple[str, str]:
        """(date, how it was estimated) for an order on its way; ("", "") when there is nothing to say."""
        if order.status in ("delivered", "completed", "cancelled"):
            return "", ""
        promised = order.eta_at or next((f.eta_at for f in order.fulfilments if f.eta_at), None)
        if promised is not None:
            return local_date(promised), t(lang, "按订单承诺的送达时间", "the delivery date promised with the order")
        shipped = [f for f in order.fulfilments if f.shipped_at is not None]
        if not shipped:
            return "", ""
        f = max(shipped, key=lambda x: x.shipped_at or self.now)
        assert f.shipped_at is not None
        if order.delivery_mode == "same_city" or self.ctx.scene == "instant":
            eta = f.shipped_at + timedelta(hours=2)
            return local_time(eta), t(
                lang, "同城配送按发出后约 2 小时估算", "same-city delivery, about 2 hours after dispatch"
            )
        carrier = f.carrier.lower()
        days = next((d for key, d in TRANSIT_DAYS.items() if key in carrier), DEFAULT_TRANSIT_DAYS)
        eta = f.shipped_at + timedelta(days=days)
        name = self._carrier(f.carrier) or t(lang, "快递", "the courier")
        return local_date(eta), t(
            lang,
            f"按{name}平均 {days} 天的运输时效从发货时间估算，实际以物流为准",
            f"estimated from the ship date with {name}'s usual {days}-day transit; "
            "the courier's tracking is authoritative",
        )

    # ------------------------------------------------------------ in-sale

    def _do_order_status(
        self, sub: SubIntent, slots: dict[str, Any], st: State, entities: Entities, message: str, lang: str
    ) -> ActionResult:
        number, ask = self._order_number(slots, st, entities, lang)
        if ask is not None or number is None:
            return ask or ActionResult()
        order = self._order(number)
        status = self._status_text(order, lang)
        extras: dict[str, str] = {}
        if order.payment_status == "unpaid" and order.status != "cancelled":
            due = f"，请在 {local_time(order.pay_by)} 前完成支付" if order.pay_by else ""
            extras["pay"] = t(lang, f"订单尚未付款{due}。", " It has not been paid yet.")
        carrier, tracking = self._tracking(order)
        if tracking:
            extras["tracking"] = t(lang, f"物流：{carrier} {tracking}。", f" Tracking: {carrier} {tracking}.")
        eta, how = self._eta(order, lang)
        if eta:
            extras["eta"] = t(lang, f"预计 {eta} 送达（{how}）。", f" Expected by {eta} ({how}).")
        if order.delivered_at:
            extras["delivered"] = t(
                lang, f"已于 {local_time(order.delivered_at)} 签收。", f" Delivered {local_time(order.delivered_at)}."
            )
        head = t(lang, f"订单 {number} 当前状态：{status}。", f"Order {number} is {status}.")
        payload = {
            "order": self._order_card(order, lang),
            "quick_replies": [
                {"label": t(lang, "查看物流", "Tracking"), "text": f"{number} 物流到哪了"},
                {"label": t(lang, "申请退货", "Return"), "text": f"{number} 我要退货"},
            ],
        }
        return ActionResult(
            text=head + "".join(extras.values()),
            payload=payload,
            values={
                "order_number": number,
                "status": status,
                "created_at": local_time(order.placed_at),
                "total": yuan(order.paid_fen or order.total_fen, order.currency),
            },
            extras=extras,
            remember=self._remember(number),
        )

    def _tracking(self, order: OrderOut) -> tuple[str, str]:
        for f in order.fulfilments:
            if f.tracking_no:
                return self._carrier(f.carrier), f.tracking_no
        return "", ""

    def _order_card(self, order: OrderOut, lang: str) -> dict[str, Any]:
        return {
            "number": order.number,
            "status": order.status,
            "status_text": self._status_text(order, lang),
            "placed_at": order.placed_at.isoformat(),
            "total": yuan(order.total_fen, order.currency),
            "total_fen": order.total_fen,
            "currency": order.currency,
            "lines": [{"sku": ln.sku_code, "name": ln.name, "quantity": ln.quantity} for ln in order.lines],
        }

    def _do_logistics(
        self, sub: SubIntent, slots: dict[str, Any], st: State, entities: Entities, message: str, lang: str
    ) -> ActionResult:
        number, ask = self._order_number(slots, st, entities, lang)
        if ask is not None or number is None:
            return ask or ActionResult()
        order = self._order(number)
        timeline = self._timeline(number, order, lang)
        status = self._status_text(order, lang)
        carrier, tracking = self._tracking(order)
        eta, how = self._eta(order, lang)
        if order.status in ("delivered", "completed") and order.delivered_at:
            text = t(
                lang,
                f"订单 {number} 已于 {local_time(order.delivered_at)} 签收。",
                f"Order {number} was delivered {local_time(order.delivered_at)}.",
            )
        elif tracking:
            text = t(
                lang,
                f"订单 {number} {status}，{carrier} 运单号 {tracking}。",
                f"Order {number} is {status}: {carrier} {tracking}.",
            )
            if eta:
                text += t(lang, f"预计 {eta} 送达（{how}）。", f" Expected by {eta} ({how}).")
        elif order.status == "cancelled":
            text = t(lang, f"订单 {number} 已取消，不会发货。", f"Order {number} was cancelled and won't ship.")
        else:
            text = t(
                lang,
                f"订单 {number} {status}，还没有物流信息，发货后我会第一时间同步运单号。",
                f"Order {number} is {status}; there is no tracking yet.",
            )
        return ActionResult(
            text=text,
            payload={"timeline": timeline, "order": self._order_card(order, lang)},
            values={
                "order_number": number,
                "status": status,
                "carrier": carrier,
                "tracking": tracking,
                "eta": eta,
                "last_event": timeline[-1]["text"] if timeline else "",
            }
            if tracking and order.status not in ("delivered", "completed", "cancelled")
            else {},
            remember=self._remember(number),
        )

    def _timeline(self, number: str, order: OrderOut, lang: str) -> list[dict[str, Any]]:
        table = ORDER_STATUS_EN if lang == "en" else ORDER_STATUS_ZH
        out: list[dict[str, Any]] = []
        for entry in orders.timeline(self.session, self.bot, number):
            if entry.kind == "status" and entry.to_status:
                out.append({"at": entry.at.isoformat(), "text": table.get(entry.to_status, entry.to_status)})
            elif entry.kind == "fulfilment" and entry.to_status in ("shipped", "delivered"):
                f = next((x for x in order.fulfilments if x.id == entry.fulfilment_id), None)
                if entry.to_status == "shipped":
                    where = f"{f.location_name} " if f and f.location_name else ""
                    via = f"，{self._carrier(f.carrier)} {f.tracking_no}" if f and f.tracking_no else ""
                    out.append({"at": entry.at.isoformat(), "text": t(lang, f"{where}已发出{via}", f"shipped{via}")})
                else:
                    out.append({"at": entry.at.isoformat(), "text": t(lang, "包裹已签收", "parcel delivered")})
        # One row per status change, in time order (several fulfilments can repeat a step).
        seen: set[str] = set()
        unique = []
        for row in out:
            if row["text"] not in seen:
                seen.add(row["text"])
                unique.append(row)
        return unique

    def _do_order_list(
        self, sub: SubIntent, slots: dict[str, Any], st: State, entities: Entities, message: str, lang: str
    ) -> ActionResult:
        recent = self._recent_orders()
        if self.ctx.member_id is None:
            return ActionResult(
                text=t(
                    lang,
                    "登录会员后我可以直接列出您的订单；也可以把订单号发给我，我来帮您查。",
                    "Once you're signed in I can list your orders; or send me an order number.",
                )
            )
        if not recent:
            return ActionResult(text=t(lang, "您的账户下暂时没有订单。", "There are no orders in your account yet."))
        lines = []
        options = []
        table = ORDER_STATUS_EN if lang == "en" else ORDER_STATUS_ZH
        for i, o in enumerate(recent, 1):
            placed, total = local_date(o.placed_at), yuan(o.total_fen, o.currency)
            lines.append(f"{i}. {o.number} · {placed} · {total} · {table.get(o.status, o.status)}")
            options.append({"label": o.number, "value": o.number, "text": f"{o.number} 状态"})
        text = t(lang, "您最近的订单：\n", "Your recent orders:\n") + "\n".join(lines)
        return ActionResult(
            text=text,
            payload={"quick_replies": options},
            options=options,
            pick_action="order_status",
            values={"count": len(recent)},
            extras={"list": "\n".join(lines)},
        )

    def _do_cancel_order(
        self, sub: SubIntent, slots: dict[str, Any], st: State, entities: Entities, message: str, lang: str
    ) -> ActionResult:
        number, ask = self._order_number(slots, st, entities, lang, t(lang, "要取消", ""))
        if ask is not None or number is None:
            return ask or ActionResult()
        order = self._order(number)
        remember = self._remember(number)
        if order.status == "cancelled":
            return ActionResult(
                text=t(lang, f"订单 {number} 已经是取消状态了。", f"Order {number} is already cancelled."),
                remember=remember,
            )
        status = self._status_text(order, lang)
        total = yuan(order.total_fen, order.currency)
        if order.status not in CANCELLABLE:
            return ActionResult(
                text=t(
                    lang,
                    f"订单 {number} {status}，已经无法取消。签收后可以申请 7 天无理由退货，需要的话回复“退货”。",
                    f"Order {number} is {status} and can no longer be cancelled; you can return it after delivery.",
                ),
                payload={"quick_replies": [{"label": t(lang, "申请退货", "Return"), "text": f"{number} 我要退货"}]},
                remember=remember,
            )
        if not slots.get("confirmed"):
            return ActionResult(
                text=t(
                    lang,
                    f"确认要取消订单 {number}（{total}）吗？取消后不可恢复，已付款项将原路退回。",
                    f"Cancel order {number} ({total})? Payments are refunded to the original method.",
                ),
                confirm=True,
                slots=slots,
                remember=remember,
            )
        try:
            done = orders.cancel(self.session, self.bot, number, "顾客通过在线客服取消")
        except DomainError as exc:
            return ActionResult(
                text=t(
                    lang,
                    f"抱歉，订单 {number} 现在无法取消（{exc.detail or exc.title}）。我为您转接人工客服处理。",
                    f"Sorry, order {number} can't be cancelled now. A colleague will help.",
                ),
                handoff="rule",
            )
        refund = ""
        if done.paid_fen > 0:
            refund = t(
                lang, "已付款项将在 1-7 个工作日内原路退回。", " Your payment will be refunded within 1-7 working days."
            )
        return ActionResult(
            text=t(lang, f"订单 {number} 已为您取消。", f"Order {number} is cancelled.") + refund,
            values={"order_number": number, "status": status},
            remember=remember,
        )

    def _do_invoice(
        self, sub: SubIntent, slots: dict[str, Any], st: State, entities: Entities, message: str, lang: str
    ) -> ActionResult:
        number, ask = self._order_number(slots, st, entities, lang)
        if ask is not None or number is None:
            return ask or ActionResult()
        order = self._order(number)
        status = self._status_text(order, lang)
        # The order center holds no invoice records: say what the order's state means for it.
        if order.status == "cancelled":
            text = t(
                lang, f"订单 {number} 已取消，不会开具发票。", f"Order {number} was cancelled; no invoice is issued."
            )
        elif order.status in ("delivered", "completed"):
            text = t(
                lang,
                f"订单 {number} {status}，电子发票会在确认收货后开具，可在订单详情页下载；"
                "如果还没收到或需要换开，回复“转人工”由同事为您处理。",
                f"Order {number} is {status}; the e-invoice is issued after delivery "
                "and can be downloaded from the order page.",
            )
        else:
            text = t(
                lang,
                f"订单 {number} {status}，电子发票会在确认收货后开具，届时可在订单详情页下载。",
                f"Order {number} is {status}; the e-invoice is issued after delivery.",
            )
        return ActionResult(
            text=text,
            values={"order_number": number, "status": status},
            remember=self._remember(number),
        )

    # ------------------------------------------------------------ after-sale

    def _do_return_eligibility(
        self, sub: SubIntent, slots: dict[str, Any], st: State, entities: Entities, message: str, lang: str
    ) -> ActionResult:
        number, ask = self._order_number(slots, st, entities, lang)
        if ask is not None or number is None:
            return ask or ActionResult()
        elig = orders.return_eligibility(self.session, self.bot, number)
        order = self._order(number)
        names = {ln.line_no: ln.name or ln.sku_code for ln in order.lines}
        deadline = next((ln.deadline for ln in elig.lines if ln.deadline), None)
        rows = []
        for ln in elig.lines:
            if ln.returnable > 0:
                rows.append(
                    t(
                        lang,
                        f"{names.get(ln.line_no)}：可退 {ln.returnable} 件",
                        f"{names.get(ln.line_no)}: {ln.returnable} returnable",
                    )
                )
            else:
                rows.append(
                    f"{names.get(ln.line_no)}：{NOT_RETURNABLE_ZH.get(ln.reason, ln.reason)}"
                    if lang != "en"
                    else f"{names.get(ln.line_no)}: {ln.reason}"
                )
        if elig.eligible:
            until = (
                t(lang, f"，请在 {local_date(deadline)} 前申请", f", apply before {local_date(deadline)}")
                if deadline
                else ""
            )
            text = t(
                lang,
                f"订单 {number} 支持 {elig.window_days} 天无理由退货{until}。\n",
                f"Order {number} can be returned within {elig.window_days} days{until}.\n",
            ) + "\n".join(rows)
            payload = {
                "quick_replies": [{"label": t(lang, "申请退货", "Start a return"), "text": f"{number} 我要退货"}]
            }
        else:
            text = t(
                lang, f"订单 {number} 目前不能申请退货：\n", f"Order {number} can't be returned now:\n"
            ) + "\n".join(rows)
            payload = {}
        return ActionResult(
            text=text,
            payload=payload,
            values={
                "order_number": number,
                "deadline": local_date(deadline),
                "policy": t(lang, f"{elig.window_days}天无理由退货", f"{elig.window_days}-day returns"),
            }
            if elig.eligible
            else {},
            extras={"rows": "\n".join(rows)},
            remember=self._remember(number),
        )

    def _do_create_return(
        self, sub: SubIntent, slots: dict[str, Any], st: State, entities: Entities, message: str, lang: str
    ) -> ActionResult:
        number, ask = self._order_number(slots, st, entities, lang, t(lang, "要退货", ""))
        if ask is not None or number is None:
            return ask or ActionResult()
        remember = self._remember(number)
        elig = orders.return_eligibility(self.session, self.bot, number)
        order = self._order(number)
        by_no = {ln.line_no: ln for ln in order.lines}
        returnable = {ln.line_no: ln for ln in elig.lines if ln.returnable > 0}
        if not returnable:
            reasons = "、".join(sorted({NOT_RETURNABLE_ZH.get(ln.reason, ln.reason) for ln in elig.lines}))
            return ActionResult(
                text=t(
                    lang,
                    f"订单 {number} 目前没有可以退货的商品（{reasons}）。如有质量问题，回复“转人工”由同事为您处理。",
                    f"Nothing in order {number} can be returned now. For a quality problem, ask for a colleague.",
                ),
                remember=remember,
            )
        line_no = slots.get("line")
        if line_no is None:
            mentioned = {m.code for m in entities.skus}
            matches = [no for no in returnable if by_no[no].sku_code in mentioned]
            if len(returnable) == 1:
                line_no = next(iter(returnable))
            elif len(matches) == 1:
                line_no = matches[0]
            else:
                options = [
                    {
                        "label": f"{by_no[no].name or by_no[no].sku_code}（可退 {e.returnable} 件）",
                        "value": no,
                        "text": by_no[no].name,
                    }
                    for no, e in returnable.items()
                ]
                return ActionResult(
                    text=t(lang, "请问要退哪件商品？", "Which item would you like to return?"),
                    need="line",
                    options=options,
                    slots=slots,
                    remember=remember,
                )
            slots["line"] = line_no
        line_no = int(line_no)
        if line_no not in returnable:
            slots.pop("line", None)
            return ActionResult(text=t(lang, "这件商品不能退货。", "That item can't be returned."), remember=remember)
        most = returnable[line_no].returnable
        quantity = slots.get("quantity")
        if quantity is None:
            if most == 1:
                quantity = 1
            elif entities.quantities:
                quantity = entities.quantities[0]
            else:
                return ActionResult(
                    text=t(lang, f"请问要退几件？最多可退 {most} 件。", f"How many? Up to {most}."),
                    need="quantity",
                    slots=slots,
                    remember=remember,
                )
        quantity = int(quantity)
        if not 1 <= quantity <= most:
            slots.pop("quantity", None)
            return ActionResult(
                text=t(lang, f"这件商品最多可退 {most} 件，请问要退几件？", f"Up to {most} can be returned; how many?"),
                need="quantity",
                slots=slots,
                remember=remember,
            )
        slots["quantity"] = quantity
        reason = slots.get("reason")
        if not reason:
            return ActionResult(
                text=t(lang, "请问退货原因是什么？", "What's the reason for the return?"),
                need="reason",
                options=[{"label": r, "value": r, "text": r} for r in RETURN_REASONS],
                slots=slots,
                remember=remember,
            )
        name = by_no[line_no].name or by_no[line_no].sku_code
        if not slots.get("confirmed"):
            return ActionResult(
                text=t(
                    lang,
                    f"请确认退货申请：订单 {number}，{name} × {quantity}，原因：{reason}。确认提交吗？",
                    f"Please confirm the return: order {number}, {name} × {quantity}, reason: {reason}. Submit?",
                ),
                confirm=True,
                slots=slots,
                remember=remember,
            )
        try:
            ret = orders.request_return(
                self.session, self.bot, number, [ReturnLineIn(line_no=line_no, quantity=quantity)], str(reason)[:255]
            )
        except DomainError as exc:
            return ActionResult(
                text=t(
                    lang,
                    f"抱歉，退货申请没有提交成功（{exc.detail or exc.title}），我为您转接人工客服。",
                    "Sorry, the return could not be submitted; a colleague will help.",
                ),
                handoff="rule",
            )
        return ActionResult(
            text=t(
                lang,
                f"退货申请 {ret.number} 已提交，预计退款 {yuan(ret.refund_fen, order.currency)}。"
                "审核通过后会通知您寄回方式，退款在收到商品后原路退回。",
                f"Return {ret.number} is submitted; expected refund {yuan(ret.refund_fen, order.currency)}. "
                "We'll tell you how to send it back once approved.",
            ),
            payload={
                "return": {"number": ret.number, "status": ret.status, "refund": yuan(ret.refund_fen, order.currency)}
            },
            values={
                "order_number": number,
                "return_number": ret.number,
                "refund": yuan(ret.refund_fen, order.currency),
            },
            remember=remember,
        )

    def _do_return_status(
        self, sub: SubIntent, slots: dict[str, Any], st: State, entities: Entities, message: str, lang: str
    ) -> ActionResult:
        number, ask = self._order_number(slots, st, entities, lang)
        if ask is not None or number is None:
            return ask or ActionResult()
        returns = orders.order_returns(self.session, self.bot, number)
        remember = self._remember(number)
        if not returns:
            return ActionResult(
                text=t(
                    lang, f"订单 {number} 还没有退货申请。需要申请吗？", f"Order {number} has no return yet. Start one?"
                ),
                payload={
                    "quick_replies": [{"label": t(lang, "申请退货", "Start a return"), "text": f"{number} 我要退货"}]
                },
                remember=remember,
            )
        table = RETURN_STATUS_EN if lang == "en" else RETURN_STATUS_ZH
        rows = [
            f"{r.number}：{table.get(r.status, r.status)}，"
            + t(lang, f"退款 {yuan(r.refund_fen)}", f"refund {yuan(r.refund_fen)}")
            for r in returns
        ]
        return ActionResult(
            text=t(lang, f"订单 {number} 的退货进度：\n", f"Returns of order {number}:\n") + "\n".join(rows),
            values={
                "order_number": number,
                "return_number": returns[-1].number,
                "status": table.get(returns[-1].status, returns[-1].status),
                "refund": t(
                    lang, f"退款金额 {yuan(returns[-1].refund_fen)}。", f"Refund {yuan(returns[-1].refund_fen)}."
                ),
            },
            extras={"others": "\n".join(rows[:-1])} if len(rows) > 1 else {},
            remember=remember,
        )

    def _do_warranty(
        self, sub: SubIntent, slots: dict[str, Any], st: State, entities: Entities, message: str, lang: str
    ) -> ActionResult:
        serial = slots.get("serial") or (entities.serials[0] if entities.serials else None)
        if not serial and (entities.order_numbers or slots.get("order_number")):
            # "ZT… 保修到什么时候": the serials that order shipped, once it is shown to be theirs.
            number, ask = self._order_number(slots, st, entities, lang)
            if ask is not None or number is None:
                return ask or ActionResult()
            order = self._order(number)
            serials = [x for f in order.fulfilments for ln in f.lines for x in ln.serials]
            if len(serials) == 1:
                serial = serials[0]
            elif serials:
                return ActionResult(
                    text=t(lang, "这个订单有多件序列号商品，请问查哪一件？", "Which unit of this order?"),
                    need="serial",
                    options=[{"label": x, "value": x, "text": x} for x in serials],
                    slots=slots,
                    remember=self._remember(number),
                )
        if not serial:
            return ActionResult(
                text=t(
                    lang,
                    "请提供商品的序列号（SN 码），一般在机身背面、包装盒侧面或“设置-关于本机”里可以找到。",
                    "Please send the serial number (SN); "
                    "it's on the back of the device, on the box, or under Settings > About.",
                ),
                need="serial",
                slots=slots,
            )
        unit = orders.unit_by_serial(self.session, str(serial))
        if unit is None:
            slots.pop("serial", None)
            return ActionResult(
                text=t(
                    lang,
                    f"没有查到序列号 {serial} 的购买记录，请核对（注意区分字母 O 和数字 0）后再发给我。",
                    f"I can't find a purchase with serial {serial}; please check it and send it again.",
                ),
                need="serial",
                slots=slots,
            )
        months, source = self._warranty_months(unit.sku_code)
        start = unit.delivered_at or unit.shipped_at
        assert start is not None
        start_day = start.astimezone(CHINA).date()
        until = add_months(start_day, months)
        today = self.now.astimezone(CHINA).date()
        covered = today <= until
        state = t(lang, "在保", "under warranty") if covered else t(lang, "已过保", "out of warranty")
        text = t(
            lang,
            f"序列号 {serial}（{unit.sku_name}）{state}，保修 {months} 个月（{source}），"
            f"自 {start_day} 起，到期日 {until}。",
            f"Serial {serial} ({unit.sku_name}) is {state}: {months} months from {start_day}, until {until}.",
        )
        if not covered:
            text += t(
                lang, "过保后可以付费维修，需要的话回复“转人工”。", " Paid repair is available; ask for a colleague."
            )
        return ActionResult(
            text=text,
            values={
                "serial": serial,
                "sku_name": unit.sku_name,
                "warranty_until": str(until),
                "warranty_status": state,
            },
            extras={
                "months": t(
                    lang,
                    f"保修期 {months} 个月（{source}），自 {start_day} 起算。",
                    f" {months} months from {start_day}.",
                ),
                "repair": ""
                if covered
                else t(
                    lang,
                    "过保后可以付费维修，需要的话回复“转人工”。",
                    " Paid repair is available; ask for a colleague.",
                ),
            },
            remember={"skus": [unit.sku_code]},
        )

    def _warranty_months(self, sku_code: str) -> tuple[int, str]:
        try:
            detail = catalog.get_sku_detail(self.session, sku_code)
        except DomainError:
            return DEFAULT_WARRANTY_MONTHS, "默认保修期"
        for p in detail.parameters:
            if p.code == "warranty_months" and isinstance(p.value, int | float) and p.value > 0:
                return int(p.value), "商品参数"
        return DEFAULT_WARRANTY_MONTHS, "序列号商品默认保修期" if detail.serial_tracked else "默认保修期"

    # ------------------------------------------------------------ pre-sale

    def _sku(self, slots: dict[str, Any], st: State, entities: Entities) -> str | None:
        code = slots.get("sku") or (entities.skus[0].code if entities.skus else None)
        if code is None and st.skus:
            code = st.skus[-1]
        return str(code) if code else None

    def _ask_sku(self, slots: dict[str, Any], lang: str) -> ActionResult:
        return ActionResult(
            text=t(
                lang,
                "请问您想了解哪款商品？可以发送商品名称、型号或商品链接。",
                "Which product do you mean? Send me its name, model or link.",
            ),
            need="sku",
            slots=slots,
        )

    def _detail(self, code: str) -> SkuDetailOut | None:
        try:
            return catalog.get_sku_detail(self.session, code)
        except DomainError:
            return None

    def _product(self, slots: dict[str, Any], st: State, entities: Entities) -> SkuDetailOut | None:
        """The product the question is about: the slot, the message, or the conversation's last."""
        code = self._sku(slots, st, entities)
        return self._detail(code) if code else None

    def _price_fen(self, d: SkuDetailOut) -> int:
        for cp in d.channel_prices:
            if cp.channel_code == self.ctx.channel_code:
                return cp.price_fen
        return d.sale_price_fen or d.list_price_fen

    def card(self, d: SkuDetailOut) -> dict[str, Any]:
        price = self._price_fen(d)
        return {
            "sku": d.code,
            "name": d.name,
            "name_en": d.name_en,
            "price": yuan(price, d.currency),
            "price_fen": price,
            "currency": d.currency,
            "list_price": yuan(d.list_price_fen, d.currency) if d.list_price_fen > price else None,
            "points": list(d.selling_points[:3]),
            "on_sale": d.lifecycle == "on_sale",
            "url": f"/p/{d.code}",
        }

    def cards(self, codes: Sequence[str]) -> list[dict[str, Any]]:
        out = []
        for code in codes:
            d = self._detail(code)
            if d is not None:
                out.append(self.card(d))
        return out

    def _do_product_card(
        self, sub: SubIntent, slots: dict[str, Any], st: State, entities: Entities, message: str, lang: str
    ) -> ActionResult:
        d = self._product(slots, st, entities)
        if d is None:
            return self._ask_sku(slots, lang)
        name = _display_name(d, lang)
        price = yuan(self._price_fen(d), d.currency)
        points = "；".join(d.selling_points[:3])
        text = t(lang, f"{name}，售价 {price}。", f"{name}, {price}.")
        if points:
            text += t(lang, f"主要卖点：{points}。", f" Highlights: {points}.")
        if d.lifecycle != "on_sale":
            text += t(lang, "这款商品目前已下架。", " It is not on sale at the moment.")
        return ActionResult(
            text=text,
            payload={"cards": [self.card(d)]},
            values={"sku_name": name, "price": price, "selling_points": "、".join(d.selling_points[:3])},
            extras={
                "off_sale": "" if d.lifecycle == "on_sale" else t(lang, "这款商品目前已下架。", " Not on sale now.")
            },
            remember={"skus": [d.code]},
        )

    def _do_product_param(
        self, sub: SubIntent, slots: dict[str, Any], st: State, entities: Entities, message: str, lang: str
    ) -> ActionResult:
        d = self._product(slots, st, entities)
        if d is None:
            return self._ask_sku(slots, lang)
        name = _display_name(d, lang)
        values = {p.code: p for p in [*d.parameters, *d.attributes]}
        asked = [values[a] for a in entities.attributes if a in values]
        if entities.attributes and not asked:
            return ActionResult(
                text=t(
                    lang,
                    f"{name} 的商品资料里暂时没有这项参数，需要的话回复“转人工”帮您确认。",
                    f"The product data of {name} doesn't include that; a colleague can check.",
                ),
                remember={"skus": [d.code]},
            )
        shown = asked or list(values.values())[:6]
        if not shown:
            return ActionResult(
                text=t(lang, f"{name} 暂时没有录入参数信息。", f"{name} has no parameters on file."),
                remember={"skus": [d.code]},
            )
        rows = [
            f"{(p.name_en if lang == 'en' and p.name_en else p.name)}：{_value_text(p.value, p.unit)}" for p in shown
        ]
        if len(asked) == 1:
            p = asked[0]
            pname = p.name_en if lang == "en" and p.name_en else p.name
            text = t(
                lang,
                f"{name} 的{pname}是 {_value_text(p.value, p.unit)}。",
                f"The {pname} of {name} is {_value_text(p.value, p.unit)}.",
            )
        else:
            text = t(lang, f"{name} 的主要参数：\n", f"Key specs of {name}:\n") + "\n".join(rows)
        first = shown[0]
        return ActionResult(
            text=text,
            payload={"params": [{"name": p.name, "value": _value_text(p.value, p.unit)} for p in shown]},
            values={
                "sku_name": name,
                "param_name": first.name_en if lang == "en" and first.name_en else first.name,
                "param_value": _value_text(first.value, first.unit),
            }
            if len(asked) == 1
            else {},
            remember={"skus": [d.code]},
        )

    def _do_product_compare(
        self, sub: SubIntent, slots: dict[str, Any], st: State, entities: Entities, message: str, lang: str
    ) -> ActionResult:
        pair = slots.get("sku_pair")
        if not pair:
            codes = [m.code for m in entities.skus]
            # Two variants of one product compare as variants; two mentions of one SKU don't compare.
            codes = list(dict.fromkeys(codes))
            if len(codes) == 1 and st.skus and st.skus[-1] != codes[0]:
                codes = [st.skus[-1], codes[0]]
            elif len(codes) < 2 and len(st.skus) >= 2:
                codes = st.skus[-2:]
            pair = codes[:2] if len(codes) >= 2 else None
        details = [self._detail(str(c)) for c in pair] if pair else []
        if len(details) != 2 or any(d is None for d in details):
            return ActionResult(
                text=t(
                    lang, "请告诉我要对比的两款商品，例如“A 和 B 有什么区别”。", "Which two products should I compare?"
                ),
                need="sku_pair",
                slots=slots,
            )
        a, b = details
        assert a is not None
        assert b is not None
        pa = {p.code: p for p in a.parameters}
        pb = {p.code: p for p in b.parameters}
        rows = [
            {
                "name": t(lang, "价格", "Price"),
                "a": yuan(self._price_fen(a), a.currency),
                "b": yuan(self._price_fen(b), b.currency),
            }
        ]
        for code_, p in pa.items():
            if code_ in pb:
                va, vb = _value_text(p.value, p.unit), _value_text(pb[code_].value, pb[code_].unit)
                rows.append({"name": p.name_en if lang == "en" and p.name_en else p.name, "a": va, "b": vb})
        diff = [r for r in rows if r["a"] != r["b"]]
        name_a = a.name_en if lang == "en" and a.name_en else a.name
        name_b = b.name_en if lang == "en" and b.name_en else b.name
        lines = [f"{r['name']}：{r['a']} vs {r['b']}" for r in (diff or rows)[:8]]
        text = t(lang, f"{name_a} 与 {name_b} 的主要区别：\n", f"{name_a} vs {name_b}:\n") + "\n".join(lines)
        if not diff:
            text = t(
                lang,
                f"{name_a} 与 {name_b} 的参数和价格相同。",
                f"{name_a} and {name_b} have the same specs and price.",
            )
        return ActionResult(
            text=text,
            payload={"compare": {"a": a.code, "b": b.code, "rows": rows}, "cards": [self.card(a), self.card(b)]},
            values={"sku_name": name_a, "other_name": name_b, "differences": "\n" + "\n".join(lines)} if diff else {},
            remember={"skus": [a.code, b.code]},
        )

    def _do_product_gifts(
        self, sub: SubIntent, slots: dict[str, Any], st: State, entities: Entities, message: str, lang: str
    ) -> ActionResult:
        d = self._product(slots, st, entities)
        if d is None:
            return self._ask_sku(slots, lang)
        name = _display_name(d, lang)
        gifts = [p for p in [*d.selling_points, *d.tags] if any(w in p.lower() for w in GIFT_WORDS)]
        if gifts:
            text = t(lang, f"{name} 目前的活动：{'；'.join(gifts)}。", f"Current offer on {name}: {'; '.join(gifts)}.")
        else:
            text = t(
                lang,
                f"{name} 目前没有赠品活动，以商品页为准。",
                f"There's no free gift with {name} at the moment.",
            )
        accessories = self.cards([a.code for a in d.accessories][:3])
        if accessories:
            names = "、".join(c["name"] for c in accessories)
            text += t(lang, f"很多顾客会搭配购买这些配件：{names}。", f" Customers often add: {names}.")
        return ActionResult(
            text=text,
            payload={"cards": accessories} if accessories else {},
            values={
                "sku_name": name,
                "gifts": t(lang, "赠送：" + "；".join(gifts), " comes with: " + "; ".join(gifts))
                if gifts
                else t(lang, "目前没有赠品活动", " has no free gift at the moment"),
                "accessories": "、".join(c["name"] for c in accessories),
            }
            if accessories
            else {},
            remember={"skus": [d.code]},
        )

    def _do_product_stock(
        self, sub: SubIntent, slots: dict[str, Any], st: State, entities: Entities, message: str, lang: str
    ) -> ActionResult:
        d = self._product(slots, st, entities)
        if d is None:
            return self._ask_sku(slots, lang)
        name = _display_name(d, lang)
        try:
            avail = inventory.sku_availability(self.session, self.bot, d.code, channel_code=self.ctx.channel_code)
        except DomainError:
            avail = inventory.sku_availability(self.session, self.bot, d.code)
        stores = [loc for loc in avail.locations if loc.location_type == "store" and loc.sellable > 0]
        if d.lifecycle != "on_sale":
            text = t(lang, f"{name} 目前已下架，暂不销售。", f"{name} is not on sale.")
        elif avail.totals.sellable > 0:
            text = t(lang, f"{name} 有货，现在下单即可发货。", f"{name} is in stock.")
            if stores:
                listed = "、".join(f"{s.location_name}（{s.city}）" if s.city else s.location_name for s in stores[:3])
                text += t(lang, f"以下门店也有现货，可到店自提：{listed}。", f" Also in store: {listed}.")
        else:
            text = t(lang, f"{name} 暂时缺货，补货后可以第一时间通知您。", f"{name} is out of stock for now.")
        if avail.totals.sellable <= 0:
            stock_status = t(lang, "暂时缺货", "out of stock")
        elif avail.totals.sellable <= LOW_STOCK:
            stock_status = t(lang, f"有货，仅剩 {avail.totals.sellable} 件", f"only {avail.totals.sellable} left")
        else:
            stock_status = t(lang, "有货", "in stock")
        return ActionResult(
            text=text,
            payload={"cards": [self.card(d)]},
            values={
                "sku_name": name,
                "stock_status": stock_status,
                "store": "、".join(x.location_name for x in stores[:3]),
            }
            if d.lifecycle == "on_sale"
            else {},
            remember={"skus": [d.code]},
        )

    def _do_product_recommend(
        self, sub: SubIntent, slots: dict[str, Any], st: State, entities: Entities, message: str, lang: str
    ) -> ActionResult:
        d = self._product(slots, st, entities)
        category = self._category_in(message) if d is None else None
        if d is None and category is None:
            return ActionResult(
                text=t(
                    lang,
                    "想买哪类商品呢？告诉我品类、品牌或预算，例如“3000 元左右的手机”，或者发一款您在看的商品。",
                    "What are you looking for? Tell me a category, brand or budget, or a product you're looking at.",
                ),
                need="sku",
                slots=slots,
            )
        if d is not None:
            category_code, category_name, price, spu = d.category_code, d.category_name, self._price_fen(d), d.spu_code
        else:
            assert category is not None
            category_code, category_name, price, spu = category.code, category.name, None, ""
        page = catalog.list_skus(self.session, category_code=category_code, lifecycle="on_sale", limit=50)
        others = [s for s in page.items if s.spu_code != spu]
        if price is not None:
            # Near the price of the product the customer is looking at.
            others.sort(key=lambda s: abs((s.sale_price_fen or s.list_price_fen) - price))
        one_per_spu = list({s.spu_code: s for s in reversed(others)}.values())[::-1]
        picks = self.cards([s.code for s in one_per_spu[:3]])
        if not picks:
            return ActionResult(
                text=t(
                    lang,
                    f"{category_name}类目下暂时没有其他在售商品。",
                    f"There is nothing else on sale in {category_name} right now.",
                ),
                payload={"cards": [self.card(d)]} if d is not None else {},
                remember={"skus": [d.code]} if d is not None else {},
            )
        names = "、".join(c["name"] for c in picks)
        lead = f"和 {d.name} 同类、价位相近的在售商品有：" if d is not None else f"为您推荐几款在售的{category_name}："
        text = t(lang, lead + names + "。", "You may like: " + ", ".join(c["name"] for c in picks) + ".")
        return ActionResult(
            text=text,
            payload={"cards": picks},
            values={"category": category_name},
            remember={"skus": [d.code]} if d is not None else {},
        )

    def _category_in(self, message: str) -> catalog.CategoryInfo | None:
        """The most specific catalog category named in the message ("推荐一款手机" → 手机)."""
        norm = message.lower()
        scored: list[tuple[int, int, catalog.CategoryInfo]] = []
        for c in catalog.categories_by_id(self.session).values():
            if (c.name and c.name in message) or (c.name_en and c.name_en.lower() in norm):
                scored.append((len(c.name or c.name_en or ""), len(c.path_ids), c))
                continue
            # "净化器" names 空气净化器, "扫地的" 扫地机器人: the longest head or tail (2+ characters)
            # of a category's name that the message says.
            name = c.name or ""
            part = max(
                (k for k in range(len(name) - 1, 1, -1) if name[:k] in message or name[-k:] in message), default=0
            )
            if part:
                scored.append((part, len(c.path_ids), c))
        return max(scored, key=lambda x: (x[0], x[1]))[2] if scored else None
