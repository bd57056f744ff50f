"""The scheduling wire models as the allocator's inputs, and its outputs as status fields."""

from __future__ import annotations

from operators.meta import allocator, convert
from operators.scheduling.api import Constraint, NodePoolSpec, PodSet, ServiceClaimSpec, ServiceClaimStatus, TenantSpec
from operators.sdk.conditions import Condition

G = 1 << 30

KAFKA_CLAIM = {
    "tenant": "streaming",
    "priority": 100,
    "podSets": [{
        "name": "broker", "count": 3, "minCount": 3, "nodePool": "ssd",
        "requests": {"cpu": "4", "memory": "16Gi", "storage": "100Gi"},
        "constraints": [{"field": "@hostname", "operator": "UNIQUE"},
                        {"field": "@zone", "operator": "GROUP_BY", "value": "3"}],
    }],
}


def test_a_tenant_converts_to_base_units():
    spec = TenantSpec.model_validate({
        "guarantee": {"cpu": "500m", "memory": "8Gi", "pods": "10"}, "limit": {"cpu": "2"},
        "weight": 3, "parent": "org", "preemptionPolicy": "LowerPriority"})
    assert convert.tenant("team", spec) == allocator.Tenant(
        "team", {"cpu": 500, "memory": 8 * G, "pods": 10}, {"cpu": 2000}, 3, "org", "LowerPriority")


def test_a_claim_converts_with_the_tenant_default_priority():
    spec = ServiceClaimSpec.model_validate({**KAFKA_CLAIM, "priority": None})
    claim = convert.claim(spec, "kafka/a", "streaming", created="2024-01-01T00:00:00Z", default_priority=7)
    assert claim.priority == 7 and claim.tenant == "streaming" and claim.admission is None
    broker = claim.pod_sets[0]
    assert broker.requests == {"cpu": 4000, "memory": 16 * G, "storage": 100 * G}
    assert broker.pool == "ssd" and broker.minimum == 3
    assert broker.constraints == (allocator.Constraint("@hostname", "UNIQUE"),
                                  allocator.Constraint("@zone", "GROUP_BY", "3"))


def test_a_node_pool_converts_selector_and_tolerations():
    spec = NodePoolSpec.model_validate({
        "nodeSelector": {"matchLabels": {"disk": "ssd"},
                         "matchExpressions": [{"key": "spot", "operator": "DoesNotExist"}]},
        "tolerations": [{"key": "dedicated", "value": "ssd", "effect": "NoSchedule"}]})
    pool = convert.pool("ssd", spec)
    assert pool.selector.matches({"disk": "ssd"})
    assert not pool.selector.matches({"disk": "ssd", "spot": "true"})
    assert pool.tolerations[0].tolerates(allocator.Taint("dedicated", "NoSchedule", "ssd"))
    assert not pool.tolerations[0].tolerates(allocator.Taint("dedicated", "NoSchedule", "hdd"))


def test_an_admission_round_trips_through_the_status():
    nodes = [allocator.Node(f"n{i}", {"cpu": 8000, "memory": 32 * G, "pods": 110},
                            {"topology.kubernetes.io/zone": "abc"[i], "disk": "ssd"}) for i in range(3)]
    spec = ServiceClaimSpec.model_validate(KAFKA_CLAIM)
    claim = convert.claim(spec, "kafka/a", "streaming")
    ssd = NodePoolSpec.model_validate({"nodeSelector": {"matchLabels": {"disk": "ssd"}}})
    pools = [convert.pool("ssd", ssd)]
    result = allocator.allocate(nodes, [allocator.Tenant("streaming")], [claim], pools)
    admit = result.for_claim("kafka/a")
    status = ServiceClaimStatus(
        tenant="streaming", pod_sets=convert.pod_set_assignments(admit),
        conditions=[Condition(type="Admitted", status="True", reason="Admitted", message=admit.message)])
    wire = status.wire()
    assert wire["podSets"] == [{"name": "broker", "count": 3, "nodes": [
        {"name": "n0", "count": 1}, {"name": "n1", "count": 1}, {"name": "n2", "count": 1}]}]
    assert ServiceClaimStatus.model_validate(wire).admission() == {"broker": {"n0": 1, "n1": 1, "n2": 1}}
    pending = status.model_copy(update={"conditions": [
        Condition(type="Admitted", status="False", reason="Unschedulable")]})
    assert pending.admission() is None and not pending.preempting()
    waiting = status.model_copy(update={"conditions": [
        Condition(type="QuotaReserved", status="False", reason="Preempting")]})
    assert waiting.preempting()
    assert convert.claim(spec, "kafka/a", "streaming", preempting=waiting.preempting()).preempting


def test_tenant_status_from_the_allocator():
    usage = allocator.TenantUsage(usage={"cpu": 12000, "memory": 16 * G}, guaranteed={"cpu": 8000},
                                  borrowed={"cpu": 4000}, dominant_share=0.125, dominant_resource="cpu",
                                  admitted=3, pending=1)
    wire = convert.tenant_status(usage, generation=2).wire()
    assert wire == {"observedGeneration": 2, "conditions": [], "usage": {"cpu": "12", "memory": "16Gi"},
                    "guaranteed": {"cpu": "8"}, "borrowed": {"cpu": "4"}, "dominantShare": "0.125",
                    "dominantResource": "cpu", "admittedClaims": 3, "pendingClaims": 1}


def test_constraints_and_pod_sets_convert_to_the_allocator_types():
    assert convert.constraint(Constraint(field="@zone", operator="CLUSTER")).groups
    assert convert.pod_set(PodSet.model_validate({"name": "x", "count": 2})).minimum == 2
