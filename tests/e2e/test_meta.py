"""The meta-controller on the real control plane: tenants, admission, placement, preemption.

Six simulated nodes in three zones, 8 CPU each. KafkaClusters state their demand in a
ServiceClaim; the meta-controller admits it within its tenant's quota and picks nodes;
the Kafka operator runs only admitted pods on the granted nodes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
import yaml

from .conftest import Kubectl, PodWatch, new_namespace, wait_for


def kafka(name: str, *, brokers: int, cpu: str = "1", constraints: list | None = None,
          controllers: int = 1) -> str:
    spread = constraints if constraints is not None else [{"field": "@hostname", "operator": "UNIQUE"}]
    return yaml.safe_dump({"apiVersion": "kafka.smack.dev/v1alpha1", "kind": "KafkaCluster",
                           "metadata": {"name": name},
                           "spec": {"controllers": {"replicas": controllers, "constraints": []},
                                    "brokers": {"replicas": brokers, "constraints": spread,
                                                "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}}})


def tenant_manifest(name: str, spec: dict) -> str:
    return yaml.safe_dump({"apiVersion": "scheduling.smack.dev/v1alpha1", "kind": "Tenant",
                           "metadata": {"name": name}, "spec": spec})


@pytest.fixture
def tenants(kube: Kubectl) -> Iterator[callable]:
    """Create cluster-scoped Tenants with unique names (or the ``name`` given); delete them after the test."""
    made: list[str] = []

    def make(spec: dict, name: str | None = None) -> str:
        name = name or f"t-{uuid.uuid4().hex[:6]}"
        made.append(name)
        kube.apply(tenant_manifest(name, spec))
        return name
    yield make
    for name in made:
        kube.run("delete", "tenant", name, "--wait=false", check=False)


def condition(obj: dict, type_: str) -> dict:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == type_), {})


def wait_condition(k: Kubectl, kind: str, name: str, type_: str, status: str, reason: str | None = None,
                   timeout: float = 90) -> dict:
    def check():
        obj = k.json("get", kind, name)
        c = condition(obj, type_)
        return obj if c.get("status") == status and (reason is None or c.get("reason") == reason) else None
    return wait_for(check, timeout=timeout, what=f"{kind} {name} {type_}={status} {reason or ''}")


def zones_of(k: Kubectl) -> dict[str, str]:
    return {n["metadata"]["name"]: n["metadata"]["labels"]["topology.kubernetes.io/zone"]
            for n in k.json("get", "nodes")["items"]}


def test_tenant_admits_and_places_one_broker_per_host_across_zones(ns: Kubectl, tenants):
    team = tenants({"namespaces": [ns.namespace], "guarantee": {"cpu": "12", "pods": "20"},
                    "limit": {"cpu": "24", "memory": "64Gi"}, "weight": 2})
    ns.apply(kafka("orders", brokers=3, cpu="2", constraints=[
        {"field": "@hostname", "operator": "UNIQUE"}, {"field": "@zone", "operator": "GROUP_BY", "value": "3"}]))
    wait_condition(ns, "kafkacluster", "orders", "Ready", "True")

    claim = ns.json("get", "serviceclaim", "orders")
    assert claim["status"]["tenant"] == team
    assert condition(claim, "Admitted")["status"] == "True"
    assert condition(claim, "QuotaReserved")["status"] == "True"
    granted = {p["name"]: [n["name"] for n in p["nodes"]] for p in claim["status"]["podSets"]}
    zones = zones_of(ns)
    assert len(set(granted["broker"])) == 3
    assert {zones[n] for n in granted["broker"]} == {"zone-a", "zone-b", "zone-c"}

    pods = ns.json("get", "pods", "-l", "kafka.smack.dev/cluster=orders,kafka.smack.dev/role=broker")["items"]
    hosts = sorted(p["spec"]["nodeName"] for p in pods)
    assert hosts == sorted(granted["broker"]), "pods must run where the meta-controller found room"

    status = wait_for(lambda: (t := ns.json("get", "tenant", team)).get("status", {}).get("admittedClaims") == 1
                      and t["status"], what="tenant status")
    assert status["usage"]["cpu"] == "6"  # 3 brokers x 2 CPU; the controller requests none
    assert status["pendingClaims"] == 0
    assert float(status["dominantShare"]) > 0
    assert condition({"status": status}, "Borrowing")["status"] == "False"


def test_cluster_without_distinct_hosts_stays_pending_with_the_reason(ns: Kubectl):
    ns.apply(kafka("first", brokers=3, cpu="6"))
    wait_condition(ns, "kafkacluster", "first", "Ready", "True")
    ns.apply(kafka("second", brokers=4, cpu="6"))
    obj = wait_condition(ns, "kafkacluster", "second", "Admitted", "False", "Unschedulable")
    message = condition(obj, "Admitted")["message"]
    assert re.search(r"pod set broker: needs 4 distinct hosts with 6 CPU, 1Gi memory, 10Gi storage free; "
                     r"[0-3] available \(kwok-", message), message
    assert condition(obj, "Ready")["reason"] == "NotAdmitted"
    assert ns.json("get", "statefulset", "second-broker")["spec"]["replicas"] == 0
    assert not ns.json("get", "pods", "-l", "kafka.smack.dev/cluster=second")["items"]
    claim = ns.json("get", "serviceclaim", "second")
    assert condition(claim, "QuotaReserved")["reason"] == "Unschedulable"
    table = ns.run("get", "serviceclaim", "second").stdout
    assert "Unschedulable" in table


def test_webhook_refuses_demand_above_the_tenant_limit_or_never_placeable(ns: Kubectl, tenants):
    team = tenants({"namespaces": [ns.namespace], "limit": {"cpu": "4"}})
    result = ns.apply(kafka("big", brokers=3, cpu="2"), check=False)
    assert result.returncode != 0
    assert re.search(rf"admission webhook .* denied the request: spec: needs cpu 6 in all, above the limit of "
                     rf"tenant {team} \(cpu 4\)", result.stderr), result.stderr

    result = ns.apply(kafka("wide", brokers=7, cpu="100m"), check=False)
    assert result.returncode != 0
    assert re.search(r"spec\.brokers: can never be placed, even on an empty cluster: pod set broker: needs 7 "
                     r"distinct hosts with 100m CPU, 1Gi memory, 10Gi storage free; 6 available", result.stderr), \
        result.stderr

    # Within the limit: accepted. A later scale-up above it is refused too, and changes nothing.
    ns.apply(kafka("fits", brokers=2, cpu="1"))
    result = ns.run("patch", "kafkacluster", "fits", "--type=merge", "-p",
                    '{"spec":{"brokers":{"replicas":5}}}', check=False)
    assert result.returncode != 0 and "above the limit" in result.stderr
    assert ns.json("get", "kafkacluster", "fits")["spec"]["brokers"]["replicas"] == 2


def test_bad_tenant_and_claim_manifests_are_refused(kube: Kubectl):
    tenant = yaml.safe_dump({"apiVersion": "scheduling.smack.dev/v1alpha1", "kind": "Tenant",
                             "metadata": {"name": "bad-tenant"},
                             "spec": {"guarantee": {"cpu": "8"}, "limit": {"cpu": "4", "gpu": "1"}}})
    result = kube.apply(tenant, check=False)
    assert result.returncode != 0
    assert 'unknown field "spec.limit.gpu"' in result.stderr, result.stderr
    result = kube.apply(tenant.replace("gpu: '1'", "memory: -1Gi").replace('gpu: "1"', "memory: -1Gi"), check=False)
    assert "spec.guarantee.cpu: Invalid value" in result.stderr and "must not exceed limit.cpu" in result.stderr
    assert "spec.limit.memory: Invalid value" in result.stderr and "must not be negative" in result.stderr


def test_guaranteed_scale_up_preempts_a_preemptible_claim_of_another_tenant(kube: Kubectl, ns: Kubectl, tenants):
    batch_ns = Kubectl(kube.kubeconfig, f"{ns.namespace}-batch")
    kube.run("create", "namespace", batch_ns.namespace)
    try:
        tenants({"namespaces": [batch_ns.namespace], "limit": {"cpu": "48"}})
        # Batch work fills five of the six nodes; its owner runs one pod per admitted slot.
        batch_ns.apply(yaml.safe_dump({
            "apiVersion": "scheduling.smack.dev/v1alpha1", "kind": "ServiceClaim", "metadata": {"name": "etl"},
            "spec": {"preemptible": True, "podSets": [{"name": "executor", "count": 5,
                                                       "requests": {"cpu": "8", "memory": "1Gi"}}]}}))
        claim = wait_condition(batch_ns, "serviceclaim", "etl", "Admitted", "True")
        for i, node in enumerate(n["name"] for p in claim["status"]["podSets"] for n in p["nodes"]
                                 for _ in range(n["count"])):
            batch_ns.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": f"etl-executor-{i}", "labels": {"scheduling.smack.dev/claim": "etl",
                                                         "scheduling.smack.dev/pod-set": "executor"}},
                "spec": {"nodeName": node, "containers": [{"name": "x", "image": "etl",
                                                            "resources": {"requests": {"cpu": "8"}}}]}}))

        # A tenant guaranteed 12 CPU arrives; its cluster starts with one broker on the free node.
        tenants({"namespaces": [ns.namespace], "guarantee": {"cpu": "12", "memory": "16Gi", "pods": "10"}})
        ns.apply(kafka("payments", brokers=1, cpu="2"))
        wait_condition(ns, "kafkacluster", "payments", "Ready", "True")

        # Scaling to three brokers on distinct hosts needs room only the batch claim holds.
        ns.run("patch", "kafkacluster", "payments", "--type=merge", "-p", '{"spec":{"brokers":{"replicas":3}}}')
        victim = wait_condition(batch_ns, "serviceclaim", "etl", "Preempted", "True")
        assert f"{ns.namespace}/payments" in condition(victim, "Preempted")["message"]
        obj = wait_condition(ns, "kafkacluster", "payments", "Admitted", "False", "Preempting")
        assert obj["status"]["brokers"]["admitted"] < 3

        # The batch owner stops its work; the capacity moves to the guaranteed service.
        batch_ns.run("delete", "pods", "-l", "scheduling.smack.dev/claim=etl", "--wait=false")
        obj = wait_condition(ns, "kafkacluster", "payments", "Ready", "True", timeout=120)
        brokers = obj["status"]["brokers"]
        assert (brokers["desired"], brokers["admitted"], brokers["ready"]) == (3, 3, 3)
        claim = ns.json("get", "serviceclaim", "payments")
        hosts = [n["name"] for p in claim["status"]["podSets"] if p["name"] == "broker" for n in p["nodes"]]
        assert len(hosts) == len(set(hosts)) == 3, f"the scale-up kept one broker per host: {hosts}"
        victim = batch_ns.json("get", "serviceclaim", "etl")
        assert condition(victim, "Evicted")["status"] == "True"
        assert condition(victim, "Admitted")["status"] == "False"
        reasons = {e["reason"] for e in batch_ns.json("get", "events")["items"]}
        assert {"Preempted", "Evicted"} <= reasons
    finally:
        kube.run("delete", "namespace", batch_ns.namespace, "--wait=false", check=False)


def test_tenant_webhook_refuses_a_shared_namespace_and_a_cycle_naming_the_other_tenant(kube: Kubectl, ns: Kubectl,
                                                                                        tenants):
    owner = tenants({"namespaces": [ns.namespace]})
    result = kube.apply(tenant_manifest(f"{owner}-x", {"namespaces": [ns.namespace]}), check=False)
    assert result.returncode != 0
    assert f"spec.namespaces: namespace {ns.namespace} is also owned by tenant {owner} (by name)" in result.stderr, \
        result.stderr
    parent = tenants({}, name=f"{owner}-p")
    tenants({"parent": parent}, name=f"{owner}-c")
    result = kube.run("patch", "tenant", parent, "--type=merge", "-p", f'{{"spec":{{"parent":"{owner}-c"}}}}',
                      check=False)
    assert result.returncode != 0
    assert f"spec.parent: the parents form a cycle ({parent} → {owner}-c → {parent})" in result.stderr, result.stderr
    result = kube.run("patch", "tenant", parent, "--type=merge", "-p", f'{{"spec":{{"parent":"{parent}"}}}}',
                      check=False)
    assert result.returncode != 0 and "spec.parent: Invalid value" in result.stderr, result.stderr
    assert "must not be the tenant itself" in result.stderr, result.stderr


def test_a_forced_in_namespace_conflict_keeps_the_admission_and_the_pods_and_is_reported(
        kube: Kubectl, ns: Kubectl, tenants, operator):
    owner = tenants({"namespaces": [ns.namespace]})
    ns.apply(kafka("steady", brokers=3))
    wait_condition(ns, "kafkacluster", "steady", "Ready", "True")
    granted = ns.json("get", "serviceclaim", "steady")["status"]["podSets"]
    watch = PodWatch(ns, "kafka.smack.dev/cluster=steady")
    try:
        # Past the webhook: created while it does not serve (it fails open), as an older operator or a
        # restore from backup would.
        with operator.suspended():
            intruder = tenants({"namespaces": [ns.namespace]}, name=f"{owner}-intruder")
        reported = wait_for(lambda: (condition(t := kube.json("get", "tenant", owner), "NamespaceConflict")
                                     .get("status") == "True" or condition(ns.json("get", "serviceclaim", "steady"),
                                                                           "Admitted").get("status") != "True") and t,
                            what="the conflict reported, or the admission lost")
        claim = ns.json("get", "serviceclaim", "steady")
        assert condition(claim, "Admitted")["status"] == "True", f"the admission was revoked: {claim['status']}"
        assert claim["status"]["podSets"] == granted
        assert f"also owned by tenant {intruder}" in condition(reported, "NamespaceConflict")["message"]
        assert condition(kube.json("get", "tenant", intruder), "NamespaceConflict")["status"] == "True"
        reasons = {e["reason"] for e in kube.json("get", "events", "-A", "--field-selector",
                                                  f"involvedObject.name={owner}")["items"]}
        assert "NamespaceOwnedTwice" in reasons
        # A reconcile of the service after the conflict (woken by an annotation) keeps its pods.
        ns.run("annotate", "kafkacluster", "steady", "e2e/poke=1")
        ns.apply(kafka("later", brokers=1))  # a new claim in the namespace waits for one owner
        wait_condition(ns, "kafkacluster", "later", "Admitted", "False", "TenantNotFound")
        wait_condition(ns, "kafkacluster", "steady", "Ready", "True")
        assert ns.json("get", "statefulset", "steady-broker")["spec"]["replicas"] == 3
        assert watch.max_unavailable() == 0, f"pods were removed: {watch.deleted()}"
    finally:
        watch.stop()


def test_a_forced_in_tenant_cycle_blocks_only_its_own_claims(kube: Kubectl, ns: Kubectl, tenants, operator):
    loop_ns, other = new_namespace(kube, "e2e-loop"), new_namespace(kube, "e2e-other")
    try:
        loop_a = tenants({"namespaces": [loop_ns.namespace]})
        loop_b = tenants({"parent": loop_a}, name=f"{loop_a}-b")
        loop_ns.apply(kafka("held", brokers=1))
        wait_condition(loop_ns, "kafkacluster", "held", "Ready", "True")
        with operator.suspended():  # past the webhook, which refuses the cycle
            kube.run("patch", "tenant", loop_a, "--type=merge", "-p", f'{{"spec":{{"parent":"{loop_b}"}}}}')
        loop = wait_condition(kube, "tenant", loop_a, "Invalid", "True", "ParentCycle")
        assert f"{loop_a} → {loop_b} → {loop_a}" in condition(loop, "Invalid")["message"]
        assert condition(kube.json("get", "tenant", loop_b), "Invalid")["reason"] == "ParentCycle"
        loop_ns.apply(kafka("blocked", brokers=1))
        other.apply(kafka("elsewhere", brokers=1))
        wait_condition(loop_ns, "kafkacluster", "blocked", "Admitted", "False", "InvalidTenant")
        wait_condition(other, "kafkacluster", "elsewhere", "Ready", "True")
        assert condition(loop_ns.json("get", "serviceclaim", "held"), "Admitted")["status"] == "True"
        assert loop_ns.json("get", "statefulset", "held-broker")["spec"]["replicas"] == 1
    finally:
        for k in (loop_ns, other):
            kube.run("delete", "namespace", k.namespace, "--wait=false", check=False)
