"""Roles and what each may do. The only place where a role turns into permissions."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPS = "ops"
    STORE_MANAGER = "store_manager"
    GUIDE = "guide"
    CS_AGENT = "cs_agent"
    ANALYST = "analyst"
    INTEGRATOR = "integrator"
    # The publishable key of the embeddable chat widget: it can only open and continue its own
    # conversations (each carries a token of its own), nothing else.
    CHAT_WIDGET = "chat_widget"
    # A device or system at a touchpoint (a store's camera system, an interactive screen, a web
    # shop's tracker): it can only push its events and heartbeats.
    TOUCHPOINT = "touchpoint"


class Perm(StrEnum):
    CONSOLE = "console:use"
    CATALOG_READ = "catalog:read"
    CATALOG_WRITE = "catalog:write"
    LOCATIONS_WRITE = "locations:write"
    CHANNELS_WRITE = "channels:write"
    INVENTORY_READ = "inventory:read"
    INVENTORY_WRITE = "inventory:write"
    INVENTORY_RESERVE = "inventory:reserve"
    USERS_MANAGE = "users:manage"
    APIKEYS_MANAGE = "apikeys:manage"
    AUDIT_READ = "audit:read"
    JOBS_READ = "jobs:read"
    METRICS_READ = "metrics:read"
    # Orders: read (scoped to a store's orders for store roles, to its channel for channel keys),
    # capture (intake, POS sales), fulfil (pick, pack, ship, reject at a location), manage
    # (cancel, re-route, exceptions, fulfilment settings), returns (request, receive, refund).
    ORDERS_READ = "orders:read"
    ORDERS_CAPTURE = "orders:capture"
    ORDERS_FULFIL = "orders:fulfil"
    ORDERS_MANAGE = "orders:manage"
    RETURNS_WRITE = "returns:write"
    # Members (OneID): read cards and search; write (enrol, link identifiers, consent, manual tags,
    # bind a member to a guide); manage (merge review, unmerge, tag rules, reassign a guide's
    # members, export and erasure under PIPL); points (earn and redeem for a channel or a till).
    MEMBERS_READ = "members:read"
    MEMBERS_WRITE = "members:write"
    MEMBERS_MANAGE = "members:manage"
    POINTS_WRITE = "points:write"
    # Planning: read forecasts, the event calendar, suggestions, purchase orders (store roles: their
    # stores); write (edit events and policies, run forecasts, approve suggestions, issue and
    # receive purchase orders, allocation and rebalancing transfers).
    PLANNING_READ = "planning:read"
    PLANNING_WRITE = "planning:write"
    # Customer service: chat (open a conversation and talk to the bot, as a channel's customer);
    # agent (the hand-off queue: accept, reply, close); read (knowledge base, metrics); write (edit
    # and publish the knowledge base, train from unanswered questions, channel settings).
    SERVICE_CHAT = "service:chat"
    SERVICE_AGENT = "service:agent"
    SERVICE_READ = "service:read"
    SERVICE_WRITE = "service:write"
    # Touchpoints and the data platform: push events and heartbeats (touchpoint systems and
    # integrators); register and edit touchpoints, inspect rejected events; read the dashboards
    # and the touchpoint maturity (store roles: their stores' figures).
    EVENTS_WRITE = "events:write"
    TOUCHPOINTS_WRITE = "touchpoints:write"
    ANALYTICS_READ = "analytics:read"
    # Unmasked personal data (phone, e-mail, address). Members and orders check it.
    PII_READ = "pii:read"


_READ = {Perm.CATALOG_READ, Perm.INVENTORY_READ, Perm.ORDERS_READ, Perm.MEMBERS_READ}

ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    Role.OPS: frozenset(
        _READ
        | {
            Perm.CONSOLE,
            Perm.CATALOG_WRITE,
            Perm.LOCATIONS_WRITE,
            Perm.INVENTORY_WRITE,
            Perm.INVENTORY_RESERVE,
            Perm.JOBS_READ,
            Perm.AUDIT_READ,
            Perm.ORDERS_CAPTURE,
            Perm.ORDERS_FULFIL,
            Perm.ORDERS_MANAGE,
            Perm.RETURNS_WRITE,
            Perm.MEMBERS_WRITE,
            Perm.MEMBERS_MANAGE,
            Perm.POINTS_WRITE,
            Perm.PLANNING_READ,
            Perm.PLANNING_WRITE,
            Perm.SERVICE_READ,
            Perm.SERVICE_WRITE,
            Perm.SERVICE_AGENT,
            Perm.TOUCHPOINTS_WRITE,
            Perm.ANALYTICS_READ,
        }
    ),
    Role.STORE_MANAGER: frozenset(
        _READ
        | {
            Perm.CONSOLE,
            Perm.INVENTORY_WRITE,
            Perm.INVENTORY_RESERVE,
            Perm.JOBS_READ,
            Perm.PII_READ,
            Perm.ORDERS_CAPTURE,
            Perm.ORDERS_FULFIL,
            Perm.RETURNS_WRITE,
            Perm.MEMBERS_WRITE,
            Perm.POINTS_WRITE,
            Perm.PLANNING_READ,
            Perm.ANALYTICS_READ,
        }
    ),
    # A guide enrols and serves the customer in front of them: the card is masked (no pii:read).
    Role.GUIDE: frozenset(_READ | {Perm.CONSOLE, Perm.MEMBERS_WRITE, Perm.POINTS_WRITE}),
    Role.CS_AGENT: frozenset(
        _READ
        | {Perm.CONSOLE, Perm.PII_READ, Perm.RETURNS_WRITE, Perm.MEMBERS_WRITE, Perm.SERVICE_AGENT, Perm.SERVICE_READ}
    ),
    Role.ANALYST: frozenset(
        _READ | {Perm.CONSOLE, Perm.JOBS_READ, Perm.PLANNING_READ, Perm.SERVICE_READ, Perm.ANALYTICS_READ}
    ),
    # Machines: read the catalog and stock, hold stock and push orders for their channel. No console.
    Role.INTEGRATOR: frozenset(
        _READ
        | {
            Perm.INVENTORY_RESERVE,
            Perm.ORDERS_CAPTURE,
            Perm.MEMBERS_WRITE,
            Perm.POINTS_WRITE,
            Perm.SERVICE_CHAT,
            Perm.EVENTS_WRITE,
        }
    ),
    Role.CHAT_WIDGET: frozenset({Perm.SERVICE_CHAT}),
    Role.TOUCHPOINT: frozenset({Perm.EVENTS_WRITE}),
}

# Roles whose every store-owned query is limited to the stores assigned to them.
STORE_SCOPED_ROLES = frozenset({Role.STORE_MANAGER, Role.GUIDE})
# A guide works in exactly one store; a store manager may run several.
SINGLE_STORE_ROLES = frozenset({Role.GUIDE})


def permissions_for(role: Role) -> frozenset[Perm]:
    return ROLE_PERMISSIONS[role]
