"""The allocator admits what fits: counts, gangs, capacity; amounts described in words."""

from __future__ import annotations

from operators.meta.allocator import (
    Pending,
    Tenant,
    allocate,
    describe,
)
from tests.unit.meta.allocator_builders import (
    G,
    admitted_pods,
    claim,
    cores,
    decision,
    node,
    nodes_of,
    pod_set,
)

# ---------------------------------------------------------------------------------------------
# Admission: counts, gangs, capacity

def test_amounts_are_described_in_words():
    assert describe((4000, 16 * G, 0, 0, 1)) == "4 CPU, 16Gi memory"


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
