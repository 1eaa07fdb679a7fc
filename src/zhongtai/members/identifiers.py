"""Identifier kinds, their strength and validation, and the stitching guard rails.

Pure functions shared by the live service (``members.identity``) and the batch matcher
(``members.batch``), so both stitch the same way.

Strong identifiers (phone, e-mail, WeChat unionid and openid, member card, marketplace buyer ids,
device id) join records deterministically: two records sharing one are one person, unless the
identifier is quarantined. Weak attributes (names, birthday, address, city ...) only feed the
probabilistic matcher.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class IdKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    UNIONID = "unionid"
    OPENID = "openid"
    CARD = "card"
    JD_PIN = "jd_pin"
    TMALL_UID = "tmall_uid"
    DEVICE = "device"


class WeakKind(StrEnum):
    """Weak attributes, as the batch matcher's ``--attr COL=KIND`` names them."""

    GIVEN_NAME = "given_name"
    SURNAME = "surname"
    FULL_NAME = "full_name"
    BIRTHDAY = "birthday"
    ID_NUMBER = "id_number"
    ADDRESS = "address"
    STREET_NUMBER = "street_number"
    CITY = "city"
    POSTCODE = "postcode"
    STATE = "state"


STRONG_KINDS = frozenset(IdKind)

# Guard rails. A person rarely has more than this many identifiers of one kind; an identifier seen
# with more distinct partners of one kind than this is shared by several people (a store's own
# phone typed at the till, a family iPad, a reseller's JD account) and is quarantined: kept, shown,
# never used to link.
MAX_PARTNERS: dict[IdKind, int] = {
    IdKind.PHONE: 3,
    IdKind.EMAIL: 3,
    IdKind.UNIONID: 2,
    IdKind.OPENID: 3,
    IdKind.CARD: 3,
    IdKind.JD_PIN: 3,
    IdKind.TMALL_UID: 3,
    IdKind.DEVICE: 4,
}
# A member whose component would exceed this many strong identifiers is not grown automatically:
# the link goes to the review queue.
MAX_COMPONENT_IDENTIFIERS = 24

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_EMAIL = re.compile(r"^[a-z0-9._%+\-]+@[a-z0-9\-]+(\.[a-z0-9\-]+)+$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{6,64}$")
_CARD = re.compile(r"^[A-Za-z0-9\-]{4,32}$")


class InvalidIdentifier(ValueError):
    """The value is not a valid identifier of its kind; the message says why (in English)."""


def _clean(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def normalise_phone(raw: str, default_country: str = "86") -> str:
    """E.164. Chinese mobiles may come as 13812345678, 138-1234-5678, +86 138 1234 5678, 0086...,
    86-138...; other countries need their + prefix."""
    s = _clean(raw)
    plus = s.startswith("+")
    digits = re.sub(r"[\s\-().]", "", s.lstrip("+"))
    if not digits.isdigit():
        raise InvalidIdentifier("a phone number has digits, spaces, dashes and an optional leading +")
    if not plus and digits.startswith("00"):
        digits, plus = digits[2:], True
    if plus or (digits.startswith(default_country) and len(digits) == 13):
        country_local = digits
        if country_local.startswith("86"):
            local = country_local[2:]
            if not _MOBILE.match(local):
                raise InvalidIdentifier("not a mainland China mobile number (1[3-9] and 9 more digits)")
            return "+86" + local
        if not 8 <= len(country_local) <= 15:
            raise InvalidIdentifier("an international number has 8 to 15 digits")
        return "+" + country_local
    if default_country == "86":
        if not _MOBILE.match(digits):
            raise InvalidIdentifier("not a mainland China mobile number (1[3-9] and 9 more digits)")
        return "+86" + digits
    if not 6 <= len(digits) <= 13:
        raise InvalidIdentifier("a national number has 6 to 13 digits")
    return "+" + default_country + digits.lstrip("0")


def normalise_email(raw: str) -> str:
    s = _clean(raw).lower()
    if len(s) > 128 or not _EMAIL.match(s):
        raise InvalidIdentifier("not an e-mail address")
    return s


def normalise(kind: IdKind | str, raw: str, *, default_country: str = "86") -> str:
    """The canonical form of a strong identifier, or InvalidIdentifier."""
    kind = IdKind(kind)
    if raw is None or not str(raw).strip():
        raise InvalidIdentifier("empty")
    raw = str(raw)
    if kind is IdKind.PHONE:
        return normalise_phone(raw, default_country)
    if kind is IdKind.EMAIL:
        return normalise_email(raw)
    s = _clean(raw)
    if kind in (IdKind.UNIONID, IdKind.OPENID):
        if not _TOKEN.match(s):
            raise InvalidIdentifier("a WeChat id has 6 to 64 letters, digits, _ or -")
        return s
    if kind is IdKind.CARD:
        if not _CARD.match(s):
            raise InvalidIdentifier("a card number has 4 to 32 letters, digits or -")
        return s.upper()
    if len(s) > 128:
        raise InvalidIdentifier("longer than 128 characters")
    # Marketplace buyer ids (JD pin, Tmall uid / nick) and device ids compare case-insensitively.
    return s.lower()


def key(kind: str, value: str, app: str = "") -> str:
    """One string per graph node, e.g. ``phone:+8613812345678`` or ``openid@miniapp:oAbc...``."""
    return f"{kind}@{app}:{value}" if app else f"{kind}:{value}"


@dataclass(frozen=True, slots=True)
class IdentifierIn:
    kind: IdKind
    value: str
    app: str = ""

    @property
    def key(self) -> str:
        return key(self.kind, self.value, self.app)


def parse_identifiers(
    items: list[tuple[str, str, str]], *, default_country: str = "86"
) -> tuple[list[IdentifierIn], list[tuple[int, str]]]:
    """(kind, value, app) triples -> normalised identifiers (deduplicated, in order) and the
    problems as (index, message)."""
    out: dict[str, IdentifierIn] = {}
    problems: list[tuple[int, str]] = []
    for i, (kind, value, app) in enumerate(items):
        try:
            k = IdKind(kind)
        except ValueError:
            problems.append((i, f"unknown identifier kind {kind!r}"))
            continue
        try:
            ident = IdentifierIn(k, normalise(k, value, default_country=default_country), app or "")
        except InvalidIdentifier as exc:
            problems.append((i, str(exc)))
            continue
        if k is IdKind.OPENID and not ident.app:
            problems.append((i, "an openid needs the app it belongs to"))
            continue
        out.setdefault(ident.key, ident)
    return list(out.values()), problems


def over_partner_cap(partners: dict[str, int]) -> bool:
    """Whether an identifier with these distinct partner counts per kind is shared by several people."""
    return any(count > MAX_PARTNERS.get(IdKind(kind), 3) for kind, count in partners.items())


def parse_birthday(raw: str) -> date | None:
    """Dates as people type them: 1990-05-17, 1990/5/17, 19900517, 1990年5月17日."""
    s = re.sub(r"[年月/.]", "-", _clean(str(raw))).rstrip("日").strip()
    if re.fullmatch(r"\d{8}", s):
        s = f"{s[:4]}-{s[4:6]}-{s[6:]}"
    try:
        y, m, d = (int(p) for p in s.split("-"))
        return date(y, m, d)
    except (ValueError, TypeError):
        return None
