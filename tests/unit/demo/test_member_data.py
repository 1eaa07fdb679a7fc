"""The demo's members as plain data: fragmentation, noise and ground truth (no database)."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import date

import pytest

from zhongtai.demo.member_data import (
    COLUMNS,
    STRONG_COLUMNS,
    MemberFile,
    demo_member_file,
    generate_member_records,
    member_file,
    member_observations,
)
from zhongtai.demo.order_history import OrderHistory, build_order_history
from zhongtai.demo.plan import DemoPlan, build_demo_plan
from zhongtai.members.identifiers import MAX_PARTNERS, IdKind, key, normalise, parse_identifiers

SEED = 7
TODAY = date(2026, 11, 22)


@pytest.fixture(scope="module")
def population() -> MemberFile:
    return member_file(SEED, 3000)


@pytest.fixture(scope="module")
def plan() -> DemoPlan:
    return build_demo_plan(SEED, "small")


@pytest.fixture(scope="module")
def history(plan: DemoPlan) -> OrderHistory:
    return build_order_history(SEED, plan.catalog, plan.network, plan.stock, TODAY)


@pytest.fixture(scope="module")
def demo(plan: DemoPlan, history: OrderHistory) -> MemberFile:
    return demo_member_file(history, plan.network.stores)


def normalised_keys(record_identifiers: list[tuple[str, str, str]]) -> list[str]:
    idents, problems = parse_identifiers(record_identifiers)
    assert problems == []
    return [i.key for i in idents]


def test_the_same_seed_gives_the_same_records_and_truth() -> None:
    # given two runs with one seed and one with another
    a = generate_member_records(SEED, 400)
    b = generate_member_records(SEED, 400)
    c = generate_member_records(SEED + 1, 400)

    # then the first two agree to the character, the third differs
    assert a == b
    assert a[0] != c[0]


def test_rows_have_the_columns_and_the_truth_names_every_record() -> None:
    rows, truth = generate_member_records(SEED, 500)

    assert all(tuple(row) == COLUMNS for row in rows)
    ids = [row["record_id"] for row in rows]
    assert len(set(ids)) == len(ids)
    assert set(truth) == set(ids)
    # every person of the population has at least one record
    assert len(set(truth.values())) == 500
    # birthdays are ISO dates
    assert all(date.fromisoformat(row["birthday"]) for row in rows if row["birthday"])


def test_people_are_fragmented_across_channels(population: MemberFile) -> None:
    enrolments = [r for r in population.records if r.source != "order"]
    per_person = Counter(r.person_id for r in enrolments)
    channels: dict[str, set[str]] = defaultdict(set)
    for r in enrolments:
        channels[r.person_id].add(r.channel)

    # then most people have two or more records, on two or more channels, and every channel is used
    assert 1.6 <= statistics.mean(per_person.values()) <= 2.6
    assert max(per_person.values()) >= 4
    assert 0.5 <= sum(1 for c in channels.values() if len(c) >= 2) / len(channels) <= 0.85
    assert {r.channel for r in enrolments} == {"pos", "miniapp", "web", "jd", "tmall"}
    # each channel keeps its own identifier
    for r in enrolments:
        own = {"pos": r.card, "miniapp": r.unionid, "web": r.email, "jd": r.jd_pin, "tmall": r.tmall_uid}
        assert own[r.channel], r


def test_orders_add_their_buyers_as_records(population: MemberFile) -> None:
    orders = [r for r in population.records if r.source == "order"]
    people = {p.id: p for p in population.persons}

    # then most people who joined a channel bought there, and an order record carries exactly the
    # identifiers its channel gives, with the buyer's own name
    assert 0.3 * len(population.records) <= len(orders) <= 0.6 * len(population.records)
    assert {r.channel for r in orders} == {"pos", "miniapp", "web", "jd", "tmall", "meituan"}
    for r in orders:
        p = people[r.person_id]
        assert r.record_id.startswith("order-")
        assert r.full_name == p.name
        kinds = {kind for kind, _value, _app in r.identifiers()}
        assert kinds <= {"phone", "email", "unionid", "jd_pin", "tmall_uid"}
        assert {"jd": {"jd_pin"}, "tmall": {"tmall_uid"}}.get(r.channel, {"phone"}) <= kinds
    _rows, truth = generate_member_records(SEED, 300, orders=False)
    assert not any(rid.startswith("order-") for rid in truth)


def test_records_carry_realistic_noise(population: MemberFile) -> None:
    noise = Counter(n for r in population.records for n in r.noise)
    records = len(population.records)

    # then typos, pinyin spellings, swapped birthdays, second phones, family deliveries and second
    # cards all occur, none of them dominating
    for kind in ("typo", "pinyin", "birthday_swap", "phone2", "family_name", "second_card", "phone_typo"):
        assert 0 < noise[kind] < 0.1 * records, kind
    people = {p.id: p for p in population.persons}
    typo = next(r for r in population.records if "typo" in r.noise)
    assert typo.full_name != people[typo.person_id].name
    assert len(typo.full_name) == len(people[typo.person_id].name)
    spelled = next(r for r in population.records if "pinyin" in r.noise)
    assert spelled.full_name.replace(" ", "").isascii()
    swapped = next(r for r in population.records if "birthday_swap" in r.noise)
    true = people[swapped.person_id].birthday
    assert swapped.birthday == date(true.year, true.day, true.month).isoformat()


def test_store_phones_are_typed_for_many_people_and_exceed_the_guard_rail(population: MemberFile) -> None:
    # given the records that carry a store's phone
    assert len(population.store_phones) >= 2
    for phone in population.store_phones:
        typed = [r for r in population.records if r.phone == phone]

        # then each is on store cards of more different people than the guard rail allows
        assert all(r.channel == "pos" and "store_phone" in r.noise for r in typed)
        assert len({r.person_id for r in typed}) > MAX_PARTNERS[IdKind.PHONE] + 1
        assert len({r.card for r in typed}) == len(typed)


def test_every_strong_identifier_is_valid_and_only_noise_crosses_people(population: MemberFile) -> None:
    # given every strong identifier of every record, normalised
    owners: dict[str, set[str]] = defaultdict(set)
    for r in population.records:
        for k in normalised_keys(r.identifiers()):
            owners[k].add(r.person_id)
        for column in STRONG_COLUMNS:
            value = getattr(r, column)
            if value:
                normalise(column, value)

    # then an identifier belongs to one person, except store phones and a family member's phone on a
    # JD delivery (the honest errors of the data, which the guard rails and the matcher face)
    store = {key("phone", normalise("phone", p)) for p in population.store_phones}
    shared = {k for k, people in owners.items() if len(people) > 1}
    family = {
        key("phone", normalise("phone", r.phone))
        for r in population.records
        if "family_phone" in r.noise or "phone_typo" in r.noise
    }
    assert store <= shared
    assert shared <= store | family
    cards = [r.card for r in population.records if r.card]
    assert all(len(c) == 12 and c.startswith("89") for c in cards)


def test_families_share_an_address_but_no_identifier(population: MemberFile) -> None:
    households: dict[int, list[str]] = defaultdict(list)
    for p in population.persons:
        if p.household:
            households[p.household].append(p.id)
    assert len(households) >= 0.02 * len(population.persons)
    people = {p.id: p for p in population.persons}
    for ids in households.values():
        a, b = (people[i] for i in ids)
        assert a.address == b.address
        assert a.city == b.city
        assert len({a.phone, b.phone}) == 2
        assert len({a.unionid, b.unionid}) == 2
        assert len({a.jd_pin, b.jd_pin}) == 2


def test_demo_members_are_the_customers_of_the_orders(plan: DemoPlan, history: OrderHistory, demo: MemberFile) -> None:
    people = {p.customer_id: p for p in demo.persons}
    records: dict[str, list[str]] = defaultdict(list)
    for r in demo.records:
        records[r.person_id].append(r.channel)

    # then every person is a customer with the customer's phone and accounts
    for c in history.customers:
        p = people[c.id]
        assert (p.name, p.phone, p.jd_pin, p.tmall_uid, p.unionid) == (
            c.name,
            c.phone,
            c.jd_pin,
            c.tmall_uid,
            c.unionid,
        )

    # and whoever bought on a channel has that channel's record; identified store buyers a card
    for o in history.orders:
        if o.customer_id is not None and o.channel_code != "meituan":
            assert o.channel_code in records[people[o.customer_id].id], o.number
    # every order with a known buyer points at an order record of that buyer
    by_id = {r.record_id: r for r in demo.records}
    known = {o.number: o.customer_id for o in history.orders if o.customer_id is not None}
    assert set(demo.order_record_of) == set(known)
    for number, customer_id in known.items():
        assert by_id[demo.order_record_of[number]].person_id == people[customer_id].id
    pos = [r for r in demo.records if r.channel == "pos" and r.source == "enrol"]
    stores = {s.code for s in plan.network.stores}
    assert all(r.store_code in stores and r.enrolled_at is not None for r in pos)
    assert all(r.enrolled_at is not None and r.enrolled_at < history.cutoff for r in pos)
    # store phones are typed at particular stores
    at_store = Counter(r.store_code for r in pos if "store_phone" in r.noise)
    assert len(at_store) <= len(demo.store_phones)


def test_order_observations_carry_the_buyers_identifiers(history: OrderHistory, demo: MemberFile) -> None:
    observations = member_observations(history)
    people = {p.customer_id: p for p in demo.persons}

    # then every order with a known buyer is observed, with the identifiers its channel gives
    assert len(observations) == sum(1 for o in history.orders if o.customer_id is not None)
    for obs in observations:
        assert obs.customer_id is not None
        p = people[obs.customer_id]
        kinds = {kind: value for kind, value, _app in obs.identifiers}
        expected = {
            "jd": {"jd_pin": p.jd_pin},
            "tmall": {"tmall_uid": p.tmall_uid},
            "miniapp": {"phone": p.phone, "unionid": p.unionid},
        }.get(obs.channel_code, {"phone": p.phone})
        assert expected.items() <= kinds.items(), obs
        normalised_keys(list(obs.identifiers))
    # and the name the order was placed or delivered under (click & collect orders have none)
    named = sum(1 for obs in observations if obs.attributes.get("full_name"))
    assert named >= 0.9 * len(observations)
