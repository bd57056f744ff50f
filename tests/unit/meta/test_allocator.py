"""The allocator: quota (guarantee, limit, headroom), weighted DRF order, placement, preemption.

Example tests pin each rule with a small cluster; the property tests at the end check the
invariants on random clusters with an independent checker (not the allocator's own code).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operators.meta.allocator import (
    FIELD_LABELS,
    RESOURCE_NAMES,
    Admit,
    Allocation,
    Claim,
    Constraint,
    Node,
    Pending,
    PodSet,
    Pool,
    Preempt,
    Selector,
    Taint,
    Tenant,
    Toleration,
    allocate,
    describe,
    format_amount,
    parse_amounts,
    to_base_units,
)

G = 1 << 30
ZONE = "topology.kubernetes.io/zone"


# ---------------------------------------------------------------------------------------------
# Builders

def node(name: str, cpu: float = 8, memory: int = 32, pods: int = 110, zone: str | None = None,
         labels: Mapping[str, str] | None = None, taints: Sequence[Taint] = (),
         used: Mapping[str, int] | None = None, unschedulable: bool = False) -> Node:
    all_labels = dict(labels or {})
    if zone:
        all_labels[ZONE] = zone
    return Node(name, {"cpu": int(cpu * 1000), "memory": memory * G, "pods": pods}, all_labels,
                tuple(taints), dict(used or {}), unschedulable)


def pod_set(count: int = 1, cpu: float = 1, memory: float = 1, *, name: str = "main",
            min_count: int | None = None, pool: str | None = None,
            constraints: Sequence[tuple[str, ...]] = ()) -> PodSet:
    return PodSet(name, count, {"cpu": int(cpu * 1000), "memory": int(memory * G)}, min_count, pool,
                  tuple(Constraint(*c) for c in constraints))


_order = iter(range(10**6))


def claim(key: str, tenant: str = "a", *pod_sets: PodSet, priority: int = 0, preemptible: bool = False,
          created: str | None = None, admission: Mapping[str, Mapping[str, int]] | None = None) -> Claim:
    created = created or f"2024-01-01T00:{next(_order) // 60 % 60:02d}:{next(_order) % 60:02d}Z"
    return Claim(key, tenant, tuple(pod_sets) or (pod_set(),), priority, preemptible, created, admission)


def cores(n: float) -> int:
    return int(n * 1000)


def decision(result: Allocation, key: str):
    found = result.for_claim(key)
    assert found is not None, f"no decision for {key}"
    return found


def admitted_pods(result: Allocation, key: str) -> dict[str, int]:
    d = decision(result, key)
    assert isinstance(d, Admit), d
    return {p.name: p.count for p in d.pod_sets}


def nodes_of(result: Allocation, key: str, pod_set_name: str = "main") -> dict[str, int]:
    d = decision(result, key)
    assert isinstance(d, Admit), d
    return dict(next(p for p in d.pod_sets if p.name == pod_set_name).nodes)


def as_admitted(c: Claim, d: Admit) -> Claim:
    return Claim(c.key, c.tenant, c.pod_sets, c.priority, c.preemptible, c.created,
                 {p.name: dict(p.nodes) for p in d.pod_sets})


# ---------------------------------------------------------------------------------------------
# Resources

def test_quantities_become_base_units():
    assert to_base_units("cpu", "500m") == 500
    assert to_base_units("cpu", "2") == 2000
    assert to_base_units("cpu", "0.1m") == 1  # rounded up, never down to nothing
    assert to_base_units("memory", "1.5Gi") == 3 * (1 << 29)
    assert parse_amounts({"storage": "100Gi", "pods": 3}) == {"storage": 100 * G, "pods": 3}
    assert format_amount("cpu", 1500) == "1500m"
    assert format_amount("cpu", 4000) == "4"
    assert format_amount("memory", 16 * G) == "16Gi"
    assert describe((4000, 16 * G, 0, 0, 1)) == "4 CPU, 16Gi memory"


@pytest.mark.parametrize(("resource", "quantity", "match"), [
    ("gpu", "1", "unknown resource 'gpu'"),
    ("cpu", "-1", "negative"),
    ("memory", "lots", None),
])
def test_bad_quantities_are_refused(resource, quantity, match):
    with pytest.raises(ValueError, match=match):
        to_base_units(resource, quantity)


# ---------------------------------------------------------------------------------------------
# Admission: counts, gangs, capacity

def test_a_claim_that_fits_is_admitted_on_nodes_with_room():
    result = allocate([node("n1", cpu=4), node("n2", cpu=4)], [Tenant("a")],
                      [claim("ns/c", "a", pod_set(count=6, cpu=1))])
    placed = nodes_of(result, "ns/c")
    assert sum(placed.values()) == 6
    assert all(pods <= 4 for pods in placed.values())
    assert result.tenants["a"].usage == {"cpu": cores(6), "memory": 6 * G, "pods": 6}


def test_as_many_pods_as_fit_but_never_fewer_than_min_count():
    nodes = [node("n1", cpu=5)]
    some = allocate(nodes, [Tenant("a")], [claim("ns/c", "a", pod_set(count=10, min_count=3, cpu=1))])
    assert admitted_pods(some, "ns/c") == {"main": 5}
    none = allocate(nodes, [Tenant("a")], [claim("ns/c", "a", pod_set(count=10, min_count=6, cpu=1))])
    assert isinstance(decision(none, "ns/c"), Pending)
    assert decision(none, "ns/c").reason == "Unschedulable"


def test_a_gang_over_pod_sets_is_all_or_nothing_and_leaves_nodes_untouched():
    nodes = [node("n1", cpu=4)]
    claims = [
        claim("ns/gang", "a", pod_set(2, cpu=1, name="driver"), pod_set(3, cpu=1, name="executor"),
              created="2024-01-01T00:00:00Z"),
        claim("ns/next", "a", pod_set(4, cpu=1), created="2024-01-01T00:00:01Z"),
    ]
    result = allocate(nodes, [Tenant("a")], claims)
    gang = decision(result, "ns/gang")
    assert isinstance(gang, Pending) and gang.message.startswith("the cluster has 4 CPU free")
    assert admitted_pods(result, "ns/next") == {"main": 4}


def test_a_gang_that_fits_in_aggregate_but_not_on_nodes_waits_and_frees_its_tentative_pods():
    nodes = [node("n1", cpu=3), node("n2", cpu=3)]
    claims = [
        claim("ns/gang", "a", pod_set(3, cpu=2, name="big"), created="2024-01-01T00:00:00Z"),
        claim("ns/small", "a", pod_set(6, cpu=1), created="2024-01-01T00:00:01Z"),
    ]
    result = allocate(nodes, [Tenant("a")], claims)
    gang = decision(result, "ns/gang")
    assert gang.reason == "Unschedulable"
    assert "pod set big: needs room for 3 pods of 2 CPU, 1Gi memory; room for 2 on 2 nodes (n1, n2)" \
        in gang.message
    assert admitted_pods(result, "ns/small") == {"main": 6}


def test_admitted_claims_and_pods_outside_claims_hold_node_capacity():
    nodes = [node("n1", cpu=4, used={"cpu": cores(1)}), node("n2", cpu=4)]
    running = claim("ns/old", "a", pod_set(4, cpu=1), admission={"main": {"n2": 4}})
    result = allocate(nodes, [Tenant("a")], [running, claim("ns/new", "a", pod_set(4, cpu=1, min_count=1))])
    assert nodes_of(result, "ns/new") == {"n1": 3}
    assert result.tenants["a"].usage["cpu"] == cores(7)
    assert result.tenants["a"].admitted == 2


def test_a_claim_of_an_unknown_tenant_waits_for_it():
    result = allocate([node("n1")], [Tenant("a")], [claim("ns/c", "ghost")])
    assert decision(result, "ns/c") == Pending("ns/c", "TenantNotFound", "tenant ghost does not exist")


# ---------------------------------------------------------------------------------------------
# Quota: limits, guarantees, headroom, borrowing

def test_a_claim_above_its_tenant_limit_alone_exceeds_the_limit():
    result = allocate([node("n1", cpu=64)], [Tenant("a", limit={"cpu": cores(8)})],
                      [claim("ns/c", "a", pod_set(3, cpu=4))])
    d = decision(result, "ns/c")
    assert d.reason == "ExceedsLimit"
    assert d.message == "its minimum of 3 pods needs 12 CPU, more than tenant a's limit of 8 CPU"


def test_a_tenant_at_its_limit_waits_for_quota():
    running = claim("ns/old", "a", pod_set(2, cpu=3), admission={"main": {"n1": 2}})
    result = allocate([node("n1", cpu=64)], [Tenant("a", limit={"cpu": cores(8)})],
                      [running, claim("ns/new", "a", pod_set(1, cpu=4))])
    d = decision(result, "ns/new")
    assert d.reason == "WaitingForQuota"
    assert d.message == "tenant a uses 6 of its 8 CPU limit; the claim needs 4 more"


def test_extra_pods_stop_at_the_limit():
    result = allocate([node("n1", cpu=64)], [Tenant("a", limit={"cpu": cores(10)})],
                      [claim("ns/c", "a", pod_set(8, cpu=3, min_count=1))])
    assert admitted_pods(result, "ns/c") == {"main": 3}


def test_a_tenant_bursts_above_its_guarantee_up_to_its_limit_while_capacity_is_free():
    tenants = [Tenant("a", guarantee={"cpu": cores(4)}, limit={"cpu": cores(12)})]
    result = allocate([node("n1", cpu=32)], tenants, [claim("ns/c", "a", pod_set(16, cpu=1, min_count=1))])
    d = decision(result, "ns/c")
    assert d.pod_sets[0].count == 12 and d.borrowing
    usage = result.tenants["a"]
    assert usage.guaranteed == {"cpu": cores(4)}
    assert usage.borrowed == {"cpu": cores(8)}


def test_borrowing_leaves_headroom_for_another_tenants_unmet_guarantee():
    tenants = [Tenant("guaranteed", guarantee={"cpu": cores(8)}), Tenant("batch")]
    burst = claim("ns/batch", "batch", pod_set(16, cpu=1, min_count=1), created="2024-01-01T00:00:00Z")
    first = allocate([node("n1", cpu=16)], tenants, [burst])
    assert admitted_pods(first, "ns/batch") == {"main": 8}
    assert not first.for_claim("ns/batch").message.startswith("admitted main: 16")
    # Later the guaranteed tenant asks for its guarantee: it is there.
    later = allocate([node("n1", cpu=16)], tenants,
                     [as_admitted(burst, first.for_claim("ns/batch")),
                      claim("ns/kafka", "guaranteed", pod_set(8, cpu=1))])
    assert admitted_pods(later, "ns/kafka") == {"main": 8}
    assert not later.for_claim("ns/kafka").borrowing


def test_a_borrower_waits_for_quota_with_the_unmet_guarantees_named():
    tenants = [Tenant("kafka", guarantee={"cpu": cores(12)}), Tenant("batch")]
    result = allocate([node("n1", cpu=16)], tenants, [claim("ns/b", "batch", pod_set(1, cpu=6))])
    d = decision(result, "ns/b")
    assert d.reason == "WaitingForQuota"
    assert d.message == ("the cluster has 16 CPU free and keeps 12 for unmet guarantees (kafka: 12); "
                         "the claim needs 6 CPU")


def test_a_resource_the_guarantee_does_not_name_is_not_guaranteed():
    # "a" guarantees only CPU; its memory use is not protected and must leave room for b's memory guarantee.
    tenants = [Tenant("a", guarantee={"cpu": cores(8)}), Tenant("b", guarantee={"memory": 24 * G})]
    result = allocate([node("n1", cpu=16, memory=32)], tenants,
                      [claim("ns/a", "a", pod_set(4, cpu=1, memory=4, min_count=1))])
    assert admitted_pods(result, "ns/a") == {"main": 2}  # 8Gi of memory is all that is not kept for b


def test_a_parent_limit_caps_its_children_together():
    tenants = [Tenant("org", limit={"cpu": cores(10)}), Tenant("t1", parent="org"),
               Tenant("t2", parent="org")]
    claims = [claim("ns/1", "t1", pod_set(6, cpu=1), created="2024-01-01T00:00:00Z"),
              claim("ns/2", "t2", pod_set(6, cpu=1), created="2024-01-01T00:00:01Z")]
    result = allocate([node("n1", cpu=64)], tenants, claims)
    outcomes = sorted(type(d).__name__ for d in result.decisions)
    assert outcomes == ["Admit", "Pending"]
    pending = next(d for d in result.decisions if isinstance(d, Pending))
    assert "ancestor tenant org uses 6 of its 10 CPU limit" in pending.message
    assert result.tenants["org"].usage["cpu"] == cores(6)


def family() -> list[Tenant]:
    """org guarantees 8 CPU for its children t1 and t2, which guarantee 4 each; batch borrows."""
    four = {"cpu": cores(4)}
    return [Tenant("org", guarantee={"cpu": cores(8)}), Tenant("t1", parent="org", guarantee=four),
            Tenant("t2", parent="org", guarantee=four), Tenant("batch")]


def test_a_parent_guarantee_covers_its_children_headroom_once():
    # org guarantees 8 CPU for t1 and t2 together (each guarantees 4): 8 CPU are kept, not 16.
    tenants = family()
    result = allocate([node("n1", cpu=16)], tenants, [claim("ns/b", "batch", pod_set(16, min_count=1))])
    assert admitted_pods(result, "ns/b") == {"main": 8}


def test_a_parent_keeps_headroom_for_a_child_even_when_a_sibling_borrows():
    tenants = family()
    t1_running = claim("ns/t1", "t1", pod_set(6, cpu=1), admission={"main": {"n1": 6}})
    result = allocate([node("n1", cpu=16)], tenants,
                      [t1_running, claim("ns/b", "batch", pod_set(16, cpu=1, min_count=1))])
    # org's own unmet guarantee is 2, but t2 still needs its 4: batch gets 16 - 6 - 4.
    assert admitted_pods(result, "ns/b") == {"main": 6}


@pytest.mark.parametrize(("tenants", "match"), [
    ([Tenant("a", parent="b"), Tenant("b", parent="a")], "cycle"),
    ([Tenant("a", parent="nobody")], "parent nobody does not exist"),
    ([Tenant("a"), Tenant("a")], "given twice"),
    ([Tenant("a", weight=0)], "weight must be >= 1"),
    ([Tenant("a", limit={"gpu": 1})], "unknown resources"),
])
def test_inconsistent_tenants_are_refused(tenants, match):
    with pytest.raises(ValueError, match=match):
        allocate([node("n1")], tenants, [])


# ---------------------------------------------------------------------------------------------
# Order: guarantee first, weighted DRF between tenants, priority then FIFO within a tenant

def test_tenants_share_by_dominant_share():
    claims = [claim(f"{t}/{i}", t, pod_set(1, cpu=1)) for t in ("a", "b") for i in range(10)]
    result = allocate([node("n1", cpu=10)], [Tenant("a"), Tenant("b")], claims)
    assert result.tenants["a"].usage["pods"] == 5 and result.tenants["b"].usage["pods"] == 5


def test_weights_divide_the_share():
    claims = [claim(f"{t}/{i}", t, pod_set(1, cpu=1)) for t in ("a", "b") for i in range(12)]
    result = allocate([node("n1", cpu=9)], [Tenant("a", weight=2), Tenant("b")], claims)
    assert result.tenants["a"].usage["pods"] == 6 and result.tenants["b"].usage["pods"] == 3


def test_dominant_resource_decides_the_share():
    # a's pods are CPU-heavy, b's memory-heavy; DRF equalises each tenant's dominant share.
    claims = ([claim(f"a/{i}", "a", pod_set(1, cpu=2, memory=1)) for i in range(20)]
              + [claim(f"b/{i}", "b", pod_set(1, cpu=0.5, memory=8)) for i in range(20)])
    result = allocate([node("n1", cpu=20, memory=80)], [Tenant("a"), Tenant("b")], claims)
    a, b = result.tenants["a"], result.tenants["b"]
    assert a.dominant_resource == "cpu" and b.dominant_resource == "memory"
    assert abs(a.dominant_share - b.dominant_share) <= 0.1 + 1e-9  # within one claim of each other


def test_claims_within_guarantee_go_before_borrowers_with_a_lower_share():
    tenants = [Tenant("kafka", guarantee={"cpu": cores(4), "memory": 8 * G, "pods": 4}), Tenant("batch")]
    running = claim("ns/k0", "kafka", pod_set(2, cpu=2), admission={"main": {"n1": 2}})
    claims = [running, claim("ns/b", "batch", pod_set(1, cpu=1)), claim("ns/k1", "kafka", pod_set(1, cpu=1))]
    result = allocate([node("n1", cpu=32)], tenants, claims)
    assert [d.claim for d in result.decisions] == ["ns/b", "ns/k1"]  # k1 would borrow: kafka already uses 4
    tenants[0] = Tenant("kafka", guarantee={"cpu": cores(8), "memory": 8 * G, "pods": 4})
    result = allocate([node("n1", cpu=32)], tenants, claims)
    assert [d.claim for d in result.decisions] == ["ns/k1", "ns/b"]  # within guarantee, despite its share


def test_within_a_tenant_higher_priority_first_then_older_first():
    claims = [claim("ns/old-low", "a", priority=1, created="2024-01-01T00:00:00Z"),
              claim("ns/new-high", "a", priority=5, created="2024-01-01T00:00:09Z"),
              claim("ns/old-high", "a", priority=5, created="2024-01-01T00:00:01Z")]
    result = allocate([node("n1")], [Tenant("a")], claims)
    assert [d.claim for d in result.decisions] == ["ns/old-high", "ns/new-high", "ns/old-low"]


def test_a_claim_that_cannot_fit_does_not_block_the_next_one():
    claims = [claim("ns/huge", "a", pod_set(1, cpu=100), created="2024-01-01T00:00:00Z"),
              claim("ns/small", "a", pod_set(1, cpu=1), created="2024-01-01T00:00:01Z")]
    result = allocate([node("n1")], [Tenant("a")], claims)
    assert isinstance(decision(result, "ns/huge"), Pending)
    assert isinstance(decision(result, "ns/small"), Admit)


# ---------------------------------------------------------------------------------------------
# Placement constraints (Marathon operators)

def zoned(count: int = 6, zones: Sequence[str] = ("a", "b", "c"), **kwargs) -> list[Node]:
    return [node(f"n{i}", zone=zones[i % len(zones)], **kwargs) for i in range(count)]


def zones_of(nodes: Sequence[Node], placed: Mapping[str, int]) -> Counter:
    by_name = {n.name: n for n in nodes}
    counts: Counter = Counter()
    for name, pods in placed.items():
        counts[by_name[name].labels.get(ZONE)] += pods
    return counts


def test_unique_hostname_puts_each_pod_on_its_own_node():
    nodes = zoned(4)
    result = allocate(nodes, [Tenant("a")], [
        claim("ns/c", "a", pod_set(4, constraints=[("@hostname", "UNIQUE")]))])
    assert sorted(nodes_of(result, "ns/c").values()) == [1, 1, 1, 1]


def test_unique_hostname_failure_names_the_hosts_available():
    nodes = [node("n1", labels={"disk": "ssd"}), node("n2", labels={"disk": "hdd"}),
             node("n3", cpu=2, labels={"disk": "ssd"}), node("n4", labels={"disk": "ssd"})]
    pools = [Pool("ssd", Selector({"disk": "ssd"}))]
    ps = pod_set(3, cpu=4, memory=16, pool="ssd", constraints=[("@hostname", "UNIQUE")])
    result = allocate(nodes, [Tenant("a")], [claim("ns/kafka", "a", ps)], pools)
    d = decision(result, "ns/kafka")
    assert d.reason == "Unschedulable"
    assert d.message == ("pod set main: needs 3 distinct hosts with 4 CPU, 16Gi memory free in pool ssd; "
                         "2 available (n1, n4)")


def test_group_by_zone_spreads_pods_evenly():
    nodes = zoned(6)
    result = allocate(nodes, [Tenant("a")],
                      [claim("ns/c", "a", pod_set(7, constraints=[("@zone", "GROUP_BY", "3")]))])
    assert sorted(zones_of(nodes, nodes_of(result, "ns/c")).values()) == [2, 2, 3]


def test_group_by_needs_as_many_zones_as_it_names():
    nodes = zoned(4, zones=("a", "b"))
    result = allocate(nodes, [Tenant("a")],
                      [claim("ns/c", "a", pod_set(3, constraints=[("@zone", "GROUP_BY", "3")]))])
    d = decision(result, "ns/c")
    assert d.reason == "Unschedulable"
    assert "spread over 3 values of @zone (1 each); 2 values have room: a: 16, b: 16" in d.message


def test_group_by_chooses_the_zones_with_room():
    nodes = [node("a1", cpu=1, zone="a"), node("b1", cpu=4, zone="b"), node("c1", cpu=4, zone="c"),
             node("d1", cpu=4, zone="d")]
    result = allocate(nodes, [Tenant("a")],
                      [claim("ns/c", "a", pod_set(6, cpu=1, constraints=[("@zone", "GROUP_BY", "3")]))])
    assert zones_of(nodes, nodes_of(result, "ns/c")) == {"b": 2, "c": 2, "d": 2}


def test_group_by_with_extra_pods_admits_the_largest_even_spread():
    nodes = [node("a1", cpu=2, zone="a"), node("b1", cpu=8, zone="b"), node("c1", cpu=8, zone="c")]
    result = allocate(nodes, [Tenant("a")], [claim("ns/c", "a", pod_set(
        9, cpu=1, min_count=3, constraints=[("@zone", "GROUP_BY", "3")]))])
    assert zones_of(nodes, nodes_of(result, "ns/c")) == {"a": 2, "b": 3, "c": 3}  # 9 would need 3 in a


def test_max_per_caps_pods_per_value():
    nodes = zoned(6)
    result = allocate(nodes, [Tenant("a")], [claim("ns/c", "a", pod_set(
        10, min_count=1, constraints=[("@zone", "MAX_PER", "2")]))])
    assert zones_of(nodes, nodes_of(result, "ns/c")) == {"a": 2, "b": 2, "c": 2}


def test_max_per_hostname_caps_pods_per_node():
    result = allocate([node("n1"), node("n2")], [Tenant("a")], [claim("ns/c", "a", pod_set(
        6, min_count=1, constraints=[("@hostname", "MAX_PER", "2")]))])
    assert nodes_of(result, "ns/c") == {"n1": 2, "n2": 2}


def test_cluster_without_value_keeps_every_pod_in_one_zone_that_fits():
    nodes = [node("a1", cpu=2, zone="a"), node("b1", cpu=4, zone="b"), node("b2", cpu=4, zone="b")]
    result = allocate(nodes, [Tenant("a")], [claim("ns/c", "a", pod_set(
        5, cpu=1, constraints=[("@zone", "CLUSTER")]))])
    assert zones_of(nodes, nodes_of(result, "ns/c")) == {"b": 5}


def test_cluster_with_value_and_is_pin_the_attribute():
    nodes = zoned(6)
    for op in ("CLUSTER", "IS"):
        pinned = claim("ns/c", "a", pod_set(4, constraints=[("@zone", op, "b")]))
        result = allocate(nodes, [Tenant("a")], [pinned])
        assert set(zones_of(nodes, nodes_of(result, "ns/c"))) == {"b"}


def test_like_matches_the_whole_value_and_unlike_matches_missing_attributes():
    nodes = [node("n1", labels={"disk": "ssd"}), node("n2", labels={"disk": "nvme-ssd"}), node("n3")]
    like = allocate(nodes, [Tenant("a")], [claim("ns/c", "a", pod_set(
        2, constraints=[("disk", "LIKE", "ssd"), ("@hostname", "UNIQUE")]))])
    assert isinstance(decision(like, "ns/c"), Pending)  # only n1 matches "ssd" as a whole
    unlike = allocate(nodes, [Tenant("a")], [claim("ns/c", "a", pod_set(
        2, constraints=[("disk", "UNLIKE", ".*ssd"), ("@hostname", "MAX_PER", "1")], min_count=1))])
    assert nodes_of(unlike, "ns/c") == {"n3": 1}


def test_a_node_without_the_attribute_fits_no_counting_constraint():
    nodes = [node("n1", zone="a"), node("n2")]
    result = allocate(nodes, [Tenant("a")], [
        claim("ns/c", "a", pod_set(2, constraints=[("@zone", "UNIQUE")]))])
    assert isinstance(decision(result, "ns/c"), Pending)


def test_region_and_label_fields_read_node_labels():
    nodes = [node("n1", labels={FIELD_LABELS["@region"]: "eu", "rack": "r1"}),
             node("n2", labels={FIELD_LABELS["@region"]: "us", "rack": "r2"})]
    result = allocate(nodes, [Tenant("a")], [claim("ns/c", "a", pod_set(
        1, constraints=[("@region", "IS", "us"), ("rack", "LIKE", "r[0-9]")]))])
    assert nodes_of(result, "ns/c") == {"n2": 1}


def test_constraints_that_no_node_satisfies_are_named():
    result = allocate([node("n1", zone="a")], [Tenant("a")],
                      [claim("ns/c", "a", pod_set(1, constraints=[("@zone", "IS", "z")]))])
    assert decision(result, "ns/c").message == "pod set main: no schedulable node satisfies @zone IS z"


@pytest.mark.parametrize(("args", "match"), [
    (("@zone", "GROUP_BY"), "needs a value"),
    (("@zone", "GROUP_BY", "three"), "positive integer"),
    (("@zone", "MAX_PER", "0"), "positive integer"),
    (("@hostname", "UNIQUE", "x"), "takes no value"),
    (("disk", "LIKE", "ssd("), "not a regular expression"),
    (("disk", "NEAR", "x"), "not one of"),
])
def test_bad_constraints_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        Constraint(*args)


def test_a_pod_set_takes_one_grouping_constraint_and_no_pods_request():
    with pytest.raises(ValueError, match="at most one GROUP_BY"):
        pod_set(3, constraints=[("@zone", "GROUP_BY", "3"), ("rack", "CLUSTER")])
    with pytest.raises(ValueError, match="'pods' is counted"):
        PodSet("p", 1, {"pods": 1})
    with pytest.raises(ValueError, match="minCount"):
        PodSet("p", 2, {}, min_count=3)


# ---------------------------------------------------------------------------------------------
# Pools, taints, cordons

def test_tainted_nodes_take_only_pods_of_a_pool_that_tolerates_them():
    taint = Taint("dedicated", "NoSchedule", "ssd")
    nodes = [node("ssd1", labels={"disk": "ssd"}, taints=[taint]), node("plain1")]
    pools = [Pool("ssd", Selector({"disk": "ssd"}), (Toleration("dedicated", "Equal", "ssd", "NoSchedule"),)),
             Pool("ssd-intolerant", Selector({"disk": "ssd"}))]
    result = allocate(nodes, [Tenant("a")], [
        claim("ns/any", "a", pod_set(8, cpu=1, min_count=1)),
        claim("ns/ssd", "a", pod_set(2, pool="ssd")),
        claim("ns/intolerant", "a", pod_set(1, pool="ssd-intolerant")),
    ], pools)
    assert set(nodes_of(result, "ns/any")) == {"plain1"}
    assert set(nodes_of(result, "ns/ssd")) == {"ssd1"}
    assert isinstance(decision(result, "ns/intolerant"), Pending)


def test_prefer_no_schedule_taints_and_exists_tolerations():
    nodes = [node("soft", taints=[Taint("spot", "PreferNoSchedule")]),
             node("hard", cpu=1, taints=[Taint("spot", "NoExecute", "true")])]
    pools = [Pool("any-taint", tolerations=(Toleration(operator="Exists"),))]
    result = allocate(nodes, [Tenant("a")], [claim("ns/a", "a", pod_set(1, cpu=1)),
                                            claim("ns/b", "a", pod_set(8, cpu=1, pool="any-taint"))], pools)
    assert set(nodes_of(result, "ns/a")) == {"soft"}
    assert set(nodes_of(result, "ns/b")) == {"soft", "hard"}


def test_cordoned_nodes_and_unknown_pools_are_not_used():
    result = allocate([node("n1", unschedulable=True)], [Tenant("a")],
                      [claim("ns/c", "a"), claim("ns/p", "a", pod_set(1, pool="gpu"))])
    assert decision(result, "ns/c").reason == "Unschedulable"
    assert decision(result, "ns/p").message == "pod set main: node pool gpu does not exist"


# ---------------------------------------------------------------------------------------------
# Preemption

GUARANTEED = {"cpu": cores(8), "memory": 64 * G, "pods": 20}


def full_cluster(*victims: Claim) -> tuple[list[Node], list[Claim]]:
    return [node("n1", cpu=8, memory=64)], list(victims)


def spark(key: str, cpu: float, *, tenant: str = "batch", priority: int = 0,
          created: str = "2024-01-01T00:00:00Z", preemptible: bool = True) -> Claim:
    """A running single-pod claim on n1."""
    return claim(key, tenant, pod_set(1, cpu=cpu), priority=priority, preemptible=preemptible,
                 created=created, admission={"main": {"n1": 1}})


def test_a_guaranteed_claim_preempts_a_borrower():
    nodes, running = full_cluster(spark("b/1", 4), spark("b/2", 4, preemptible=False))
    tenants = [Tenant("kafka", guarantee=GUARANTEED), Tenant("batch")]
    result = allocate(nodes, tenants, [*running, claim("k/1", "kafka", pod_set(1, cpu=4))])
    d = decision(result, "k/1")
    assert isinstance(d, Preempt) and d.victims == ("b/1",)
    assert "within tenant kafka's guarantee" in d.message


def test_no_preemption_when_the_preemptor_would_exceed_its_guarantee():
    nodes, running = full_cluster(spark("b/1", 4), spark("b/2", 4))
    tenants = [Tenant("kafka", guarantee={"cpu": cores(2), "memory": 64 * G, "pods": 20}), Tenant("batch")]
    result = allocate(nodes, tenants, [*running, claim("k/1", "kafka", pod_set(1, cpu=4))])
    assert isinstance(decision(result, "k/1"), Pending)
    assert result.victims == set()


def test_preemptible_claims_never_preempt():
    nodes, running = full_cluster(spark("b/1", 4), spark("b/2", 4))
    tenants = [Tenant("kafka", guarantee=GUARANTEED), Tenant("batch")]
    result = allocate(nodes, tenants, [*running, claim("k/1", "kafka", pod_set(1, cpu=4), preemptible=True)])
    assert isinstance(decision(result, "k/1"), Pending)


def test_victims_have_lower_or_equal_priority_as_the_policy_says():
    nodes, running = full_cluster(spark("b/hi", 4, priority=9), spark("b/eq", 4, priority=5))
    claims = [*running, claim("k/1", "kafka", pod_set(1, cpu=4), priority=5)]
    equal_ok = allocate(nodes, [Tenant("kafka", guarantee=GUARANTEED), Tenant("batch")], claims)
    assert decision(equal_ok, "k/1").victims == ("b/eq",)
    strict = allocate(nodes, [Tenant("kafka", guarantee=GUARANTEED, preemption_policy="LowerPriority"),
                              Tenant("batch")], claims)
    d = decision(strict, "k/1")
    assert isinstance(d, Pending) and "no preemptible claim of priority < 5" in d.message
    never = allocate(nodes, [Tenant("kafka", guarantee=GUARANTEED, preemption_policy="Never"),
                             Tenant("batch")], claims)
    assert isinstance(decision(never, "k/1"), Pending)
    off = allocate(nodes, [Tenant("kafka", guarantee=GUARANTEED), Tenant("batch")], claims, preemption=False)
    assert isinstance(decision(off, "k/1"), Pending)


def test_victims_never_take_their_tenant_below_its_guarantee():
    nodes, running = full_cluster(spark("b/1", 4), spark("b/2", 4))
    tenants = [Tenant("kafka", guarantee=GUARANTEED), Tenant("batch", guarantee={"cpu": cores(6)})]
    result = allocate(nodes, tenants, [*running, claim("k/1", "kafka", pod_set(1, cpu=2))])
    d = decision(result, "k/1")
    assert isinstance(d, Pending) and "from a tenant above its guarantee" in d.message
    tenants = [Tenant("kafka", guarantee=GUARANTEED), Tenant("batch", guarantee={"cpu": cores(4)})]
    result = allocate(nodes, tenants, [*running, claim("k/1", "kafka", pod_set(1, cpu=2))])
    assert len(decision(result, "k/1").victims) == 1  # 8 - 4 keeps batch at its guarantee of 4


def test_one_victim_that_suffices_is_preferred_and_newest_goes_first():
    nodes, running = full_cluster(spark("b/small-old", 2, created="2024-01-01T00:00:00Z"),
                                  spark("b/small-new", 2, created="2024-01-01T00:00:05Z"),
                                  spark("b/big", 4, created="2024-01-01T00:00:01Z"))
    tenants = [Tenant("kafka", guarantee=GUARANTEED), Tenant("batch")]
    result = allocate(nodes, tenants, [*running, claim("k/1", "kafka", pod_set(1, cpu=4))])
    assert decision(result, "k/1").victims == ("b/big",)
    result = allocate(nodes, tenants, [*running, claim("k/1", "kafka", pod_set(1, cpu=2))])
    assert decision(result, "k/1").victims == ("b/small-new",)


def test_victims_that_are_not_needed_are_dropped():
    # Lowest priority first would take b/0 .. b/2 (1 CPU each) then b/big; b/big alone is not enough
    # for 6 CPU either, the minimisation pass keeps only what is needed.
    victims = [spark(f"b/{i}", 1, priority=0, created=f"2024-01-01T00:00:0{i}Z") for i in range(3)]
    nodes, running = full_cluster(*victims, spark("b/big", 5, priority=1))
    tenants = [Tenant("kafka", guarantee=GUARANTEED), Tenant("batch")]
    result = allocate(nodes, tenants, [*running, claim("k/1", "kafka", pod_set(1, cpu=6), priority=1)])
    assert decision(result, "k/1").victims == ("b/2", "b/big")  # b/0 and b/1 dropped again


def test_a_victim_is_taken_once_and_a_preemptor_counts_against_its_guarantee():
    nodes, running = full_cluster(spark("b/1", 4), spark("b/2", 4))
    tenants = [Tenant("kafka", guarantee={"cpu": cores(4), "memory": 64 * G, "pods": 20}), Tenant("batch")]
    claims = [*running, claim("k/1", "kafka", pod_set(1, cpu=4), created="2024-01-01T00:00:00Z"),
              claim("k/2", "kafka", pod_set(1, cpu=4), created="2024-01-01T00:00:01Z")]
    result = allocate(nodes, tenants, claims)
    assert isinstance(decision(result, "k/1"), Preempt)
    assert isinstance(decision(result, "k/2"), Pending)  # kafka's guarantee is spoken for by k/1
    assert result.tenants["kafka"].usage == {}  # a nomination is not usage
    assert result.tenants["kafka"].pending == 2


def test_a_claim_waiting_for_its_victims_gets_their_capacity_first():
    # k/1 preempted b/1 in the last pass; b/1 is gone. A claim of another tenant with a lower share,
    # within its guarantee, would come first in DRF order and take the room: k/1 is decided first.
    nodes = [node("n1", cpu=8, memory=64)]
    tenants = [Tenant("kafka", guarantee=GUARANTEED), Tenant("other", guarantee=GUARANTEED), Tenant("batch")]
    running = [spark("b/2", 4), claim("k/0", "kafka", pod_set(1, cpu=1), admission={"main": {"n1": 1}})]
    waiting = claim("k/1", "kafka", pod_set(1, cpu=3), created="2024-01-01T00:00:09Z")
    rival = claim("o/1", "other", pod_set(1, cpu=3), created="2024-01-01T00:00:01Z")
    result = allocate(nodes, tenants, [*running, waiting, rival])
    assert [d.claim for d in result.decisions][0] == "o/1"
    assert decision(result, "k/1").victims == ("b/2",)  # unmarked, it would preempt yet another victim
    marked = dataclasses.replace(waiting, preempting=True)
    result = allocate(nodes, tenants, [*running, marked, rival])
    assert [d.claim for d in result.decisions][0] == "k/1" and isinstance(decision(result, "k/1"), Admit)


def test_preemption_respects_placement_constraints():
    nodes = [node("n1", cpu=4, zone="a"), node("n2", cpu=4, zone="b")]
    running = [claim("b/1", "batch", pod_set(1, cpu=4), preemptible=True, admission={"main": {"n1": 1}}),
               claim("b/2", "batch", pod_set(1, cpu=4), preemptible=True, admission={"main": {"n2": 1}},
                     created="2024-02-01T00:00:00Z")]
    tenants = [Tenant("kafka", guarantee=GUARANTEED), Tenant("batch")]
    result = allocate(nodes, tenants, [*running, claim("k/1", "kafka", pod_set(1, cpu=4, constraints=[
        ("@zone", "IS", "a")]))])
    assert decision(result, "k/1").victims == ("b/1",)  # b/2 is newer but on the wrong zone


def test_preemption_stops_when_even_every_candidate_would_not_make_room():
    nodes, running = full_cluster(spark("b/1", 2), spark("b/2", 2, preemptible=False))
    tenants = [Tenant("kafka", guarantee=GUARANTEED), Tenant("batch")]
    result = allocate(nodes, tenants, [*running, claim("k/1", "kafka", pod_set(1, cpu=8))])
    d = decision(result, "k/1")
    assert isinstance(d, Pending) and "preempting all 1 eligible claims would not make room" in d.message


def test_an_unplaceable_shape_is_refused_again_with_the_same_message():
    nodes = [node("n1", cpu=2)]
    claims = [claim(f"ns/{i}", "a", pod_set(3, constraints=[("@hostname", "UNIQUE")])) for i in range(3)]
    result = allocate(nodes, [Tenant("a")], claims)
    messages = {d.message for d in result.decisions}
    assert len(messages) == 1 and all(d.reason == "Unschedulable" for d in result.decisions)


# ---------------------------------------------------------------------------------------------
# Property tests: an independent checker of what the allocator promises

def attribute(n: Node, field: str) -> str | None:
    return n.name if field == "@hostname" else n.labels.get(FIELD_LABELS.get(field, field))


def check_placement(ps: PodSet, placed: Mapping[str, int], nodes: Mapping[str, Node],
                    pools: Mapping[str, Pool]) -> None:
    total = sum(placed.values())
    assert ps.minimum <= total <= ps.count, (ps, placed)
    for name, pods in placed.items():
        n = nodes[name]
        assert pods > 0 and not n.unschedulable
        tolerations = pools[ps.pool].tolerations if ps.pool else ()
        if ps.pool:
            assert pools[ps.pool].selector.matches(n.labels)
        for taint in n.taints:
            if taint.effect != "PreferNoSchedule":
                assert any(t.tolerates(taint) for t in tolerations), (name, taint)
    for c in ps.constraints:
        per_value: Counter = Counter()
        for name, pods in placed.items():
            per_value[attribute(nodes[name], c.field)] += pods
        values = set(per_value)
        if c.operator == "UNLIKE":
            assert all(v is None or not re.fullmatch(c.value, v) for v in values), (c, per_value)
            continue
        assert None not in values, (c, per_value)
        if c.operator == "UNIQUE":
            assert max(per_value.values()) == 1, (c, per_value)
        elif c.operator == "MAX_PER":
            assert max(per_value.values()) <= int(c.value), (c, per_value)
        elif c.operator == "GROUP_BY":
            assert len(per_value) == min(int(c.value), total), (c, per_value)
            assert max(per_value.values()) - min(per_value.values()) <= 1, (c, per_value)
        elif c.operator == "CLUSTER":
            assert len(values) == 1 and (c.value is None or values == {c.value}), (c, per_value)
        elif c.operator == "IS":
            assert values == {c.value}, (c, per_value)
        elif c.operator == "LIKE":
            assert all(re.fullmatch(c.value, v) for v in values), (c, per_value)


def per_pod(ps: PodSet) -> list[int]:
    return [ps.requests.get(r, 0) if r != "pods" else 1 for r in RESOURCE_NAMES]


def claim_usage(c: Claim, placements: Mapping[str, Mapping[str, int]]) -> list[int]:
    total = [0] * len(RESOURCE_NAMES)
    for ps in c.pod_sets:
        pods = sum(placements.get(ps.name, {}).values())
        total = [t + pods * x for t, x in zip(total, per_pod(ps), strict=True)]
    return total


def ancestors(tenants: Mapping[str, Tenant], name: str) -> list[str]:
    chain = []
    while name is not None:
        chain.append(name)
        name = tenants[name].parent
    return chain


def subtree_usage(tenants: Mapping[str, Tenant], claims: Sequence[Claim],
                  placements: Mapping[str, Mapping[str, Mapping[str, int]]]) -> dict[str, list[int]]:
    usage = {name: [0] * len(RESOURCE_NAMES) for name in tenants}
    for c in claims:
        if c.key in placements and c.tenant in tenants:
            for a in ancestors(tenants, c.tenant):
                usage[a] = [u + x for u, x in zip(usage[a], claim_usage(c, placements[c.key]), strict=True)]
    return usage


def check_allocation(nodes: Sequence[Node], pools: Sequence[Pool], tenants: Sequence[Tenant],
                     claims: Sequence[Claim], result: Allocation) -> None:
    """Every promise of :func:`allocate` that holds whatever the input (given a consistent start)."""
    by_node = {n.name: n for n in nodes}
    by_pool = {p.name: p for p in pools}
    by_tenant = {t.name: t for t in tenants}
    by_claim = {c.key: c for c in claims}
    pending = [c.key for c in claims if c.admission is None]
    assert sorted(d.claim for d in result.decisions) == sorted(pending)

    placements = {c.key: c.admission for c in claims if c.admission is not None}
    for d in result.decisions:
        if isinstance(d, Admit):
            c = by_claim[d.claim]
            assert d.tenant == c.tenant
            for ps in c.pod_sets:
                placed = dict(next(p for p in d.pod_sets if p.name == ps.name).nodes)
                check_placement(ps, placed, by_node, by_pool)
            placements[d.claim] = {p.name: dict(p.nodes) for p in d.pod_sets}

    # No node over-committed.
    held = {n.name: [n.used.get(r, 0) for r in RESOURCE_NAMES] for n in nodes}
    for key, placement in placements.items():
        for ps in by_claim[key].pod_sets:
            for name, pods in placement.get(ps.name, {}).items():
                held[name] = [h + pods * x for h, x in zip(held[name], per_pod(ps), strict=True)]
    for n in nodes:
        for r, resource in enumerate(RESOURCE_NAMES):
            if resource in n.allocatable:
                assert held[n.name][r] <= n.allocatable[resource], (n.name, resource)

    # Never over a tenant limit (for the tenant and every ancestor).
    usage = subtree_usage(by_tenant, claims, placements)
    for name, t in by_tenant.items():
        for r, resource in enumerate(RESOURCE_NAMES):
            if resource in t.limit:
                assert usage[name][r] <= t.limit[resource], (name, resource)

    check_preemptions(by_tenant, by_claim, claims, result)


def check_preemptions(tenants: Mapping[str, Tenant], by_claim: Mapping[str, Claim], claims: Sequence[Claim],
                      result: Allocation) -> None:
    """Victims are preemptible claims of lower (or equal) priority from other tenants above their guarantee,
    and never take a tenant or ancestor from at-or-above its guarantee to below it.

    Walks the decisions in order, as the allocator made them: usage counts what ran before the pass,
    admissions and preemptors' requests so far; what earlier victims will release is taken off.
    """
    usage = subtree_usage(tenants, claims, {c.key: c.admission for c in claims if c.admission})
    doomed: set[str] = set()

    def effective(extra: set[str]) -> dict[str, list[int]]:
        out = {name: list(u) for name, u in usage.items()}
        for key in doomed | extra:
            v = by_claim[key]
            for a in ancestors(tenants, v.tenant):
                out[a] = [u - x for u, x in zip(out[a], claim_usage(v, v.admission), strict=True)]
        return out

    def add(tenant: str, amount: Sequence[int]) -> None:
        for a in ancestors(tenants, tenant):
            usage[a] = [u + x for u, x in zip(usage[a], amount, strict=True)]

    for d in result.decisions:
        c = by_claim[d.claim]
        if isinstance(d, Admit):
            add(c.tenant, claim_usage(c, {p.name: dict(p.nodes) for p in d.pod_sets}))
        if not isinstance(d, Preempt):
            continue
        t = tenants[c.tenant]
        assert not c.preemptible and t.preemption_policy != "Never"
        before = effective(set())
        for key in d.victims:
            victim = by_claim[key]
            assert key not in doomed and victim.admission is not None, key
            assert victim.preemptible and victim.tenant != c.tenant, key
            if t.preemption_policy == "LowerPriority":
                assert victim.priority < c.priority
            else:
                assert victim.priority <= c.priority
            vt = tenants[victim.tenant]
            assert not vt.guarantee or any(
                before[vt.name][r] > vt.guarantee[name] for r, name in enumerate(RESOURCE_NAMES)
                if name in vt.guarantee), f"{key}: tenant {vt.name} is not above its guarantee"
        after = effective(set(d.victims))
        for name, tenant in tenants.items():
            for r, resource in enumerate(RESOURCE_NAMES):
                g = tenant.guarantee.get(resource)
                if g is not None and before[name][r] >= g:
                    assert after[name][r] >= g, (d, name, resource)
        doomed.update(d.victims)
        add(c.tenant, minimum_of(c))


def minimum_of(c: Claim) -> list[int]:
    total = [0] * len(RESOURCE_NAMES)
    for ps in c.pod_sets:
        total = [t + ps.minimum * x for t, x in zip(total, per_pod(ps), strict=True)]
    return total


ZONES = ("a", "b", "c")
TAINT = Taint("dedicated", "NoSchedule", "ssd")
POOLS = [Pool("ssd", Selector({"disk": "ssd"}), (Toleration("dedicated", "Equal", "ssd"),)),
         Pool("zone-a", Selector({ZONE: "a"}))]
CONSTRAINTS = [("@hostname", "UNIQUE"), ("@zone", "GROUP_BY", "2"), ("@zone", "GROUP_BY", "3"),
               ("@zone", "MAX_PER", "2"), ("@hostname", "MAX_PER", "2"), ("@zone", "CLUSTER"),
               ("@zone", "CLUSTER", "b"), ("disk", "IS", "ssd"), ("disk", "LIKE", "s+d"),
               ("disk", "UNLIKE", "ssd"), ("@zone", "UNIQUE"), ("rack", "MAX_PER", "1")]


@st.composite
def nodes_strategy(draw, most: int = 8) -> list[Node]:
    nodes = []
    for i in range(draw(st.integers(1, most))):
        labels = {}
        zone = draw(st.sampled_from((*ZONES, None)))
        if zone:
            labels[ZONE] = zone
        disk = draw(st.sampled_from(("ssd", "hdd", None)))
        if disk:
            labels["disk"] = disk
        if draw(st.booleans()):
            labels["rack"] = f"r{draw(st.integers(0, 2))}"
        taints = (TAINT,) if disk == "ssd" and draw(st.booleans()) else ()
        allocatable = {"cpu": draw(st.integers(1, 16)) * 1000, "memory": draw(st.integers(2, 32)) * G,
                       "pods": draw(st.integers(1, 12))}
        nodes.append(Node(f"n{i}", allocatable,
                          labels, taints, {"cpu": draw(st.sampled_from((0, 0, 500)))},
                          unschedulable=draw(st.integers(0, 9)) == 0))
    return nodes


@st.composite
def tenants_strategy(draw) -> list[Tenant]:
    tenants = []
    for i in range(draw(st.integers(1, 4))):
        guarantee, limit = {}, {}
        for resource, unit, top in (("cpu", 1000, 24), ("memory", G, 64), ("pods", 1, 20)):
            g = draw(st.one_of(st.none(), st.integers(0, top)))
            if g is not None:
                guarantee[resource] = g * unit
            lim = draw(st.one_of(st.none(), st.integers(g or 0, top * 2)))
            if lim is not None:
                limit[resource] = lim * unit
        parent = "t0" if i > 0 and draw(st.integers(0, 3)) == 0 else None
        tenants.append(Tenant(f"t{i}", guarantee, limit, draw(st.integers(1, 3)), parent,
                              draw(st.sampled_from(("Never", "LowerPriority", "LowerOrEqualPriority")))))
    return tenants


@st.composite
def claims_strategy(draw, tenants: Sequence[Tenant], prefix: str,
                    count: tuple[int, int] = (1, 10)) -> list[Claim]:
    claims = []
    for i in range(draw(st.integers(*count))):
        pod_sets = []
        for j in range(draw(st.integers(1, 2))):
            n = draw(st.integers(1, 5))
            drawn = draw(st.lists(st.sampled_from(CONSTRAINTS), max_size=2))
            constraints = tuple(Constraint(*c) for c in drawn)
            if sum(c.groups for c in constraints) > 1:
                constraints = constraints[:1]
            requests = {"cpu": draw(st.integers(1, 8)) * 250, "memory": draw(st.integers(1, 8)) * G // 2}
            pool = draw(st.sampled_from((None, None, "ssd", "zone-a")))
            pod_sets.append(PodSet(f"p{j}", n, requests, draw(st.integers(1, n)), pool, constraints))
        tenant = draw(st.sampled_from([t.name for t in tenants]))
        claims.append(Claim(f"{prefix}/{i}", tenant, tuple(pod_sets), draw(st.integers(0, 3)),
                            draw(st.booleans()), f"2024-01-01T00:00:{i:02d}Z"))
    return claims


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.data())
def test_property_every_admission_is_feasible_within_limits_and_every_preemption_is_allowed(data):
    nodes = data.draw(nodes_strategy())
    tenants = data.draw(tenants_strategy())
    first_claims = data.draw(claims_strategy(tenants, "first"))
    first = allocate(nodes, tenants, first_claims, POOLS)
    check_allocation(nodes, POOLS, tenants, first_claims, first)
    # Second pass: what was admitted runs; guarantees may have grown (up to the limit), new claims arrive.
    grown = []
    for t in tenants:
        guarantee = dict(t.guarantee)
        if data.draw(st.booleans()):
            guarantee["cpu"] = min(guarantee.get("cpu", 0) + data.draw(st.integers(0, 8)) * 1000,
                                   t.limit.get("cpu", 1 << 40))
            guarantee.setdefault("pods", t.limit.get("pods", 20))
            guarantee.setdefault("memory", t.limit.get("memory", 64 * G))
        grown.append(Tenant(t.name, guarantee, t.limit, t.weight, t.parent, t.preemption_policy))
    running = [as_admitted(c, d) for c in first_claims if isinstance(d := first.for_claim(c.key), Admit)]
    second_claims = running + data.draw(claims_strategy(grown, "second"))
    second = allocate(nodes, grown, second_claims, POOLS)
    check_allocation(nodes, POOLS, grown, second_claims, second)


def one_big_node() -> list[Node]:
    return [Node("big", {"cpu": 24_000, "memory": 96 * G, "pods": 1000})]


@st.composite
def guaranteed_scenario(draw):
    """Tenants whose guarantees name every resource claims use and fit the cluster together."""
    tenants = []
    left_cpu, left_memory, left_pods = 24, 96, 1000
    for i in range(draw(st.integers(2, 4))):
        cpu, memory, pods = (draw(st.integers(0, left_cpu // 2)), draw(st.integers(0, left_memory // 2)),
                             draw(st.integers(0, 40)))
        left_cpu, left_memory, left_pods = left_cpu - cpu, left_memory - memory, left_pods - pods
        limit = {"cpu": (cpu + draw(st.integers(0, 64))) * 1000} if draw(st.booleans()) else {}
        tenants.append(Tenant(f"t{i}", {"cpu": cpu * 1000, "memory": memory * G, "pods": pods}, limit,
                              draw(st.integers(1, 3))))
    claims = []
    for i in range(draw(st.integers(1, 25))):
        n = draw(st.integers(1, 6))
        requests = {"cpu": draw(st.integers(1, 8)) * 500, "memory": draw(st.integers(1, 16)) * G}
        claims.append(Claim(f"c/{i}", draw(st.sampled_from([t.name for t in tenants])),
                            (PodSet("p", n, requests, draw(st.integers(1, n))),),
                            draw(st.integers(0, 2)), draw(st.booleans()), f"2024-01-01T00:00:{i:02d}Z"))
    return tenants, claims


def within_guarantee(t: Tenant, usage: Sequence[int], request: Sequence[int]) -> bool:
    return all(u + x <= t.guarantee[r] for r, u, x in zip(RESOURCE_NAMES, usage, request, strict=True)
               if r in t.guarantee)


@PROPERTY
@given(guaranteed_scenario(), st.integers(0, 10))
def test_property_a_tenant_under_its_guarantee_is_never_blocked_by_others_borrowing(scenario, split):
    tenants, claims = scenario
    nodes = one_big_node()
    # Two passes: the first claims run, then the rest arrive; borrowing in pass one must not block pass two.
    first_claims, later = claims[:split], claims[split:]
    first = allocate(nodes, tenants, first_claims)
    running = [as_admitted(c, d) for c in first_claims if isinstance(d := first.for_claim(c.key), Admit)]
    second = allocate(nodes, tenants, running + later)
    for result, batch in ((first, first_claims), (second, running + later)):
        placements = {c.key: c.admission for c in batch if c.admission}
        placements.update({d.claim: {p.name: dict(p.nodes) for p in d.pod_sets}
                           for d in result.decisions if isinstance(d, Admit)})
        usage = subtree_usage({t.name: t for t in tenants}, batch, placements)
        by_claim = {c.key: c for c in batch}
        for d in result.decisions:
            if isinstance(d, Pending):
                c = by_claim[d.claim]
                t = next(t for t in tenants if t.name == c.tenant)
                assert not within_guarantee(t, usage[t.name], minimum_of(c)), (d, usage[t.name], t.guarantee)


@st.composite
def drf_scenario(draw, same_request: bool):
    tenants = [Tenant(f"t{i}", weight=draw(st.integers(1, 4))) for i in range(draw(st.integers(2, 5)))]
    claims = []
    shared = {"cpu": draw(st.integers(1, 8)) * 500, "memory": draw(st.integers(1, 16)) * G}
    for t in tenants:
        request = shared if same_request else {"cpu": draw(st.integers(1, 8)) * 500,
                                               "memory": draw(st.integers(1, 16)) * G}
        for i in range(draw(st.integers(1, 30))):
            claims.append(Claim(f"{t.name}/{i}", t.name, (PodSet("p", 1, request),),
                                created=f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z"))
    capacity = {"cpu": draw(st.integers(4, 64)) * 1000, "memory": draw(st.integers(8, 256)) * G, "pods": 1000}
    return tenants, claims, [Node("big", capacity)]


def replay_shares(tenants: Sequence[Tenant], claims: Sequence[Claim], nodes: Sequence[Node],
                  result: Allocation):
    """Yield (decision, weighted dominant share of every tenant just before it), from the decisions."""
    capacity = nodes[0].allocatable
    weight = {t.name: t.weight for t in tenants}
    usage = {t.name: Counter() for t in tenants}
    by_claim = {c.key: c for c in claims}
    for d in result.decisions:
        shares = {name: max(usage[name][r] / capacity[r] for r in capacity) / weight[name] for name in usage}
        yield d, shares
        if isinstance(d, Admit):
            usage[by_claim[d.claim].tenant].update({**by_claim[d.claim].pod_sets[0].requests, "pods": 1})


@PROPERTY
@given(drf_scenario(same_request=False))
def test_property_each_claim_is_decided_when_its_tenant_has_the_lowest_weighted_dominant_share(scenario):
    tenants, claims, nodes = scenario
    result = allocate(nodes, tenants, claims)
    tenant_of = {c.key: c.tenant for c in claims}
    last = {tenant_of[d.claim]: i for i, d in enumerate(result.decisions)}
    for i, (d, shares) in enumerate(replay_shares(tenants, claims, nodes, result)):
        a = tenant_of[d.claim]
        waiting = [b for b in shares if b != a and last.get(b, -1) > i]  # tenants with claims still undecided
        for b in waiting:
            assert shares[a] <= shares[b] + 1e-9, (i, a, shares[a], b, shares[b])


@PROPERTY
@given(drf_scenario(same_request=True))
def test_property_with_equal_requests_every_waiting_tenant_got_at_least_the_others_share(scenario):
    """Progressive filling: a tenant left waiting has a weighted share no lower than any other tenant
    had before its last admission."""
    tenants, claims, nodes = scenario
    result = allocate(nodes, tenants, claims)
    tenant_of = {c.key: c.tenant for c in claims}
    before_last: dict[str, float] = {}
    final: dict[str, float] = {}
    for d, shares in replay_shares(tenants, claims, nodes, result):
        final = shares
        if isinstance(d, Admit):
            before_last[tenant_of[d.claim]] = shares[tenant_of[d.claim]]
    *_, (last, final) = replay_shares(tenants, claims, nodes, result) if result.decisions else [(None, {})]
    if isinstance(last, Admit):  # the share after the very last decision
        capacity = nodes[0].allocatable
        t = next(t for t in tenants if t.name == tenant_of[last.claim])
        request = {**claims[0].pod_sets[0].requests, "pods": 1}
        final = dict(final)
        final[t.name] = max((final[t.name] * t.weight * capacity[r] + request.get(r, 0)) / capacity[r]
                            for r in capacity) / t.weight
    waiting = {tenant_of[d.claim] for d in result.decisions if isinstance(d, Pending)}
    for b in waiting:
        for a, share in before_last.items():
            assert share <= final[b] + 1e-9, (a, share, b, final[b])


@st.composite
def preemption_scenario(draw):
    """A cluster filled by borrowers (mostly t0's, mostly preemptible); then the other tenants get
    guarantees and ask for capacity within them."""
    nodes = [Node(f"n{i}", {"cpu": draw(st.integers(2, 8)) * 1000, "memory": 16 * G, "pods": 20},
                  {ZONE: ZONES[i % 3], "rack": f"r{i % 2}"}) for i in range(draw(st.integers(1, 4)))]
    names = [f"t{i}" for i in range(draw(st.integers(2, 4)))]
    policies = st.sampled_from(("LowerPriority", "LowerOrEqualPriority", "LowerOrEqualPriority", "Never"))
    parents = {name: ("t0" if name != "t0" and draw(st.integers(0, 4)) == 0 else None) for name in names}
    before = [Tenant(name, parent=parents[name], preemption_policy=draw(policies)) for name in names]
    fill = []
    for i in range(draw(st.integers(4, 16))):
        count = draw(st.integers(1, 4))
        pod_sets = (PodSet("p", count, {"cpu": draw(st.integers(1, 6)) * 250, "memory": G // 2},
                           draw(st.integers(1, count))),)
        fill.append(Claim(f"fill/{i}", draw(st.sampled_from(["t0"] * 4 + names[1:])), pod_sets,
                          draw(st.integers(0, 2)), draw(st.integers(0, 4)) > 0, f"2024-01-01T00:00:{i:02d}Z"))
    after = []
    for t in before:
        guarantee = {}
        if t.name == "t0" and draw(st.booleans()):  # the main borrower, sometimes with a small guarantee
            guarantee = {"cpu": draw(st.integers(1, 4)) * 1000}
        elif t.name != "t0" and draw(st.integers(0, 3)) > 0:
            guarantee = {"cpu": draw(st.integers(2, 8)) * 1000, "memory": draw(st.integers(2, 16)) * G,
                         "pods": draw(st.integers(3, 10))}
        after.append(Tenant(t.name, guarantee, {}, draw(st.integers(1, 3)), t.parent, t.preemption_policy))
    services = []
    for i in range(draw(st.integers(1, 6))):
        count = draw(st.integers(1, 3))
        constraints = draw(st.sampled_from(((), (), (Constraint("@hostname", "UNIQUE"),),
                                            (Constraint("@zone", "MAX_PER", "1"),),
                                            (Constraint("rack", "IS", "r0"),))))
        pod_sets = (PodSet("p", count, {"cpu": draw(st.integers(1, 4)) * 250, "memory": G // 2}, None, None,
                           constraints),)
        services.append(Claim(f"svc/{i}", draw(st.sampled_from(names)), pod_sets, draw(st.integers(0, 4)),
                              draw(st.integers(0, 4)) == 0, f"2024-01-02T00:00:{i:02d}Z"))
    return nodes, before, fill, after, services


@PROPERTY
@given(preemption_scenario())
def test_property_preemption_takes_only_allowed_victims(scenario):
    nodes, before, fill, after, services = scenario
    first = allocate(nodes, before, fill, POOLS)
    running = [as_admitted(c, d) for c in fill if isinstance(d := first.for_claim(c.key), Admit)]
    claims = running + services
    result = allocate(nodes, after, claims, POOLS)
    check_allocation(nodes, POOLS, after, claims, result)


def next_snapshot(claims: Sequence[Claim], result: Allocation) -> list[Claim]:
    """What the handler does with a pass: admitted claims run, victims are evicted and requeued,
    preemptors are marked as waiting for their victims."""
    by_key = {c.key: c for c in claims}
    for d in result.decisions:
        c = by_key[d.claim]
        if isinstance(d, Admit):
            by_key[d.claim] = as_admitted(c, d)
        elif isinstance(d, Preempt):
            by_key[d.claim] = dataclasses.replace(c, preempting=True)
            for v in d.victims:
                by_key[v] = dataclasses.replace(by_key[v], admission=None)
    return list(by_key.values())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(preemption_scenario())
def test_property_repeated_passes_settle_without_ping_pong(scenario):
    nodes, before, fill, after, services = scenario
    first = allocate(nodes, before, fill, POOLS)
    claims = next_snapshot(fill, first) + services
    for _ in range(8):
        result = allocate(nodes, after, claims, POOLS)
        check_allocation(nodes, POOLS, after, claims, result)
        if not any(isinstance(d, Admit | Preempt) for d in result.decisions):
            return
        claims = next_snapshot(claims, result)
    raise AssertionError("no fixpoint after 8 passes: " + ", ".join(
        f"{d.claim}->{d.victims}" for d in result.decisions if isinstance(d, Preempt)))
