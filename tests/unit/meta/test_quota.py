"""The allocator's quota: limits, guarantees, the headroom unmet guarantees keep, borrowing."""

from __future__ import annotations

import pytest

from operators.meta.allocator import (
    Pending,
    Tenant,
    allocate,
)
from tests.unit.meta.allocator_builders import (
    G,
    admitted_pods,
    as_admitted,
    claim,
    cores,
    decision,
    node,
    pod_set,
)

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
