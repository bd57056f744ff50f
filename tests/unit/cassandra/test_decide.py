"""decide(): the one pass of a CassandraDatacenter, from an observation to the action it takes and why it waits."""

from __future__ import annotations

from dataclasses import replace

from operators.cassandra.api import CassandraDatacenterStatus
from operators.cassandra.gates import ClusterInfo, reason_of
from operators.cassandra.nodetool import ring_from_pods
from operators.cassandra.plans import (
    PROGRESS_REQUEUE,
    Bootstrap,
    Decommission,
    Next,
    NodeOperation,
    Observed,
    RecordReplaceAddress,
    Replace,
    Restart,
    Wait,
    decide,
    held_by_apply,
    needs_cluster_info,
    stale_views,
    update_revision,
)
from operators.cassandra.resources import (
    DECOMMISSIONED_ANNOTATION,
    DRAINED_ANNOTATION,
    SEED_LABEL,
    config_hash,
    config_map,
)
from operators.sdk.plans import NO_CONTROLS, parse_controls

from .test_plans import NOW, dc, pod, records, sts

THREE = ["dc1-r1-0", "dc1-r2-0", "dc1-r3-0"]
NINE = [f"dc1-r{r}-{i}" for i in range(3) for r in (1, 2, 3)]


def node(d, name: str, ready: bool = True, version: str | None = None, **annotations) -> dict:
    """A pod of ``d``; it runs the current config, and ``version`` (default: the spec's)."""
    rack = d.rack_of(name)[0]
    return pod(name, ready=ready, version=version or d.spec.server_version,
               hash_=config_hash(config_map(d, rack, {})), **annotations)


def claim(counts: dict[str, int]) -> dict:
    """A ServiceClaim the meta-controller admitted with ``counts`` pods per rack."""
    return {"status": {"conditions": [{"type": "Admitted", "status": "True", "reason": "Admitted", "message": ""}],
                       "podSets": [{"name": r, "count": c, "nodes": [{"name": "n", "count": c}]}
                                   for r, c in counts.items()]}}


def live(replicas: int, version: str = "4.1.9", generation: int = 1, observed: int | None = 1) -> dict:
    """A live StatefulSet whose controller observed ``observed`` of ``generation``."""
    out = sts(version=version, replicas=replicas)
    out["metadata"] = {"name": "x", "generation": generation}
    out["status"] = {} if observed is None else {"observedGeneration": observed}
    return out


def seen_of(d, pods: list[dict], nodes: list, *, replicas: dict | None = None, granted: dict | None = None,
            volumes: list | None = None, initialized: bool = True, sets: dict | None = None, **read) -> Observed:
    """An observation of ``d`` with ``pods``, the readiness ring and the node records ``nodes``."""
    if replicas is None:
        replicas = {r.name: sum(p["metadata"]["name"].startswith(f"dc1-{r.name}-") for p in pods) for r in d.racks}
    sets = sets if sets is not None else {r: live(n) for r, n in replicas.items()}
    ring = ring_from_pods(pods, "dc1", {p["metadata"]["name"]: d.rack_of(p["metadata"]["name"])[0] for p in pods})
    granted = granted if granted is not None else {r.name: 3 for r in d.racks}
    previous = CassandraDatacenterStatus(initialized=initialized, nodes=nodes, update_revision=update_revision(d))
    return Observed.of(d, sets, pods, volumes or [], ring, claim=claim(granted), previous=previous, generation=4,
                       **read)


def test_the_first_node_bootstraps_on_an_admitted_slot_and_its_replica_is_applied():
    d = dc(size=3)
    nxt = decide(seen_of(d, [], [], initialized=False), NO_CONTROLS, NOW)
    assert nxt.action == Bootstrap("dc1-r1-0", "deploy plan, phase bootstrap")
    replicas = {c["metadata"]["name"]: c["spec"]["replicas"] for c in nxt.children if c["kind"] == "StatefulSet"}
    assert replicas == {"dc1-r1": 1, "dc1-r2": 0, "dc1-r3": 0}
    assert [p["count"] for p in nxt.claim["spec"]["podSets"]] == [1, 1, 1]
    assert nxt.requeue_after == PROGRESS_REQUEUE and nxt.status.observed_generation == 4


def test_a_bootstrap_waits_for_the_meta_controller_and_for_every_node_to_be_up():
    d = dc(size=4)
    pods = [node(d, n) for n in THREE]
    nxt = decide(seen_of(d, pods, records(THREE), granted={"r1": 1, "r2": 1, "r3": 1}), NO_CONTROLS, NOW)
    assert nxt.action == Wait("dc1-r1-1", "deploy plan, phase bootstrap",
                              ("rack r1 has 1 nodes admitted by the meta-controller",))

    seen = seen_of(d, pods, records(THREE))
    seen = replace(seen, ring=seen.ring | {"dc1-r2-0": replace(seen.ring["dc1-r2-0"], state="J")})
    nxt = decide(seen, NO_CONTROLS, NOW)
    assert nxt.action == Wait("dc1-r1-1", "deploy plan, phase bootstrap", ("dc1-r2-0 is UJ, not UN",))
    replicas = [c["spec"]["replicas"] for c in nxt.children if c["kind"] == "StatefulSet"]
    assert replicas == [1, 1, 1], "a waiting bootstrap adds no replica"


def test_a_bootstrap_waits_for_a_lagging_statefulset_controller_and_a_failed_probe():
    d = dc(size=4)
    pods = [node(d, n) for n in THREE]
    sets = {"r1": live(1, generation=3, observed=2), "r2": live(1), "r3": live(1)}
    nxt = decide(seen_of(d, pods, records(THREE), sets=sets, probe_failures=("nodetool describecluster on "
                                                                           "dc1-r1-0 failed",)), NO_CONTROLS, NOW)
    assert isinstance(nxt.action, Wait) and nxt.action.blockers == (
        "nodetool describecluster on dc1-r1-0 failed",
        "StatefulSet x: the controller has not observed generation 3 yet")


def test_a_bootstrap_waits_for_schema_agreement():
    d = dc(size=4)
    info = ClusterInfo("demo", {"a": ("10.0.0.1",), "b": ("10.0.0.2",)}, {}, 0)
    nxt = decide(seen_of(d, [node(d, n) for n in THREE], records(THREE), info=info), NO_CONTROLS, NOW)
    assert nxt.action.blockers == ("nodes disagree on the schema (2 versions)",)


def test_cleanup_runs_after_a_scale_up_and_its_records_hold_once_done():
    d = dc(size=3)
    nodes = [n.model_copy(update={"cleanup": n.pod != "dc1-r3-0"}) for n in records(THREE)]
    nxt = decide(seen_of(d, [node(d, n) for n in THREE], nodes), NO_CONTROLS, NOW)
    assert isinstance(nxt.action, NodeOperation)
    assert (nxt.action.pod, nxt.action.command, nxt.action.reason) == ("dc1-r1-0", "cleanup", "CleanedUpNode")
    assert [n.cleanup for n in nxt.status_after(True).nodes] == [False, True, False]
    assert [n.cleanup for n in nxt.status_after(False).nodes] == [True, True, False], "a failed cleanup is retried"


def test_upgradesstables_after_a_major_upgrade():
    d = dc(size=3, serverVersion="5.0.5")
    pods = [node(d, n, version="5.0.5") for n in THREE]
    nodes = [n.model_copy(update={"version": "5.0.5"}) for n in records(THREE)]
    seen = seen_of(d, pods, nodes, sets={r: live(1, version="5.0.5") for r in ("r1", "r2", "r3")})
    nxt = decide(seen, NO_CONTROLS, NOW)
    assert (nxt.action.pod, nxt.action.command, nxt.action.reason) == ("dc1-r1-0", "upgradesstables",
                                                                       "UpgradedSSTables")
    assert nxt.status_after(True).nodes[0].sstables == "5.0.5"


def test_a_decommission_runs_nodetool_stamps_the_kept_volume_and_marks_the_node():
    d = dc(size=6)
    volumes = [{"metadata": {"name": f"data-{n}"}} for n in NINE]
    nxt = decide(seen_of(d, [node(d, n) for n in NINE], records(NINE), volumes=volumes), NO_CONTROLS, NOW)
    assert isinstance(nxt.action, Decommission)
    assert (nxt.action.pod, nxt.action.run, nxt.action.stamp, nxt.action.at) == (
        "dc1-r3-2", True, "data-dc1-r3-2", NOW.isoformat())
    assert [n.pod for n in nxt.status_after(True).nodes if n.decommissioned] == ["dc1-r3-2"]
    assert [p["count"] for p in nxt.claim["spec"]["podSets"]] == [3, 3, 3], "capacity is held until it left"

    deleting = decide(seen_of(dc(size=6, storage={"deleteClaim": True}), [node(d, n) for n in NINE], records(NINE),
                              volumes=volumes), NO_CONTROLS, NOW)
    assert deleting.action.stamp is None, "with deleteClaim the volume goes with the node"


def test_a_node_the_probed_ring_no_longer_lists_is_not_decommissioned_again():
    d = dc(size=6)
    seen = seen_of(d, [node(d, n) for n in NINE], records(NINE))
    seen = replace(seen, ring={p: n for p, n in seen.ring.items() if p != "dc1-r3-2"})
    nxt = decide(seen, NO_CONTROLS, NOW)
    assert isinstance(nxt.action, Decommission) and not nxt.action.run


def test_a_decommission_waits_for_a_down_target_and_for_room():
    d = dc(size=6, storage={"size": "1Gi"})
    pods = [node(d, n) for n in NINE]
    pods[-1] = node(d, "dc1-r3-2", ready=False)
    nxt = decide(seen_of(d, pods, records(NINE)), NO_CONTROLS, NOW)
    assert nxt.action == Wait("dc1-r3-2", "decommission plan, phase decommission",
                              ("dc1-r3-2 is DN: nodetool decommission runs only on a live node",))


def test_a_node_that_never_joined_goes_with_the_statefulset_without_decommission():
    d = dc(size=3)
    pods = [node(d, n) for n in THREE] + [node(d, "dc1-r1-1", ready=False)]
    nxt = decide(seen_of(d, pods, records(THREE)), NO_CONTROLS, NOW)
    assert nxt.action is None, "its removal is in flight"
    assert [c["spec"]["replicas"] for c in nxt.children if c["kind"] == "StatefulSet"] == [1, 1, 1]
    assert [(s.name, s.status) for s in nxt.status.plans[1].phases[0].steps] == [("dc1-r1-1", "Starting")]


def test_an_outdated_node_is_drained_and_restarted_once_every_other_node_is_up():
    d = dc(size=3, serverVersion="4.1.8")
    pods = [node(d, n, version="4.1.9") for n in THREE]
    nxt = decide(seen_of(d, pods, records(THREE)), NO_CONTROLS, NOW)
    assert nxt.action == Restart("dc1-r1-0", "update plan, phase r1", None, drain=True,
                                 why="to run the current version and config")

    pods[0]["metadata"]["annotations"][DRAINED_ANNOTATION] = "true"
    assert not decide(seen_of(d, pods, records(THREE)), NO_CONTROLS, NOW).action.drain, \
        "a drained node is not drained again"

    pods = [node(d, n, version="4.1.9") for n in THREE]
    pods[0] = node(d, "dc1-r1-0", ready=False, version="4.1.9")
    nxt = decide(seen_of(d, pods, records(THREE)), NO_CONTROLS, NOW)
    assert nxt.action == Restart("dc1-r1-0", "update plan, phase r1", None, drain=False,
                                 why="to run the current version and config"), "a down node is not drained"


def restart_asked_while_r2_is_down() -> Next:
    """decide() when dc1-r1-0 is asked to restart and dc1-r2-0 is DN."""
    d = dc(size=3)
    pods = [node(d, n) for n in THREE]
    pods[0]["metadata"]["annotations"]["smack.dev/restart"] = "true"
    seen = seen_of(d, pods, records(THREE))
    seen = replace(seen, ring=seen.ring | {"dc1-r2-0": replace(seen.ring["dc1-r2-0"], status="D")})
    return decide(seen, NO_CONTROLS, NOW)


def test_a_restart_waits_while_another_node_is_down():
    nxt = restart_asked_while_r2_is_down()
    assert nxt.action == Wait("dc1-r1-0", "update plan, phase r1", ("dc1-r2-0 is DN, not UN",))


def test_a_replacement_records_the_dead_address_then_replaces_pod_and_volume():
    d = dc(size=3)
    pods = [node(d, n) for n in THREE]
    pods[1]["metadata"]["annotations"]["smack.dev/replace"] = "true"
    nodes = [n.model_copy(update={"ip": "10.0.0.9"}) if n.pod == "dc1-r2-0" else n for n in records(THREE)]
    del pods[1]["status"]["podIP"]  # the dead node's pod has lost its address; its record keeps it
    nxt = decide(seen_of(d, pods, nodes), NO_CONTROLS, NOW)
    assert isinstance(nxt.action, RecordReplaceAddress) and nxt.action.address == "10.0.0.9"
    assert nxt.status_after(True).nodes[1].replace_address == "10.0.0.9"

    nodes = [n.model_copy(update={"replace_address": "10.0.0.9"}) if n.pod == "dc1-r2-0" else n for n in records(THREE)]
    nxt = decide(seen_of(d, pods, nodes), NO_CONTROLS, NOW)
    assert nxt.action == Replace("dc1-r2-0", "update plan, phase r2", None, "data-dc1-r2-0", "10.0.0.9")
    config = next(c for c in nxt.children if c["metadata"]["name"] == "dc1-r2-config")
    assert config["data"]["dc1-r2-0.replace-address"] == "10.0.0.9", "the new node finds the dead one's address"


def test_the_replace_address_falls_back_to_the_pods_own_ip():
    d = dc(size=3)
    pods = [node(d, n) for n in THREE]
    pods[1]["metadata"]["annotations"]["smack.dev/replace"] = "true"
    nxt = decide(seen_of(d, pods, records(THREE)), NO_CONTROLS, NOW)
    assert nxt.action.address == pods[1]["status"]["podIP"]


def test_a_canary_holds_the_next_rack_until_proceed():
    d = dc(size=3, rollout={"canary": 1}, serverVersion="4.1.8")
    pods = [node(d, "dc1-r1-0"), node(d, "dc1-r2-0", version="4.1.9"), node(d, "dc1-r3-0", version="4.1.9")]
    assert decide(seen_of(d, pods, records(THREE)), NO_CONTROLS, NOW).action is None
    approved = parse_controls({"smack.dev/plan-proceed": "update=1"})
    assert decide(seen_of(d, pods, records(THREE)), approved, NOW).action.pod == "dc1-r2-0"


def test_a_settled_datacenter_does_nothing_and_labels_only_what_differs():
    d = dc(size=3)
    pods = [node(d, n) for n in THREE]
    pods[0]["metadata"]["labels"] = {SEED_LABEL: "true"}
    nxt = decide(seen_of(d, pods, records(THREE)), NO_CONTROLS, NOW)
    assert nxt.action is None and nxt.requeue_after is None
    assert nxt.seed_labels == {"dc1-r2-0": "true", "dc1-r3-0": "true"}
    assert nxt.status.seeds == THREE and nxt.status_after(True) == nxt.status


def test_an_apply_that_changes_a_statefulset_holds_pod_actions_for_a_pass():
    before = {"r1": {"metadata": {"name": "dc1-r1", "generation": 2}}}
    after = {"r1": {"metadata": {"name": "dc1-r1", "generation": 3}}}
    restart = Restart("dc1-r1-0", "update plan, phase r1", None, drain=True, why="")
    assert held_by_apply(restart, before, after) == [
        "StatefulSet dc1-r1 changed in this pass; the controller has not observed it yet"]
    assert held_by_apply(restart, before, before) == []
    assert held_by_apply(Bootstrap("dc1-r1-1", ""), before, after) == [], "a bootstrap is the apply"


def test_drained_and_decommissioned_nodes_do_not_answer_for_the_ring():
    d = dc(size=3)
    pods = [node(d, "dc1-r1-0", **{DRAINED_ANNOTATION: "true"}), node(d, "dc1-r2-0")]
    previous = CassandraDatacenterStatus(nodes=records(["dc1-r3-0"], decommissioned=True))
    assert stale_views(pods, previous) == {"dc1-r1-0", "dc1-r3-0"}


def test_a_kept_volume_of_a_decommissioned_node_blocks_its_bootstrap_with_a_reason():
    d = dc(size=4)
    kept = [{"metadata": {"name": "data-dc1-r1-1", "annotations": {DECOMMISSIONED_ANNOTATION: "t"}}}]
    nxt = decide(seen_of(d, [node(d, n) for n in THREE], records(THREE), volumes=kept), NO_CONTROLS, NOW)
    assert nxt.action == Wait("dc1-r1-1", "deploy plan, phase bootstrap",
                              ("volume data-dc1-r1-1 holds a decommissioned node's data",))
    progressing = next(c for c in nxt.status.conditions if c.type == "Progressing")
    assert "volume data-dc1-r1-1 holds the data of a node that was decommissioned" in progressing.message


def test_describecluster_is_asked_only_before_acting_on_a_node():
    d = dc(size=3)
    settled = seen_of(d, [node(d, n) for n in THREE], records(THREE))
    assert not needs_cluster_info(settled, decide(settled, NO_CONTROLS, NOW)), "a settled datacenter asks nothing"

    pods = [node(d, n, version="4.1.8") for n in THREE]
    outdated = seen_of(d, pods, records(THREE))
    nxt = decide(outdated, NO_CONTROLS, NOW)
    assert isinstance(nxt.action, Restart) and needs_cluster_info(outdated, nxt), "a restart is about to run"
    info = ClusterInfo("demo", {"a": ("10.0.0.1",), "b": ("10.0.0.2",)}, {}, 0)
    asked = replace(outdated, info=info)
    again = decide(asked, NO_CONTROLS, NOW)
    assert again.action == Wait("dc1-r1-0", "update plan, phase r1", ("nodes disagree on the schema (2 versions)",))
    assert not needs_cluster_info(asked, again), "asked once per pass"
    failed = replace(outdated, probe_failures=("nodetool describecluster on dc1-r1-0 failed",))
    assert not needs_cluster_info(failed, decide(failed, NO_CONTROLS, NOW))

    pods[1] = node(d, "dc1-r2-0", ready=False, version="4.1.8")
    waiting = seen_of(d, pods, records(THREE))
    nxt = decide(waiting, NO_CONTROLS, NOW)
    assert isinstance(nxt.action, Wait) and not needs_cluster_info(waiting, nxt), "a closed gate stays closed"


def test_what_a_closed_gate_sees_is_in_the_plan_step_and_the_progressing_condition():
    nxt = restart_asked_while_r2_is_down()
    update = next(p for p in nxt.status.plans if p.name == "update")
    step = next(s for ph in update.phases for s in ph.steps if s.name == "dc1-r1-0")
    assert step.message.endswith("waiting: dc1-r2-0 is DN, not UN"), step.message
    progressing = next(c for c in nxt.status.conditions if c.type == "Progressing")
    assert "waiting: dc1-r2-0 is DN, not UN" in progressing.message, progressing.message
    assert [reason_of(b) for b in nxt.action.blockers] == ["node_not_up_normal"]


def test_a_dead_node_that_is_leaving_is_replaced_when_asked_then_decommissioned():
    d = dc(size=6)
    pods = [node(d, n) for n in NINE]
    pods[-1] = node(d, "dc1-r3-2", ready=False)
    assert isinstance(decide(seen_of(d, pods, records(NINE)), NO_CONTROLS, NOW).action, Wait), \
        "no decommission of a dead node (it needs removenode, or a replacement)"
    pods[-1]["metadata"]["annotations"]["smack.dev/replace"] = "true"
    nodes = [n.model_copy(update={"ip": "10.0.0.9"}) if n.pod == "dc1-r3-2" else n for n in records(NINE)]
    nxt = decide(seen_of(d, pods, nodes), NO_CONTROLS, NOW)
    assert isinstance(nxt.action, RecordReplaceAddress) and nxt.action.pod == "dc1-r3-2"
    nodes = [n.model_copy(update={"replace_address": "10.0.0.9"}) if n.pod == "dc1-r3-2" else n for n in nodes]
    nxt = decide(seen_of(d, pods, nodes), NO_CONTROLS, NOW)
    assert nxt.action == Replace("dc1-r3-2", "update plan, phase r3", None, "data-dc1-r3-2", "10.0.0.9")

    replaced = [node(d, n) for n in NINE]  # the replacement is up and normal: now it leaves as usual
    nxt = decide(seen_of(d, replaced, records(NINE)), NO_CONTROLS, NOW)
    assert isinstance(nxt.action, Decommission) and nxt.action.pod == "dc1-r3-2"


def test_a_node_down_because_its_kubernetes_node_is_lost_is_degraded_not_updating():
    from datetime import timedelta

    from operators.sdk.recovery import NodeFailure
    d = dc(size=3)
    pods = [node(d, n) for n in THREE]
    pods[1] = node(d, "dc1-r2-0", ready=False)
    pods[1]["spec"] = {"nodeName": "kwok-1"}
    since = NOW - timedelta(hours=2)  # longer than the rollout timeout: still no stalled update
    failures = {"kwok-1": NodeFailure("kwok-1", since)}
    nxt = decide(seen_of(d, pods, records(THREE), failures=failures), NO_CONTROLS, NOW + timedelta(hours=3))
    got = {c.type: (c.status, c.reason, c.message) for c in nxt.status.conditions}
    lost = f"dc1-r2-0 on node kwok-1 NotReady since {since.isoformat().replace('+00:00', 'Z')}"
    assert got["Degraded"] == ("True", "NodeLost", lost)
    assert got["Updating"][:2] == ("False", "Idle")
    assert got["Progressing"] == ("False", "NodeLost", f"waiting for lost nodes: {lost}")

    # The same pod down with its node Ready is a node down, not a lost node (the ring says why).
    nxt = decide(seen_of(d, pods, records(THREE)), NO_CONTROLS, NOW)
    assert {c.type: c.reason for c in nxt.status.conditions}["Degraded"] != "NodeLost"
