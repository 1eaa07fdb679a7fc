"""Replenishment: policies over forecast quantiles, suggestions with their reasoning, purchase orders,
receipts into stock, DC to store allocation and rebalancing transfers."""
