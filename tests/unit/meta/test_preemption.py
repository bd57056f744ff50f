"""The allocator's preemption: who may preempt, which victims, fewest first, and the wait for them."""

from __future__ import annotations

import dataclasses

from operators.meta.allocator import (
    Admit,
    Claim,
    Node,
    Pending,
    Preempt,
    Tenant,
    allocate,
)
from tests.unit.meta.allocator_builders import (
    G,
    claim,
    cores,
    decision,
    next_snapshot,
    node,
    pod_set,
)

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


def test_the_room_a_preemptor_counts_on_is_not_taken_by_a_later_claim_of_the_pass():
    # The smallest case of the ping-pong hypothesis found (test_properties, repeated passes). k/1 needs
    # all 4 CPU of n1: the 2 that are free and the 2 b/old holds. It preempts b/old; if the free 2 were
    # left on the node, b/new (decided later in the same pass) would take 1 of them. Next pass b/old is
    # gone but only 3 CPU are free, so k/1 preempts b/new, and b/old comes back into the room; the
    # pass after that is the first one again, for ever. A preemptor books the nodes it will use.
    nodes = [node("n1", cpu=4, memory=64)]
    tenants = [Tenant("kafka", guarantee={"cpu": cores(4)}), Tenant("batch")]
    claims = [spark("b/old", 2), claim("k/1", "kafka", pod_set(1, cpu=4), created="2024-01-01T00:00:01Z"),
              claim("b/new", "batch", pod_set(1, cpu=1), preemptible=True, created="2024-01-01T00:00:02Z")]
    first = allocate(nodes, tenants, claims)
    assert decision(first, "k/1").victims == ("b/old",)
    assert isinstance(decision(first, "b/new"), Pending)
    claims = next_snapshot(claims, first)
    second = allocate(nodes, tenants, claims)
    assert isinstance(decision(second, "k/1"), Admit) and second.victims == set()
    assert [d for d in second.decisions if isinstance(d, Admit)] == [decision(second, "k/1")]


def test_two_preemptors_of_a_pass_never_count_on_the_same_free_room():
    # n1 has 2 CPU free and two 3-CPU borrowers; k/1 and o/1 need 5 CPU each. k/1 takes the free 2 and
    # b/2's 3. Were the free 2 not booked for k/1, o/1 would count on them too and evict b/1 for
    # nothing: once both victims were gone only one preemptor would fit.
    nodes = [node("n1", cpu=8, memory=64)]
    tenants = [Tenant("kafka", guarantee={"cpu": cores(5)}), Tenant("other", guarantee={"cpu": cores(5)}),
               Tenant("batch")]
    claims = [spark("b/1", 3, created="2024-01-01T00:00:00Z"), spark("b/2", 3, created="2024-01-01T00:00:01Z"),
              claim("k/1", "kafka", pod_set(1, cpu=5), created="2024-01-01T00:00:02Z"),
              claim("o/1", "other", pod_set(1, cpu=5), created="2024-01-01T00:00:03Z")]
    result = allocate(nodes, tenants, claims)
    assert decision(result, "k/1").victims == ("b/2",)
    d = decision(result, "o/1")
    assert isinstance(d, Pending) and "would not make room" in d.message
    assert result.victims == {"b/2"}


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
