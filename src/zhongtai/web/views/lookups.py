"""Small look-ups several pages share (store choices, location names), through the services."""

from __future__ import annotations

from zhongtai.auth.principal import Principal
from zhongtai.inventory import service as inventory_service
from zhongtai.inventory.schemas import LocationOut
from zhongtai.web.page import PageContext

# Locations are a network of DCs and stores: hundreds, not millions. Past this the pages that
# list every location (filters, the map) show the first ones; a paged picker would be the fix.
MAX_LOCATIONS = 2000


def visible_locations(
    ctx: PageContext, principal: Principal | None = None, *, type: str | None = None
) -> list[LocationOut]:
    """Every location the principal may see (a store manager: their stores), by id."""
    who = principal or ctx.principal
    out: list[LocationOut] = []
    cursor: str | None = None
    while len(out) < MAX_LOCATIONS:
        page = inventory_service.list_locations(ctx.session, who, type=type, cursor=cursor, limit=500)
        out.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    return out


def store_choices(ctx: PageContext) -> list[tuple[int, str]]:
    """(id, name) of every store, for giving users their store scope (admins see them all)."""
    return [(loc.id, f"{ctx.name_of(loc)} ({loc.code})") for loc in visible_locations(ctx, type="store")]


def scope_names(ctx: PageContext) -> list[str]:
    """Names of the stores a store-scoped person works in, for the top bar."""
    return [ctx.name_of(loc) for loc in visible_locations(ctx)]
