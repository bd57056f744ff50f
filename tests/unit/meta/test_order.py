"""The allocator's order: guarantee first, weighted DRF between tenants, priority then FIFO within one."""

from __future__ import annotations

from operators.meta.allocator import (
    Admit,
    Pending,
    Tenant,
    allocate,
)
from tests.unit.meta.allocator_builders import (
    G,
    claim,
    cores,
    decision,
    node,
    pod_set,
)

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
