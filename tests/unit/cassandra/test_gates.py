"""The Cassandra gates, on the rings and cluster information of recorded outputs (tests/unit/data/cassandra/)."""

from __future__ import annotations

import pytest

from operators.cassandra.gates import Blocker, decommission_blockers, reason_of, restart_blockers
from operators.cassandra.nodetool import parse_describecluster, ring_from_pods

from .recorded import GIB, PODS, read, ring


def test_restart_gate_passes_when_every_other_node_is_up_and_normal():
    info = parse_describecluster(read("describecluster-agreed.txt"))
    assert restart_blockers("dc1-r1-0", ring("status-dc1-healthy.txt"), PODS.values(), info) == []


def test_restart_gate_names_every_node_that_is_not_up_and_normal():
    blockers = restart_blockers("dc1-r1-0", ring("status-dc1-one-down.txt"), PODS.values())
    assert blockers == ["dc1-r2-0 is DN, not UN", "dc1-r3-1 is UL, not UN"]


def test_the_down_node_itself_may_be_restarted_but_not_another_one():
    down = ring("status-dc1-one-down.txt")
    assert restart_blockers("dc1-r2-0", down, PODS.values()) == ["dc1-r3-1 is UL, not UN"]


def test_restart_gate_waits_for_schema_agreement_and_for_missing_nodes():
    info = parse_describecluster(read("describecluster-schema-disagreement.txt"))
    healthy = ring("status-dc1-healthy.txt")
    assert restart_blockers(None, healthy, PODS.values(), info) == ["nodes disagree on the schema (2 versions)"]
    assert restart_blockers(None, healthy[1:], PODS.values()) == ["dc1-r1-0 is not in the ring"]


def test_decommission_needs_room_on_the_remaining_nodes():
    healthy = ring("status-dc1-healthy.txt")
    assert decommission_blockers("dc1-r3-1", healthy, 10 * GIB, PODS.values()) == []
    (blocker,) = decommission_blockers("dc1-r3-1", healthy, 5 * GIB, PODS.values())
    assert blocker.startswith("no room for dc1-r3-1's data: dc1-r1-0, dc1-r2-0") and "90% of" in blocker


def test_decommission_waits_for_every_other_node():
    assert decommission_blockers("dc1-r1-0", ring("status-dc1-one-down.txt"), 100 * GIB, PODS.values()) == [
        "dc1-r2-0 is DN, not UN", "dc1-r3-1 is UL, not UN"]


def test_decommission_waits_for_schema_agreement():
    info = parse_describecluster(read("describecluster-schema-disagreement.txt"))
    assert decommission_blockers("dc1-r3-1", ring("status-dc1-healthy.txt"), 100 * GIB, PODS.values(), info) == [
        "nodes disagree on the schema (2 versions)"]


def test_decommission_refuses_a_target_that_is_itself_down():
    # real-services Finding 5b: nodetool decommission cannot run on a down node (it needs removenode).
    assert decommission_blockers("dc1-r2-0", ring("status-dc1-one-down.txt"), 100 * GIB, PODS.values()) == [
        "dc1-r3-1 is UL, not UN", "dc1-r2-0 is DN: nodetool decommission runs only on a live node"]
    pods = [{"metadata": {"name": n}, "status": {"conditions": [{"type": "Ready", "status": str(n != "b")}]}}
            for n in ("a", "b")]
    assert decommission_blockers("b", ring_from_pods(pods, "dc1", {}), 100 * GIB, ["a", "b"]) == [
        "b is DN: nodetool decommission runs only on a live node"]


def test_every_blocker_names_its_reason_for_the_metric():
    down = ring("status-dc1-one-down.txt")
    blockers = decommission_blockers("dc1-r2-0", down, 100 * GIB, [*PODS.values(), "dc1-r9-0"])
    assert [reason_of(b) for b in blockers] == ["node_missing", "node_not_up_normal", "target_down"]
    assert reason_of("a plain sentence") == "other"
    with pytest.raises(ValueError, match="unknown gate reason 'oops'"):
        Blocker("x", "oops")
