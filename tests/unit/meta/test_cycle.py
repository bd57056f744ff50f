"""The admission cycle on listed objects: claim lifecycle, statuses and events, no cluster."""

from __future__ import annotations

from collections import Counter

from operators.meta import cycle
from operators.meta.webhook import refusals
from operators.scheduling.api import ServiceClaimSpec, TenantSpec


def node(name: str, zone: str, cpu: str = "8") -> dict:
    return {"metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone,
                                                   "kubernetes.io/hostname": name}},
            "spec": {}, "status": {"allocatable": {"cpu": cpu, "memory": "32Gi", "pods": "110"}}}


NODES = [node(f"n{i}", f"zone-{'abc'[i % 3]}") for i in range(6)]


def claim(name: str, ns: str = "team", *, count: int = 3, cpu: str = "2", preemptible: bool = False,
          status: dict | None = None, tenant: str | None = None, unique: bool = True) -> dict:
    spec = {"podSets": [{"name": "broker", "count": count, "requests": {"cpu": cpu},
                         "constraints": [{"field": "@hostname", "operator": "UNIQUE"}] if unique else []}],
            "preemptible": preemptible}
    if tenant:
        spec["tenant"] = tenant
    return {"metadata": {"name": name, "namespace": ns, "generation": 1, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": spec, "status": status or {}}


def tenant(name: str, **spec) -> dict:
    return {"metadata": {"name": name, "generation": 1}, "spec": spec, "status": {}}


def pod(name: str, node_name: str, ns: str = "team", claim_name: str | None = None, cpu: str = "1") -> dict:
    labels = {"scheduling.smack.dev/claim": claim_name, "scheduling.smack.dev/pod-set": "broker"} if claim_name else {}
    return {"metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"nodeName": node_name, "containers": [{"resources": {"requests": {"cpu": cpu}}}]},
            "status": {"phase": "Running"}}


def run(claims, *, pods=(), tenants=(), namespaces=("team",)):
    return cycle.run(nodes=NODES, pods=list(pods), namespaces=[{"metadata": {"name": n}} for n in namespaces],
                     tenants=list(tenants), pools=[], claims=list(claims), at="t")


def conds(status) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


def admitted_status(result, key: str) -> dict:
    return result.claims[key].wire()


def test_a_pending_claim_is_admitted_with_its_nodes_and_an_event():
    result = run([claim("kafka")])
    status = result.claims["team/kafka"]
    assert conds(status) == {"QuotaReserved": ("True", "Admitted"), "Admitted": ("True", "Admitted")}
    assert status.tenant == "default"
    (pod_set,) = status.pod_sets
    assert pod_set.count == 3 and len({n.name for n in pod_set.nodes}) == 3
    assert [(e.key, e.reason) for e in result.events] == [("team/kafka", "Admitted")]


def test_an_admitted_claim_that_did_not_change_writes_nothing():
    first = run([claim("kafka")])
    again = run([claim("kafka", status=admitted_status(first, "team/kafka"))])
    assert again.claims == {} and again.events == []


def test_a_shrunk_pod_set_releases_the_pods_that_stopped():
    first = admitted_status(run([claim("kafka")]), "team/kafka")
    nodes = [n["name"] for n in first["podSets"][0]["nodes"]]
    running = [pod("kafka-broker-0", nodes[0], claim_name="kafka"), pod("kafka-broker-1", nodes[2], claim_name="kafka")]
    result = run([claim("kafka", count=2, status=first)], pods=running)
    (pod_set,) = result.claims["team/kafka"].pod_sets
    assert sorted(n.name for n in pod_set.nodes) == sorted([nodes[0], nodes[2]])
    assert conds(result.claims["team/kafka"])["Admitted"] == ("True", "Admitted")


def test_trim_keeps_running_pods_first():
    assert cycle.trim({"a": 1, "b": 1, "c": 1}, 2, Counter({"a": 1, "c": 1})) == {"a": 1, "c": 1}
    assert cycle.trim({"a": 2, "b": 1}, 1, Counter({"b": 1})) == {"b": 1}
    assert cycle.trim({"a": 2}, 2, Counter()) == {"a": 2}


def test_pods_outside_claims_use_node_capacity():
    nodes = cycle.nodes_from(NODES[:1], [pod("sys", "n0", cpu="3"), pod("mine", "n0", claim_name="x", cpu="5")])
    assert nodes[0].used == {"cpu": 3000, "pods": 1}
    assert nodes[0].allocatable["cpu"] == 8000


def test_claim_that_does_not_fit_stays_pending_with_the_reason():
    busy = [pod(f"sys-{i}", f"n{i}", ns="kube-system", cpu="7") for i in range(4)]
    result = run([claim("kafka", count=3, cpu="2")], pods=busy)
    status = result.claims["team/kafka"]
    assert conds(status)["Admitted"] == ("False", "Unschedulable")
    assert "needs 3 distinct hosts with 2 CPU free; 2 available (n4, n5)" in status.conditions[0].message
    assert status.pod_sets == []


def test_explicit_tenant_that_does_not_own_the_namespace_is_reported():
    result = run([claim("kafka", tenant="other")], tenants=[tenant("other", namespaces=["elsewhere"])])
    assert conds(result.claims["team/kafka"])["Admitted"] == ("False", "TenantNotFound")
    assert "does not own namespace team" in result.claims["team/kafka"].conditions[0].message


def test_guaranteed_claim_preempts_then_the_victim_is_evicted_once_its_pods_stop():
    batch = tenant("batch", namespaces=["batch"])
    svc = tenant("svc", namespaces=["team"], guarantee={"cpu": "12", "pods": "10"})
    victim_first = run([claim("etl", "batch", count=6, cpu="7", preemptible=True, unique=False)],
                       tenants=[batch], namespaces=["batch"])
    victim_status = admitted_status(victim_first, "batch/etl")
    victim_pods = [pod(f"etl-{i}", n["name"], ns="batch", claim_name="etl", cpu="7")
                   for i, n in enumerate(victim_status["podSets"][0]["nodes"]) for _ in range(n["count"])]

    claims = [claim("etl", "batch", count=6, cpu="7", preemptible=True, status=victim_status, unique=False),
              claim("kafka", count=3, cpu="2")]
    result = run(claims, pods=victim_pods, tenants=[batch, svc], namespaces=["batch", "team"])
    assert conds(result.claims["batch/etl"])["Preempted"] == ("True", "Preempted")
    assert "team/kafka" in result.claims["batch/etl"].conditions[-1].message
    assert conds(result.claims["team/kafka"])["Admitted"] == ("False", "Preempting")
    assert ("batch/etl", "Preempted") in [(e.key, e.reason) for e in result.events]

    # While the victim's pods run, it keeps its capacity and the preemptor waits.
    claims[0]["status"] = result.claims["batch/etl"].wire()
    claims[1]["status"] = result.claims["team/kafka"].wire()
    waiting = run(claims, pods=victim_pods, tenants=[batch, svc], namespaces=["batch", "team"])
    assert "team/kafka" not in waiting.claims and "batch/etl" not in waiting.claims

    # Its owner stopped every pod: evicted, and the guaranteed claim is admitted.
    done = run(claims, pods=[], tenants=[batch, svc], namespaces=["batch", "team"])
    assert conds(done.claims["team/kafka"])["Admitted"] == ("True", "Admitted")
    victim = conds(done.claims["batch/etl"])
    assert victim["Evicted"] == ("True", "Preempted") and victim["Preempted"] == ("False", "Evicted")
    assert victim["Admitted"][0] == "False"


def test_tenant_status_reports_usage_and_borrowing():
    result = run([claim("kafka", count=3, cpu="2")], tenants=[tenant("svc", namespaces=["team"],
                                                                      guarantee={"cpu": "4"})])
    status = result.tenants["svc"]
    assert status.usage["cpu"] == "6" and status.borrowed["cpu"] == "2" and status.admitted_claims == 1
    assert conds(status)["Borrowing"] == ("True", "AboveGuarantee")


def test_webhook_refusals_name_the_limit_and_the_impossible_placement():
    from operators.meta.allocator import Node
    nodes = [Node(f"n{i}", {"cpu": 8000, "memory": 32 << 30, "pods": 110}) for i in range(3)]
    spec = ServiceClaimSpec.model_validate({"podSets": [
        {"name": "broker", "count": 4, "requests": {"cpu": "2"},
         "constraints": [{"field": "@hostname", "operator": "UNIQUE"}]}]})
    tenants = {"team": TenantSpec.model_validate({"limit": {"cpu": "6"}, "parent": "org"}),
               "org": TenantSpec.model_validate({"limit": {"cpu": "7"}})}
    assert refusals(spec, "team", tenants, nodes, []) == [
        (None, "needs cpu 8 in all, above the limit of tenant team (cpu 6)"),
        (None, "needs cpu 8 in all, above the limit of tenant org (cpu 7)"),
        ("broker", "can never be placed, even on an empty cluster: pod set broker: needs 4 distinct hosts "
                   "with 2 CPU free; 3 available (n0, n1, n2)"),
    ]
    small = ServiceClaimSpec.model_validate({"podSets": [{"name": "broker", "count": 3, "requests": {"cpu": "2"}}]})
    assert refusals(small, "team", tenants, nodes, []) == []


def test_a_grown_pod_set_keeps_its_pods_and_places_the_extra_ones_around_them():
    first = admitted_status(run([claim("kafka")]), "team/kafka")
    held = {n["name"] for n in first["podSets"][0]["nodes"]}
    result = run([claim("kafka", count=5, status=first)])
    status = result.claims["team/kafka"]
    (pod_set,) = status.pod_sets
    nodes = {n.name: n.count for n in pod_set.nodes}
    assert pod_set.count == 5 and set(nodes.values()) == {1} and held <= set(nodes)
    assert conds(status) == {"QuotaReserved": ("True", "Admitted"), "Admitted": ("True", "Admitted")}


def test_a_growth_that_does_not_fit_waits_while_the_held_pods_stay_admitted():
    first = admitted_status(run([claim("kafka")]), "team/kafka")
    held = {n["name"] for n in first["podSets"][0]["nodes"]}
    busy = [pod(f"sys-{n}", n, ns="kube-system", cpu="7") for n in {f"n{i}" for i in range(6)} - held]
    result = run([claim("kafka", count=4, status=first)], pods=busy)
    status = result.claims["team/kafka"]
    assert conds(status) == {"QuotaReserved": ("False", "Unschedulable"), "Admitted": ("True", "Admitted")}
    assert {n.name for n in status.pod_sets[0].nodes} == held and status.pod_sets[0].count == 3


def test_growth_constraints_exclude_values_in_use():
    from operators.meta import allocator as a
    nodes = {n.name: n for n in cycle.nodes_from(NODES, [])}
    ps = a.PodSet("broker", 5, {"cpu": 1000}, constraints=(
        a.Constraint("@hostname", "UNIQUE"), a.Constraint("@zone", "MAX_PER", "2"),
        a.Constraint("type", "CLUSTER")))
    grown = cycle.growth_pod_set(ps, {"n0": 1, "n3": 1}, nodes)  # both in zone-a
    assert (grown.count, grown.min_count) == (3, 3)
    assert [str(c) for c in grown.constraints] == [
        "@hostname UNLIKE n0|n3", "@hostname UNIQUE", "@zone UNLIKE zone\\-a", "@zone MAX_PER 2", "type CLUSTER"]


def test_a_slot_on_a_lost_node_moves_once_its_pod_is_gone():
    first = admitted_status(run([claim("kafka")]), "team/kafka")
    nodes = [n["name"] for n in first["podSets"][0]["nodes"]]
    lost = nodes[1]
    global NODES
    healthy, NODES = NODES, [dict(n, status=dict(n["status"], conditions=[{"type": "Ready", "status": (
        "Unknown" if n["metadata"]["name"] == lost else "True")}])) for n in NODES]
    try:
        on_lost = [pod("kafka-broker-1", lost, claim_name="kafka")]
        assert run([claim("kafka", status=first)], pods=on_lost).claims == {}  # its pod still holds the slot
        moved = run([claim("kafka", status=first)]).claims["team/kafka"]
        placed = sorted(n.name for n in moved.pod_sets[0].nodes)
        assert lost not in placed and len(placed) == 3 and set(nodes) - {lost} <= set(placed)
        assert conds(moved)["Admitted"] == ("True", "Admitted")
    finally:
        NODES = healthy


def test_release_lost_keeps_slots_in_use_and_on_healthy_nodes():
    assert cycle.release_lost({"a": 1, "b": 2, "c": 1}, Counter({"b": 1}), {"a"}) == {"a": 1, "b": 1}


def tainted(name: str, zone: str) -> dict:
    n = node(name, zone)
    n["metadata"]["labels"]["type"] = "real"
    n["spec"]["taints"] = [{"key": "type", "value": "real", "effect": "NoSchedule"}]
    return n


REAL_POOL = {"metadata": {"name": "real"},
             "spec": {"nodeSelector": {"matchLabels": {"type": "real"}},
                      "tolerations": [{"key": "type", "value": "real", "effect": "NoSchedule"}]}}


def run_in_pool(claims, pools):
    nodes = NODES + [tainted(f"real-{z}", f"zone-{z}") for z in "abc"]
    return cycle.run(nodes=nodes, pods=[], namespaces=[{"metadata": {"name": "team"}}], tenants=[],
                     pools=pools, claims=claims, at="t")


def pooled_claim(**kwargs) -> dict:
    c = claim("kafka", **kwargs)
    c["spec"]["podSets"][0]["nodePool"] = "real"
    return c


def test_a_pod_set_in_a_tainted_pool_gets_its_nodes_and_the_pools_tolerations():
    status = run_in_pool([pooled_claim()], [REAL_POOL]).claims["team/kafka"]
    (pod_set,) = status.pod_sets
    assert sorted(n.name for n in pod_set.nodes) == ["real-a", "real-b", "real-c"]
    assert [t.wire() for t in pod_set.tolerations] == [
        {"key": "type", "operator": "Equal", "value": "real", "effect": "NoSchedule"}]
    # Outside a pool: untainted nodes and no tolerations.
    (plain,) = run_in_pool([claim("kafka")], [REAL_POOL]).claims["team/kafka"].pod_sets
    assert not {n.name for n in plain.nodes} & {"real-a", "real-b", "real-c"} and plain.tolerations is None


def test_an_admitted_pod_set_keeps_its_tolerations_when_its_pool_is_gone():
    first = run_in_pool([pooled_claim()], [REAL_POOL]).claims["team/kafka"].wire()
    again = run_in_pool([pooled_claim(status=first)], [])
    assert again.claims == {}, "nothing changes: the admission and its tolerations are sticky"
