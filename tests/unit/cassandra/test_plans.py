"""Plan derivation and status for a CassandraDatacenter, from observed objects only."""

from __future__ import annotations

from datetime import UTC, datetime

from operators.cassandra.api import CassandraDatacenterSpec, CassandraDatacenterStatus, NodeStatus
from operators.cassandra.nodetool import ring_from_pods
from operators.cassandra.plans import (
    Observed,
    bootstrap_order,
    claim_counts,
    decommission_plan,
    deploy_plan,
    derive,
    leaving_order,
    next_action,
    observe_nodes,
    rack_replicas,
    update_plan,
)
from operators.cassandra.resources import CONFIG_HASH_ANNOTATION, VERSION_ANNOTATION, Datacenter
from operators.scheduling.claims import Grant
from operators.sdk.conditions import get_condition
from operators.sdk.plans import NO_CONTROLS, parse_controls

UID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
GRANTS = {r: Grant(3, ("n",)) for r in ("r1", "r2", "r3")}


def dc(**spec) -> Datacenter:
    return Datacenter("dc1", "ns", UID, CassandraDatacenterSpec.model_validate({"clusterName": "demo", **spec}))


def sts(version: str = "4.1.9", hash_: str = "h1", replicas: int = 2) -> dict:
    return {"spec": {"replicas": replicas, "template": {"metadata": {"annotations": {
        CONFIG_HASH_ANNOTATION: hash_, VERSION_ANNOTATION: version}}}}}


def pod(name: str, ready: bool = True, version: str = "4.1.9", hash_: str = "h1", **annotations) -> dict:
    return {"metadata": {"name": name, "creationTimestamp": "2026-11-21T11:59:00Z", "annotations": {
        CONFIG_HASH_ANNOTATION: hash_, VERSION_ANNOTATION: version, **annotations}},
        "status": {"podIP": f"10.0.0.{hash(name) % 200}",
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def observed(d: Datacenter, pods: list[dict], sets: dict | None = None) -> Observed:
    sets = sets if sets is not None else {r.name: sts(replicas=sum(
        p["metadata"]["name"].startswith(f"dc1-{r.name}-") for p in pods)) for r in d.racks}
    ring = ring_from_pods(pods, "dc1", {p["metadata"]["name"]: d.rack_of(p["metadata"]["name"])[0] for p in pods})
    return Observed.of(d, sets, pods, [], ring)


def records(names, **fields) -> list[NodeStatus]:
    return [NodeStatus(pod=n, rack=n.split("-")[1], state="UN", version="4.1.9", sstables="4.1.9", **fields)
            for n in names]


SIX = ["dc1-r1-0", "dc1-r2-0", "dc1-r3-0", "dc1-r1-1", "dc1-r2-1", "dc1-r3-1"]


def steps(plan, phase):
    return [(s.name, s.status.value) for p in plan.phases if p.name == phase for s in p.steps]


def test_bootstrap_order_is_round_robin_over_the_racks():
    assert bootstrap_order(dc(size=6)) == SIX
    assert bootstrap_order(dc(size=4)) == ["dc1-r1-0", "dc1-r2-0", "dc1-r3-0", "dc1-r1-1"]


def test_first_deploy_creates_one_node_at_a_time():
    d = dc(size=6)
    seen = observed(d, [pod("dc1-r1-0"), pod("dc1-r2-0", ready=False)])
    recs = observe_nodes(d, CassandraDatacenterStatus(), seen)
    assert [r.pod for r in recs] == ["dc1-r1-0"], "a node gets a record once it is up and normal"
    plan = deploy_plan(d, seen, recs, GRANTS, NO_CONTROLS)
    assert steps(plan, "bootstrap")[:3] == [("dc1-r1-0", "Complete"), ("dc1-r2-0", "Started"), ("dc1-r3-0", "Pending")]
    assert next_action([plan]) is None, "nothing starts while a node bootstraps"

    seen = observed(d, [pod("dc1-r1-0"), pod("dc1-r2-0")])
    recs = observe_nodes(d, CassandraDatacenterStatus(nodes=recs), seen)
    plan = deploy_plan(d, seen, recs, GRANTS, NO_CONTROLS)
    assert next_action([plan]) == ("deploy", "bootstrap", "dc1-r3-0")
    assert rack_replicas(d, seen, recs, "dc1-r3-0") == {"r1": 1, "r2": 1, "r3": 1}


def test_a_node_the_meta_controller_has_not_admitted_waits():
    d = dc(size=3)
    plan = deploy_plan(d, observed(d, []), [], {"r1": Grant(1, ("n",))}, NO_CONTROLS)
    assert plan.phases[0].steps[1].message == "waiting for the meta-controller to admit rack r2's node"


def test_a_node_is_not_started_on_a_volume_kept_from_a_decommissioned_node():
    d = dc(size=4)
    three = ["dc1-r1-0", "dc1-r2-0", "dc1-r3-0"]
    pods = [pod(n) for n in three]
    ring = ring_from_pods(pods, "dc1", {n: n.split("-")[1] for n in three})
    kept = [{"metadata": {"name": "data-dc1-r1-1", "annotations": {"cassandra.smack.dev/decommissioned": "t"}}}]
    seen = Observed.of(d, {r.name: sts(replicas=1) for r in d.racks}, pods, kept, ring)
    plan = deploy_plan(d, seen, records(three), GRANTS, NO_CONTROLS)
    step = plan.phases[0].steps[3]
    assert (step.name, step.status.value) == ("dc1-r1-1", "Pending")
    assert step.message == ("volume data-dc1-r1-1 holds the data of a node that was decommissioned; "
                            "delete it to add this node")


def test_a_scale_up_marks_the_older_nodes_for_cleanup_after_the_first_deploy():
    d = dc(size=9)
    pods = [pod(n) for n in SIX] + [pod("dc1-r1-2")]
    previous = CassandraDatacenterStatus(initialized=True, nodes=records(SIX))
    recs = observe_nodes(d, previous, observed(d, pods))
    assert [r.pod for r in recs if r.cleanup] == SIX
    plan = deploy_plan(d, observed(d, pods), recs, GRANTS, NO_CONTROLS)
    assert next_action([plan]) == ("deploy", "bootstrap", "dc1-r2-2"), "bootstrap first, cleanup after"
    done = [pod(f"dc1-r{r}-{i}") for i in range(3) for r in (1, 2, 3)]
    recs = observe_nodes(d, CassandraDatacenterStatus(initialized=True, nodes=recs), observed(d, done))
    plan = deploy_plan(d, observed(d, done), recs, GRANTS, NO_CONTROLS)
    assert next_action([plan]) == ("deploy", "cleanup", "dc1-r1-0")


def test_scale_down_decommissions_from_the_rack_with_the_most_nodes_last_rack_first():
    d = dc(size=5)
    assert leaving_order(d, {"r1": 3, "r2": 3, "r3": 3}) == ["dc1-r3-2", "dc1-r2-2", "dc1-r1-2", "dc1-r3-1"]
    assert leaving_order(dc(size=6), {"r1": 2, "r2": 2, "r3": 3}) == ["dc1-r3-2"]


def test_a_decommission_step_goes_leave_then_remove_pod():
    d = dc(size=6)
    nine = [f"dc1-r{r}-{i}" for i in range(3) for r in (1, 2, 3)]
    seen = observed(d, [pod(n) for n in nine])
    recs = records(nine)
    plan = decommission_plan(d, seen, recs, NO_CONTROLS)
    assert steps(plan, "decommission")[0] == ("dc1-r3-2", "Pending")
    assert next_action([plan]) == ("decommission", "decommission", "dc1-r3-2")
    assert claim_counts(d, seen, recs) == {"r1": 3, "r2": 3, "r3": 3}, "capacity is held until the nodes left"

    left = [r.model_copy(update={"decommissioned": True}) if r.pod == "dc1-r3-2" else r for r in recs]
    assert rack_replicas(d, seen, left, None) == {"r1": 3, "r2": 3, "r3": 2}
    plan = decommission_plan(d, seen, left, NO_CONTROLS)
    assert steps(plan, "decommission")[0] == ("dc1-r3-2", "Started")
    assert next_action([plan]) is None


def test_update_goes_rack_by_rack_down_nodes_first_then_upgradesstables():
    d = dc(size=6, serverVersion="5.0.5")
    sets = {r.name: sts(version="5.0.5") for r in d.racks}
    pods = [pod(n, version="4.1.9") for n in SIX]
    pods[4] = pod("dc1-r2-1", ready=False, version="4.1.9")
    seen = observed(d, pods, sets)
    plan = update_plan(d, seen, records(SIX), NO_CONTROLS, now=NOW)
    assert [p.name for p in plan.phases] == ["r1", "r2", "r3", "upgradesstables"]
    assert [s for s, _ in steps(plan, "r2")] == ["dc1-r2-1", "dc1-r2-0"]
    assert next_action([plan]) == ("update", "r1", "dc1-r1-0")

    upgraded = [pod(n, version="5.0.5") for n in SIX]
    plan = update_plan(d, observed(d, upgraded, sets), records(SIX), NO_CONTROLS, now=NOW)
    assert next_action([plan]) == ("update", "upgradesstables", "dc1-r1-0")
    rewritten = [r.model_copy(update={"sstables": "5.0.5"}) for r in records(SIX)]
    plan = update_plan(d, observed(d, upgraded, sets), rewritten, NO_CONTROLS, now=NOW)
    assert plan.status.value == "Complete"


def test_a_canary_restarts_the_first_nodes_then_waits_for_proceed():
    d = dc(size=6, rollout={"canary": 2}, serverVersion="4.1.8")
    sets = {r.name: sts(version="4.1.8") for r in d.racks}
    pods = [pod(n, version="4.1.8" if n in ("dc1-r1-0", "dc1-r1-1") else "4.1.9") for n in SIX]
    plan = update_plan(d, observed(d, pods, sets), records(SIX), NO_CONTROLS, now=NOW)
    assert [(p.name, p.status.value) for p in plan.phases][:3] == [
        ("canary", "Complete"), ("r2", "Waiting"), ("r3", "Pending")]
    assert next_action([plan]) is None
    approved = parse_controls({"smack.dev/plan-proceed": "update=1"})
    plan = update_plan(d, observed(d, pods, sets), records(SIX), approved, now=NOW)
    assert next_action([plan]) == ("update", "r2", "dc1-r2-0")


def test_a_replace_request_is_an_update_step_and_the_replacement_clears_the_address():
    d = dc(size=3)
    pods = [pod("dc1-r1-0"), pod("dc1-r2-0", **{"smack.dev/replace": "true"}), pod("dc1-r3-0")]
    recs = records(["dc1-r1-0", "dc1-r2-0", "dc1-r3-0"])
    plan = update_plan(d, observed(d, pods), recs, NO_CONTROLS, now=NOW)
    assert next_action([plan]) == ("update", "r2", "dc1-r2-0")
    recs[1] = recs[1].model_copy(update={"replace_address": "10.0.0.9"})
    pods[1] = pod("dc1-r2-0")  # the new pod, without the annotation, up and normal
    after = observe_nodes(d, CassandraDatacenterStatus(nodes=recs), observed(d, pods))
    assert (after[1].replace_address, after[1].replaced) == (None, "10.0.0.9")


def test_status_conditions_while_scaling_down():
    d = dc(size=3)
    four = ["dc1-r1-0", "dc1-r2-0", "dc1-r3-0", "dc1-r1-1"]
    seen = observed(d, [pod(n) for n in four])
    recs = records(four)
    plans = [deploy_plan(d, seen, recs, GRANTS, NO_CONTROLS), decommission_plan(d, seen, recs, NO_CONTROLS),
             update_plan(d, seen, recs, NO_CONTROLS, now=NOW)]
    status = derive(d, 2, seen=seen, records=recs, plans=plans, previous=CassandraDatacenterStatus(initialized=True),
                    seeds=["dc1-r1-0"], target="t", at="2026-11-21T12:00:00Z")
    assert get_condition(status.conditions, "Ready").status == "False"
    assert get_condition(status.conditions, "ScalingDown").message == "leaving: dc1-r1-1"
    progressing = get_condition(status.conditions, "Progressing")
    assert (progressing.reason, progressing.observed_generation) == ("ScalingDown", 2)
    assert [p.name for p in status.plans] == ["deploy", "decommission", "update"]
