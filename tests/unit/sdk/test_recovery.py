"""The recovery of failed pods and nodes (operators.sdk.recovery), on recorded objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from operators.sdk.plans import PlanStatus, render_plan
from operators.sdk.recovery import NodeFailure, misplaced, node_failure, recover, recovery_plan

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
AFFINITY = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1", "n2", "n3"]}]}]}}}
TEMPLATE = {"spec": {"affinity": AFFINITY}}


def pod(name: str, *, node: str | None = "n1", ready: bool = True, phase: str = "Running",
        affinity: dict | None = None, deleting: bool = False) -> dict:
    meta = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = NOW.isoformat()
    spec = {"affinity": AFFINITY if affinity is None else affinity}
    if node:
        spec["nodeName"] = node
    return {"metadata": meta, "spec": spec, "status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


def run(pods, failures=None, *, deployed=None, ongoing=(), replaceable=None, timeout=600.0):
    names = {p["metadata"]["name"] for p in pods}
    return recover(pods, failures or {}, templates={n: TEMPLATE for n in names},
                   deployed=names if deployed is None else set(deployed), ongoing=set(ongoing),
                   replaceable=names if replaceable is None else set(replaceable), timeout=timeout, now=NOW)


def test_node_failure_reads_the_ready_condition():
    since = "2026-11-21T11:55:00Z"
    assert node_failure("n1", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}) is None
    lost = node_failure("n1", {"status": {"conditions": [
        {"type": "Ready", "status": "Unknown", "lastTransitionTime": since}]}})
    assert lost == NodeFailure("n1", NOW - timedelta(minutes=5))
    assert node_failure("n1", None) == NodeFailure("n1", None)


def test_healthy_and_undeployed_pods_need_nothing():
    assert run([pod("b-0"), pod("b-1", ready=False)], deployed=["b-0"]) == {}


def test_a_failed_pod_is_restarted_with_its_volume():
    r = run([pod("b-0", ready=False, phase="Failed")])["b-0"]
    assert r.action == "restart" and r.step.status == "Pending"


def test_a_pod_on_a_lost_node_waits_then_is_replaced():
    failure = {"n1": NodeFailure("n1", NOW - timedelta(seconds=100))}
    waiting = run([pod("b-0", ready=False)], failure, timeout=600)["b-0"]
    assert waiting.action is None and waiting.due_in == 500
    assert waiting.step.message \
        == "node n1 NotReady since 2026-11-21T11:58:20Z; replaced with a new volume on another node in 500s"
    due = run([pod("b-0", ready=False)], failure, timeout=60)["b-0"]
    assert due.action == "replace" and "for 100s" in due.step.message


def test_without_a_timeout_or_when_not_replaceable_the_pod_waits_for_its_node():
    failure = {"n1": NodeFailure("n1", NOW - timedelta(hours=5))}
    assert run([pod("b-0", ready=False)], failure, timeout=None)["b-0"].action is None
    kept = run([pod("c-0", ready=False)], failure, replaceable=[])["c-0"]
    assert kept.action is None and "never replaced automatically" in kept.step.message


def test_an_unscheduled_pod_with_an_old_placement_is_rescheduled():
    stale = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}
    p = pod("b-0", node=None, ready=False, affinity=stale)
    assert misplaced(p, TEMPLATE)
    assert run([p])["b-0"].action == "reschedule"
    assert not misplaced(pod("b-0", affinity=stale), TEMPLATE)  # bound pods are never moved
    assert run([pod("b-0", node=None, ready=False)], ongoing=["b-0"])["b-0"].step.status == "Started"


def test_the_recovery_plan_keeps_finished_recoveries_as_complete():
    first = recovery_plan(run([pod("b-0", ready=False, phase="Failed")]), [])
    assert first.status == "Pending" and [s.name for s in first.phases[0].steps] == ["b-0"]
    previous: list[PlanStatus] = [render_plan(first)]
    healed = recovery_plan({}, previous)
    assert healed.status == "Complete"
    assert [(s.name, s.status, s.message) for s in healed.phases[0].steps] == [("b-0", "Complete", "recovered")]
    assert recovery_plan({}, []).status == "Complete"
