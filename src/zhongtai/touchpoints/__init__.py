"""Touchpoints (全触点): the registry of every touchpoint, their heartbeats and the one event stream.

Online (web shop, mini-program, official account), offline (smart-store cameras, interactive
screens, smart shelves, POS), commercial (ads, vending machines, OTT) and social (WeChat groups,
guides' WeCom) touchpoints are registered here; their events arrive through ``POST /api/v1/events``,
are validated per type, attributed to a member through the member center and staged in
``touchpoint_events``, from where the analytics sink moves them into the columnar store.
"""
