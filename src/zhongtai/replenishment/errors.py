"""Replenishment's domain errors (rendered as problem+json by the one handler in ``app.py``)."""

from __future__ import annotations

from zhongtai.errors import Conflict, ValidationFailed


class OverReceipt(ValidationFailed):
    """A receipt for more than a PO line still expects; ``errors`` names every such line."""

    code = "over_receipt"
    title = "More received than the purchase order still expects"


class NothingToOrder(Conflict):
    code = "nothing_to_order"
    title = "No approved suggestion to order"
