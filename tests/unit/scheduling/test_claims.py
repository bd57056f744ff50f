"""The services' half of the claim contract: grants read from a claim's status, and the pod
scheduling fields compiled from a grant."""

from __future__ import annotations

from operators.scheduling.claims import Grant, grants, pod_scheduling

TOLERATION = {"key": "type", "operator": "Equal", "value": "real", "effect": "NoSchedule"}


def admitted(pod_sets: list[dict]) -> dict:
    return {"status": {"conditions": [{"type": "Admitted", "status": "True", "reason": "Admitted",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                       "podSets": pod_sets}}


def test_a_grant_carries_the_nodes_and_the_pools_tolerations():
    claim = admitted([{"name": "broker", "count": 2, "nodes": [{"name": "b", "count": 1}, {"name": "a", "count": 1}],
                       "tolerations": [TOLERATION]},
                      {"name": "controller", "count": 1, "nodes": [{"name": "a", "count": 1}]}])
    assert grants(claim) == {"broker": Grant(2, ("a", "b"), (TOLERATION,)), "controller": Grant(1, ("a",))}


def test_pod_scheduling_tolerates_the_pools_taints_only_in_a_pool():
    selector = {"app": "x"}
    assert pod_scheduling(Grant(2, ("a", "b"), (TOLERATION,)), [], selector)["tolerations"] == [TOLERATION]
    assert "tolerations" not in pod_scheduling(Grant(2, ("a", "b")), [], selector)
