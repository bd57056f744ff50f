"""The allocator's placement: Marathon constraints, node pools, taints and cordons."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import pytest

from operators.meta.allocator import (
    FIELD_LABELS,
    Constraint,
    Node,
    Pending,
    PodSet,
    Pool,
    Selector,
    Taint,
    Tenant,
    Toleration,
    allocate,
)
from tests.unit.meta.allocator_builders import (
    ZONE,
    claim,
    decision,
    node,
    nodes_of,
    pod_set,
)

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
